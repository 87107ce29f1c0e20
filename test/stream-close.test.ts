import { once } from 'node:events'
import t from 'tap'
import { WebSocket } from 'ws'
import { ConnectionClosedError, InvalidCloseCodeError, TimeoutError, WsStream, type WsEvent } from '../src/index.js'
import { bytes, peerClosed, rawServer, readAll, streamAndPeer, streamPair, text, waitFor } from './support/helpers.js'


/** Makes a ws peer that never answers a Close frame (ws echoes through the instance's close()). */
function neverEcho(peer: WebSocket): void {
  peer.close = () => {}
}

function record(stream: WsStream): WsEvent[] {
  const events: WsEvent[] = []
  stream.on('*', (e) => events.push(e))
  return events
}

for (const side of ['client', 'server'] as const) {
  t.test(`as ${side}: a local close ends clean, initiated locally, with our code seen by the peer`, async (t) => {
    const { stream, peer } = await streamAndPeer(t, { side })
    const events = record(stream)
    const seen = peerClosed(peer)
    const info = await stream.close(4001, 'done here')
    t.same(info, { code: 4001, reason: 'done here', wasClean: true, initiator: 'local' })
    t.same(await seen, { code: 4001, reason: 'done here' })
    t.same(
      events.filter((e) => e.type === 'state').map((e) => (e as { to: string }).to),
      ['closingSent', 'closed'],
    )
    t.same(events.at(-1), { type: 'closed', info }, 'closed is the last event')
    t.equal(stream.state, 'closed')
    t.same(await stream.close(), info, 'closing again returns the same info')
  })

  t.test(`as ${side}: a remote close raises closeFrame and ends clean, initiated remotely`, async (t) => {
    const { stream, peer } = await streamAndPeer(t, { side })
    const events = record(stream)
    peer.close(4002, 'bye')
    const info = await stream.closed
    t.same(info, { code: 4002, reason: 'bye', wasClean: true, initiator: 'remote' })
    t.same(events.find((e) => e.type === 'closeFrame'), { type: 'closeFrame', code: 4002, reason: 'bye' })
    t.same(
      events.filter((e) => e.type === 'state').map((e) => (e as { to: string }).to),
      ['closingReceived', 'closed'],
    )
  })
}

t.test('a simultaneous close ends clean on both sides', async (t) => {
  const { client, server } = await streamPair(t)
  const [a, b] = await Promise.all([client.close(1000, 'a'), server.close(1001, 'b')])
  t.equal(a.wasClean, true)
  t.equal(b.wasClean, true)
  t.equal(a.initiator, 'local')
  t.equal(b.initiator, 'local')
  t.equal(a.code, 1001, 'the code of the peer\'s Close frame')
  t.equal(b.code, 1000)
})

t.test('close codes and reasons the RFC forbids are InvalidCloseCodeError and the stream stays open', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5, NaN]) {
    const error = await stream.close(code).catch((e: unknown) => e)
    t.type(error, InvalidCloseCodeError, `code ${code}`)
    t.equal((error as InvalidCloseCodeError).code, 'ERR_WS_INVALID_CLOSE_CODE')
  }
  await t.rejects(stream.close(1000, 'é'.repeat(62)), InvalidCloseCodeError, '124 UTF-8 bytes of reason')
  t.equal(stream.state, 'open')
  await stream.write('still open')
  const [message] = (await once(peer, 'message')) as [Buffer]
  t.equal(message.toString(), 'still open')
  for (const code of [1000, 1003, 1007, 1014, 3000, 4999]) t.ok((await import('../src/index.js')).isSendableCloseCode(code))
  const info = await stream.close(1000, 'x'.repeat(123))
  t.equal(info.reason.length, 123, 'a 123-byte reason is allowed')
})

t.test('a peer that never answers our Close: closed within closeTimeout, unclean', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { closeTimeout: 200 } })
  neverEcho(peer)
  const started = Date.now()
  const info = await stream.close()
  t.ok(Date.now() - started >= 150, 'it waited for the timeout')
  t.equal(info.wasClean, false)
  t.equal(info.code, 1006)
  t.equal(info.initiator, 'local')
  t.type(info.error, TimeoutError)
  t.equal(info.error?.code, 'ERR_WS_TIMEOUT')
})

t.test('close(code, reason, { timeout }) overrides closeTimeout for that close', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { closeTimeout: 60_000 } })
  neverEcho(peer)
  const info = await stream.close(1000, '', { timeout: 50 })
  t.equal(info.wasClean, false)
  t.type(info.error, TimeoutError)
  await t.rejects(stream.close(1000, '', { timeout: -1 }), RangeError)
})

t.test('accepted writes go out before our Close frame', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const data = bytes(5 * 1024 * 1024)
  const received: Buffer[] = []
  peer.on('message', (m: Buffer) => received.push(m))
  const writes = []
  for (let i = 0; i < data.length; i += 50_000) writes.push(stream.write(data.subarray(i, i + 50_000)))
  const info = await stream.close()
  await Promise.all(writes)
  t.equal(info.wasClean, true)
  t.equal(Buffer.compare(Buffer.concat(received), data), 0, 'every byte arrived before the Close')
})

t.test('writes accepted before the peer\'s Close go out before the echoed Close', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { writeHighWaterMark: 1 << 30 } })
  const received: Buffer[] = []
  peer.on('message', (m: Buffer) => received.push(m))
  // The peer stops reading: the first send stays in flight and later writes wait in our queue.
  peer.pause()
  const data = bytes(8 * 1024 * 1024)
  const writes = []
  for (let i = 0; i < data.length; i += 512 * 1024) writes.push(stream.write(data.subarray(i, i + 512 * 1024)))
  peer.close(1000, 'enough')
  peer.resume()
  const info = await stream.closed
  t.equal(info.initiator, 'remote')
  await Promise.all(writes)
  await once(peer, 'close')
  t.equal(Buffer.compare(Buffer.concat(received), data), 0, 'the peer got every accepted byte before our echo')
})

t.test('after our Close, data the peer sends before its echo is still delivered', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const echo = peer.close.bind(peer)
  peer.close = (code?: number, reason?: string | Buffer) => {
    peer.send(Buffer.from('last words'))
    echo(code, reason)
  }
  const closing = stream.close()
  t.equal(text(await stream.read()), 'last words')
  t.equal(await stream.read(), null)
  t.equal((await closing).wasClean, true)
})

t.test('close under full read backpressure resolves at closeTimeout, unclean, and the data stays readable', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { readHighWaterMark: 16 * 1024, closeTimeout: 300 } })
  const data = bytes(4 * 1024 * 1024)
  for (let i = 0; i < data.length; i += 64 * 1024) peer.send(data.subarray(i, i + 64 * 1024))
  await waitFor(() => stream.stats.bytesRead >= 16 * 1024)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(stream.stats.bytesRead < data.length, 'the socket is paused before all data arrived')
  const info = await stream.close()
  t.equal(info.wasClean, false)
  t.type(info.error, TimeoutError)
  const rest = await readAll(stream)
  t.ok(rest.length >= 16 * 1024, `${rest.length} buffered bytes still readable`)
  t.equal(Buffer.compare(rest, data.subarray(0, rest.length)), 0, 'a prefix, in order')
})

t.test('abort drops the connection at once (1006) and settles everything pending', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { writeHighWaterMark: 0 } })
  peer.pause()
  const events = record(stream)
  const read = stream.read()
  const ping = stream.ping()
  const write = stream.write(bytes(8 * 1024 * 1024))
  const flush = stream.flush()
  stream.abort(new Error('user gave up'))
  const info = await stream.closed
  t.equal(info.code, 1006)
  t.equal(info.wasClean, false)
  t.equal(info.initiator, 'none')
  t.equal(info.error?.code, 'ERR_WS_ABORTED')
  t.equal(await read, null, 'a pending read ends')
  await t.rejects(ping, ConnectionClosedError)
  await t.rejects(write, ConnectionClosedError)
  await t.rejects(flush, ConnectionClosedError)
  t.equal(events.at(-1)?.type, 'closed')
  peer.resume()
  const seen = await peerClosed(peer)
  t.equal(seen.code, 1006, 'the peer sees the TCP connection drop')
})

t.test('close while connecting ends without a handshake', async (t) => {
  const server = await rawServer(t)
  const socket = new WebSocket(server.url)
  t.teardown(() => socket.terminate())
  const stream = new WsStream(socket)
  const info = await stream.close()
  t.equal(info.code, 1006)
  t.equal(info.wasClean, false)
  t.equal(stream.state, 'closed')
})

t.test('the peer\'s unread data is readable after a remote close', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.from('a'))
  peer.send(Buffer.from('b'))
  peer.close()
  await stream.closed
  t.equal(text(Buffer.from(await readAll(stream))), 'ab')
})

t.test('a peer Close without a status code is reported as 1005', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.close()
  const info = await stream.closed
  t.equal(info.code, 1005)
  t.equal(info.wasClean, true)
})

t.test('stopping the actor from outside terminates the socket and settles what is pending', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const read = stream.read().catch((e: unknown) => e)
  const seen = peerClosed(peer)
  ;(stream.actor as { stop(): void }).stop()
  t.equal((await seen).code, 1006, 'the peer sees the connection drop')
  t.match(await read, { code: 'ERR_WS_CONNECTION_RESET' }, 'a pending read rejects')
  await t.rejects(stream.write('x'), ConnectionClosedError)
  const info = await stream.closed
  t.equal(info.wasClean, false)
})

t.test('inspectors see sizes, not the socket: the context serialises small', async (t) => {
  const { stream } = await streamAndPeer(t)
  const json = JSON.stringify(stream.actor.getSnapshot().context)
  t.ok(json.length < 2000, `context JSON is ${json.length} characters`)
  t.match(json, /"readBuffered":0/)
  t.notMatch(json, /_socket|_receiver/)
})
