/**
 * A peer that breaks the WebSocket protocol, driven frame by frame over a raw TCP socket, against a
 * server-side WsStream: the peer gets a clear close code, the local user a typed error and an event.
 */
import t from 'tap'
import { MessageTooLargeError, ProtocolError, type WsEvent, type WsStreamOptions } from '../src/index.js'
import { bytes, serverSideStream, streamAndPeer, type Teardown } from './support/helpers.js'
import { OP, parseClose, rawTcpPeer } from './support/raw-peer.js'
import type { WebSocketServer } from 'ws'

/** A raw TCP client upgraded against a ws server whose accepted socket is wrapped in a WsStream. */
function streamWithRawPeer(
  tt: Teardown,
  settings: { serverOptions?: ConstructorParameters<typeof WebSocketServer>[0]; options?: WsStreamOptions } = {},
) {
  return serverSideStream(tt, (server) => rawTcpPeer(tt, server.port), settings)
}

t.test('a 126-byte ping gets Close 1002, an error event, and reads reject with ProtocolError after the bytes before it', async (t) => {
  const { stream, peer, events } = await streamWithRawPeer(t)
  const before = bytes(300, 7)
  peer.send(OP.binary, before)
  peer.send(OP.ping, new Uint8Array(126))

  const close = await peer.frame(OP.close)
  t.equal(parseClose(close).code, 1002, 'the peer is told 1002 (protocol error)')

  const got: Uint8Array[] = []
  let readError: unknown
  for (;;) {
    try {
      const chunk = await stream.read()
      if (chunk === null) break
      got.push(chunk)
    } catch (error) {
      readError = error
      break
    }
  }
  t.same(Buffer.concat(got), Buffer.from(before), 'the bytes sent before the violation are read first')
  t.type(readError, ProtocolError, 'then the read rejects with ProtocolError')
  t.equal((readError as ProtocolError).closeCode, 1002)
  t.equal(await stream.read(), null, 'then the stream ends')
  t.equal(await stream.read(), null, 'for good')

  const info = await stream.closed
  t.equal(info.code, 1002, 'CloseInfo names the code we sent')
  t.equal(info.wasClean, false)
  t.equal(info.initiator, 'local')
  const errors = events.filter((e): e is Extract<WsEvent, { type: 'error' }> => e.type === 'error')
  t.equal(errors.length, 1, 'one error event')
  t.type(errors[0]?.error, ProtocolError)
  t.equal((errors[0]?.error as ProtocolError).closeCode, 1002)
  t.equal(events.at(-1)?.type, 'closed', 'closed is the last event')
})

t.test('an unmasked client frame gets Close 1002 and a ProtocolError event', async (t) => {
  const { stream, peer, events } = await streamWithRawPeer(t)
  peer.send(OP.binary, bytes(10), { mask: false })
  const close = await peer.frame(OP.close)
  t.equal(parseClose(close).code, 1002)
  const info = await stream.closed
  t.equal(info.code, 1002)
  t.equal(info.wasClean, false)
  const error = events.find((e): e is Extract<WsEvent, { type: 'error' }> => e.type === 'error')?.error
  t.type(error, ProtocolError)
  t.equal((error as ProtocolError).closeCode, 1002)
  await t.rejects(stream.read(), ProtocolError, 'the cut stream is not mistaken for a clean end')
  t.equal(await stream.read(), null)
})

t.test('a binary message over maxPayload gets Close 1009 and a MessageTooLargeError event', async (t) => {
  const { stream, peer, events } = await streamWithRawPeer(t, { serverOptions: { maxPayload: 1024 } })
  const fits = bytes(1024, 3)
  peer.send(OP.binary, fits)
  peer.send(OP.binary, bytes(1025, 4))
  const close = await peer.frame(OP.close)
  t.equal(parseClose(close).code, 1009, 'the peer is told 1009 (message too big)')
  const info = await stream.closed
  t.equal(info.code, 1009)
  t.equal(info.wasClean, false)
  t.type(info.error, MessageTooLargeError)
  const errors = events.filter((e): e is Extract<WsEvent, { type: 'error' }> => e.type === 'error')
  t.equal(errors.length, 1)
  t.type(errors[0]?.error, MessageTooLargeError)
  t.same(await stream.read(), Buffer.from(fits), 'the message that fitted is still readable')
  await t.rejects(stream.read(), MessageTooLargeError)
  t.equal(await stream.read(), null)
})

t.test('a raw peer\'s ping gets its pong with the same payload and raises a ping event', async (t) => {
  const { stream, peer, events } = await streamWithRawPeer(t)
  const payload = Buffer.from('are you there?')
  peer.send(OP.ping, payload)
  const pong = await peer.frame(OP.pong)
  t.same(pong.payload, payload)
  const ping = events.find((e): e is Extract<WsEvent, { type: 'ping' | 'pong' }> => e.type === 'ping')
  t.ok(ping, 'a ping event')
  t.same(Buffer.from(ping!.data), payload)
  t.equal(stream.state, 'open', 'a ping is no reason to close')
})

t.test('a ws peer\'s ping gets its pong and raises a ping event with the payload', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { side: 'server' })
  const payload = Buffer.from([1, 2, 3, 250])
  const seen = new Promise<Uint8Array>((resolve) => stream.on('ping', (e) => resolve(e.data)))
  const pong = new Promise<Buffer>((resolve) => peer.once('pong', resolve))
  peer.ping(payload)
  t.same(await pong, payload, 'the peer gets its pong')
  t.same(Buffer.from(await seen), payload, 'we get a ping event with the payload')
  peer.close(1000)
  const closed = await stream.closed
  t.equal(closed.wasClean, true)
})

t.test('after a protocol error, writes are refused (ConnectionClosedError) rather than sent after ws\'s Close', async (t) => {
  const { stream, peer } = await streamWithRawPeer(t)
  peer.send(OP.ping, new Uint8Array(126))
  t.equal(parseClose(await peer.frame(OP.close)).code, 1002)
  t.equal(stream.state, 'closingSent', 'our Close (ws\'s 1002) is out, the peer\'s not yet')
  await t.rejects(stream.write('too late'), { name: 'ConnectionClosedError', message: /protocol error/ })
})
