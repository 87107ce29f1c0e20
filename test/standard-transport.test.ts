/**
 * Where the standard-WebSocket transport differs from ws's, and its write-backpressure design.
 * Node 20 has no global WebSocket: the client is ws's seen through the standard API only
 * (test/support/standard-stand-in.ts), or a scripted fake where the test needs to steer bufferedAmount.
 */
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import t from 'tap'
import { WebSocket } from 'ws'
import { InvalidCloseCodeError, HandshakeError, TimeoutError, WsStream, type StandardWebSocket, type WsStreamError } from '../src/index.js'
import { connect } from '../src/connect-standard.js'
import { standardTransport } from '../src/transport/standard.js'
import { rawServer, waitFor, type Teardown } from './support/helpers.js'
import { StandardOnly } from './support/standard-stand-in.js'

async function standardPair(t: Teardown) {
  const server = await rawServer(t)
  const socket = new StandardOnly(server.url)
  t.teardown(() => socket.raw.terminate())
  const stream = new WsStream(socket)
  t.teardown(() => stream.abort())
  const peerSocket = await server.accept()
  await waitFor(() => stream.state === 'open', 5000, 'open')
  return { stream, peerSocket, server }
}

t.test('close codes a standard WebSocket cannot send (1001-1014) are refused with InvalidCloseCodeError and the stream stays open', async (t) => {
  const { stream, peerSocket } = await standardPair(t)
  for (const code of [1001, 1003, 1011]) {
    const error = await stream.close(code).catch((e: unknown) => e)
    t.type(error, InvalidCloseCodeError, String(code))
    t.equal((error as WsStreamError).code, 'ERR_WS_INVALID_CLOSE_CODE')
  }
  t.equal(stream.state, 'open')
  const peerClose = once(peerSocket, 'close')
  t.match(await stream.close(3999, 'fine'), { code: 3999, wasClean: true })
  t.equal((await peerClose)[0], 3999, 'the peer saw 3999')
})

t.test('ping() rejects with ERR_WS_UNSUPPORTED and keepAlive is refused when the stream is made', async (t) => {
  const { stream } = await standardPair(t)
  await t.rejects(stream.ping(), { code: 'ERR_WS_UNSUPPORTED' })
  t.equal(stream.state, 'open', 'the stream is unharmed')
  const other = new StandardOnly(new WebSocket('ws://127.0.0.1:1'))
  other.raw.on('error', () => {})
  t.teardown(() => other.raw.terminate())
  t.throws(() => new WsStream(other, { keepAlive: { interval: 100, timeout: 100 } }), TypeError)
  await t.rejects(connect('ws://127.0.0.1:1', { WebSocket: StandardOnly, stream: { keepAlive: { interval: 1, timeout: 1 } } }), TypeError)
})

t.test('abort() closes the stream at once (1006, unclean); the peer gets a Close without a code (1005)', async (t) => {
  const { stream, peerSocket } = await standardPair(t)
  const peerClose = once(peerSocket, 'close')
  stream.abort()
  t.match(await stream.closed, { code: 1006, wasClean: false })
  t.equal((await peerClose)[0], 1005)
})

t.test('new WsStream(wsSocket) keeps the ws transport; WsStream.fromStandard(wsSocket) uses the standard one', async (t) => {
  const server = await rawServer(t)
  const a = new WebSocket(server.url)
  const b = new WebSocket(server.url)
  t.teardown(() => { a.terminate(); b.terminate() })
  await Promise.all([once(a, 'open'), once(b, 'open')])
  const overWs = new WsStream(a)
  const overStandard = WsStream.fromStandard(b)
  t.teardown(() => { overWs.abort(); overStandard.abort() })
  t.type(await overWs.ping(), 'number', 'ws: pings work')
  await t.rejects(overStandard.ping(), { code: 'ERR_WS_UNSUPPORTED' }, 'standard: no pings')
  await t.rejects(overStandard.close(1001), InvalidCloseCodeError, 'standard: browser close codes')
  t.equal(b.binaryType, 'arraybuffer')
})

t.test('the standard connect() opens a stream, and refuses a closed port with HandshakeError leaving nothing open', async (t) => {
  const server = await rawServer(t)
  const stream = await connect(server.url, { WebSocket: StandardOnly })
  t.equal(stream.state, 'open')
  t.match(await stream.close(1000), { code: 1000, wasClean: true })
  await t.rejects(connect('ws://127.0.0.1:1', { WebSocket: StandardOnly, timeout: 5000 }), HandshakeError)
  const accepted: Socket[] = []
  const never = createServer((socket) => accepted.push(socket)) // accepts TCP, never answers the upgrade
  await new Promise<void>((resolve) => never.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => {
    for (const socket of accepted) socket.destroy()
    never.close(resolve)
  }))
  const port = (never.address() as { port: number }).port
  await t.rejects(connect(`ws://127.0.0.1:${port}`, { WebSocket: StandardOnly, timeout: 100 }), TimeoutError)
  const controller = new AbortController()
  const aborted = connect(`ws://127.0.0.1:${port}`, { WebSocket: StandardOnly, signal: controller.signal })
  controller.abort()
  await t.rejects(aborted, { code: 'ERR_WS_ABORTED' })
})

/** A scripted standard socket: OPEN, with a bufferedAmount the test sets. */
class FakeSocket implements StandardWebSocket {
  readyState = 1
  bufferedAmount = 0
  binaryType = 'blob'
  sent: Uint8Array[] = []
  send(data: Uint8Array): void {
    this.sent.push(data)
    this.bufferedAmount += data.length
  }
  close(): void {}
  addEventListener(): void {}
  removeEventListener(): void {}
}

function pendingTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

t.test('a send is done only once bufferedAmount shows its bytes left, and no timer runs while nothing is in flight', async (t) => {
  const socket = new FakeSocket()
  const transport = standardTransport(socket)
  transport.attach({ open() {}, message() {}, ping() {}, pong() {}, peerClose() {}, protocolClose() {}, error() {}, closed() {} })
  t.teardown(() => transport.detach())
  t.equal(socket.binaryType, 'arraybuffer')
  const idleTimers = pendingTimeouts()
  const done: number[] = []
  transport.send(new Uint8Array(100), () => done.push(1))
  transport.send(new Uint8Array(50), () => done.push(2))
  t.equal(pendingTimeouts(), idleTimers + 1, 'one timer while sends are in flight')
  await new Promise((resolve) => setTimeout(resolve, 80))
  t.same(done, [], 'nothing done while all 150 bytes are buffered')
  socket.bufferedAmount = 50 // the first message left
  await waitFor(() => done.length === 1, 1000, 'the first done')
  t.same(done, [1])
  socket.bufferedAmount = 0
  await waitFor(() => done.length === 2, 1000, 'the second done')
  t.equal(pendingTimeouts(), idleTimers, 'no timer once nothing is in flight')
})

t.test('readable.cancel() with a code the transport refuses drops no data and leaves the stream open', async (t) => {
  const { stream, peerSocket } = await standardPair(t)
  peerSocket.send(Buffer.from('kept'))
  await waitFor(() => stream.stats.bytesRead === 4, 5000, 'data arrived')
  await t.rejects(stream.readable.cancel({ code: 1001, reason: 'going' }), InvalidCloseCodeError)
  t.equal(stream.state, 'open')
  t.equal(Buffer.from((await stream.read())!).toString(), 'kept', 'nothing was discarded')
})

