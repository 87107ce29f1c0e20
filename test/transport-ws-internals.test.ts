/**
 * What we rely on inside ws. ws has no public "Close frame received" event: the transport wraps the
 * instance's close() and reads `_closeFrameReceived`/`_closeFrameSent`. If a ws upgrade changes
 * that, these tests fail loudly instead of the library silently losing close codes.
 */
import { once } from 'node:events'
import { createRequire } from 'node:module'
import net from 'node:net'
import t from 'tap'
import { WebSocket } from 'ws'
import { WsStream, WsStreamError, type WsEvent } from '../src/index.js'
import { rawServer, streamAndPeer } from './support/helpers.js'

const wsVersion = (createRequire(import.meta.url)('ws/package.json') as { version: string }).version

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}

function transitions(events: WsEvent[]): string[] {
  return events
    .filter((e): e is Extract<WsEvent, { type: 'state' }> => e.type === 'state')
    .map((e) => `${e.from}->${e.to}`)
}

for (const side of ['client', 'server'] as const) {
  t.test(`a peer-initiated close is a closeFrame event with the peer's code and reason before closed (stream as ${side})`, async (t) => {
    const { stream, peer } = await streamAndPeer(t, { side })
    const events: WsEvent[] = []
    stream.on('*', (event) => events.push(event))
    peer.close(4321, 'peer is done')
    const info = await stream.closed

    const frameAt = events.findIndex((e) => e.type === 'closeFrame')
    const closedAt = events.findIndex((e) => e.type === 'closed')
    t.ok(frameAt !== -1, 'a closeFrame event')
    t.same(events[frameAt], { type: 'closeFrame', code: 4321, reason: 'peer is done' })
    t.ok(frameAt < closedAt, 'closeFrame comes before closed')
    t.equal(closedAt, events.length - 1, 'closed is the last event')
    t.same(transitions(events), ['open->closingReceived', 'closingReceived->closed'])
    t.same({ code: info.code, reason: info.reason, wasClean: info.wasClean, initiator: info.initiator },
      { code: 4321, reason: 'peer is done', wasClean: true, initiator: 'remote' })
    t.notOk(info.error, 'no error for a clean close')
  })
}

t.test('our close is echoed: closeFrame carries the code we sent, and the state goes open -> closingSent -> closed', async (t) => {
  const { stream } = await streamAndPeer(t)
  const events: WsEvent[] = []
  stream.on('*', (event) => events.push(event))
  const info = await stream.close(4000, 'bye')
  t.same(events.find((e) => e.type === 'closeFrame'), { type: 'closeFrame', code: 4000, reason: 'bye' })
  t.same(transitions(events), ['open->closingSent', 'closingSent->closed'])
  t.same({ code: info.code, reason: info.reason, wasClean: info.wasClean, initiator: info.initiator },
    { code: 4000, reason: 'bye', wasClean: true, initiator: 'local' })
})

t.test(`ws ${wsVersion} still keeps _closeFrameReceived and _closeFrameSent as booleans on a fresh WebSocket`, async (t) => {
  const server = await rawServer(t)
  const accepted = server.accept()
  const client = new WebSocket(server.url)
  t.teardown(() => client.terminate())
  const c = client as unknown as Record<string, unknown>
  t.equal(typeof c._closeFrameReceived, 'boolean', 'client, CONNECTING: _closeFrameReceived')
  t.equal(typeof c._closeFrameSent, 'boolean', 'client, CONNECTING: _closeFrameSent')
  await once(client, 'open')
  const s = (await accepted) as unknown as Record<string, unknown>
  t.equal(typeof s._closeFrameReceived, 'boolean', 'server side: _closeFrameReceived')
  t.equal(typeof s._closeFrameSent, 'boolean', 'server side: _closeFrameSent')
  t.equal(c._closeFrameReceived, false)
  // And they mean what we think: after a close handshake both are true.
  const closed = once(client, 'close')
  client.close(1000)
  await closed
  t.equal(c._closeFrameSent, true, '_closeFrameSent is set once our Close went out')
  t.equal(c._closeFrameReceived, true, '_closeFrameReceived is set once the peer\'s Close arrived')
})

t.test('ws still echoes a peer\'s Close by calling the instance\'s own close(code, reason)', async (t) => {
  const server = await rawServer(t)
  const accepted = server.accept()
  const client = new WebSocket(server.url)
  t.teardown(() => client.terminate())
  await once(client, 'open')
  const serverSide = await accepted
  const calls: Array<{ code: unknown; reason: string; frameReceived: unknown }> = []
  const original = serverSide.close
  serverSide.close = function (this: WebSocket, code?: number, reason?: string | Buffer) {
    calls.push({ code, reason: String(reason ?? ''), frameReceived: (this as unknown as Record<string, unknown>)._closeFrameReceived })
    return original.call(this, code, reason)
  }
  client.close(4444, 'echo me')
  await once(serverSide, 'close')
  t.same(calls, [{ code: 4444, reason: 'echo me', frameReceived: true }],
    'one call, with the peer\'s code and reason, _closeFrameReceived already true')
})

t.test('a WsStream over a socket that lacks the ws fields throws ERR_WS_UNSUPPORTED_SOCKET naming the ws version', async (t) => {
  const server = await rawServer(t)
  const client = new WebSocket(server.url)
  t.teardown(() => client.terminate())
  await once(client, 'open')
  // What a ws release that renamed the fields would look like.
  Reflect.deleteProperty(client, '_closeFrameReceived')
  const error = thrown(() => new WsStream(client))
  t.type(error, WsStreamError)
  t.equal((error as WsStreamError).code, 'ERR_WS_UNSUPPORTED_SOCKET')
  t.match((error as Error).message, `ws ${wsVersion}`, 'the message names the installed ws version')
  const other = new WebSocket(server.url)
  t.teardown(() => other.terminate())
  await once(other, 'open')
  Reflect.deleteProperty(other, '_closeFrameSent')
  t.throws(() => new WsStream(other), { code: 'ERR_WS_UNSUPPORTED_SOCKET' }, 'either field missing is enough')
})

t.test('a WsStream over a closed socket throws ERR_WS_SOCKET_CLOSED', async (t) => {
  const server = await rawServer(t)
  const client = new WebSocket(server.url)
  await once(client, 'open')
  const closed = once(client, 'close')
  client.close()
  t.equal(client.readyState, WebSocket.CLOSING)
  t.throws(() => new WsStream(client), { code: 'ERR_WS_SOCKET_CLOSED' }, 'CLOSING')
  await closed
  const error = thrown(() => new WsStream(client))
  t.type(error, WsStreamError, 'CLOSED')
  t.equal((error as WsStreamError).code, 'ERR_WS_SOCKET_CLOSED')
})

t.test('a WsStream over something that is not a ws socket throws TypeError', async (t) => {
  for (const [name, value] of [
    ['undefined', undefined],
    ['null', null],
    ['a plain object', {}],
    ['a string', 'ws://127.0.0.1:1'],
    ['a net.Socket', new net.Socket()],
  ] as const) {
    t.throws(() => new WsStream(value as unknown as WebSocket), TypeError, name)
  }
})

for (const side of ['client', 'server'] as const) {
  t.test(`writes made in one turn leave in one batch through ws's _socket (stream as ${side})`, async (t) => {
    const { stream, peer } = await streamAndPeer(t, { side })
    const socket = (stream.actor.getSnapshot().context.io.socket as { _socket?: net.Socket })._socket
    t.ok(socket instanceof net.Socket, `ws ${wsVersion} keeps its TCP socket in _socket (batching relies on it)`)
    let syscallWrites = 0
    const { _write, _writev } = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void }
    ;(socket as unknown as { _write: unknown })._write = function (this: unknown, ...args: unknown[]) {
      syscallWrites++
      return _write.apply(this, args)
    }
    ;(socket as unknown as { _writev: unknown })._writev = function (this: unknown, ...args: unknown[]) {
      syscallWrites++
      return _writev.apply(this, args)
    }
    const received: Buffer[] = []
    peer.on('message', (data: Buffer) => received.push(data))
    const chunk = new Uint8Array(20_000).fill(7)
    // 20 KB writes skip coalescing: without the batch each would be its own system call.
    await Promise.all(Array.from({ length: 8 }, () => stream.write(chunk)))
    await stream.flush()
    t.equal(syscallWrites, 1, 'eight messages, one write to the socket')
    while (received.length < 8) await once(peer, 'message')
    t.same(received.map((m) => m.length), Array(8).fill(20_000), 'and each arrived as its own message')
  })
}
