/**
 * connect(): how an opening fails (refused, forbidden, too slow, aborted) and that a failure
 * leaves nothing open; how options reach ws.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { HandshakeError, TimeoutError, WsStreamError, WsStreamServer, connect, type WsStream } from '../src/index.js'
import { urlOf, waitFor, within } from './support/helpers.js'
import { resourceCounts } from './support/process.js'

/** Sockets, servers and timers alive now: what a failed connect() must not add to. */
const handles = (): Record<string, number> => Object.fromEntries(resourceCounts(/TCP|Timeout/))

/**
 * The handles alive now that were not before. A destroyed socket's handle is released by libuv a
 * loop turn later, and an earlier test's server may still be letting go of its own: so this waits
 * a little for the count to come down, and only handles added since `before` count.
 */
async function added(before: Record<string, number>): Promise<Record<string, number>> {
  const extra = () => Object.fromEntries(Object.entries(handles()).filter(([type, n]) => n > (before[type] ?? 0)))
  await waitFor(() => Object.keys(extra()).length === 0, 1000, 'handles to be released').catch(() => {})
  return extra()
}

/** A TCP server that accepts and never answers; it reports each connection and when it ends. */
async function blackHole(t: Test) {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.resume()
    socket.on('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return new Promise((resolve) => server.close(resolve))
  })
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets }
}

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const probe = net.createServer()
  probe.listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

t.test('connect() to a closed port rejects with HandshakeError without a status, the refusal as cause', async (t) => {
  const port = await closedPort()
  await new Promise((resolve) => setImmediate(resolve))
  const before = handles()
  const error = await connect(`ws://127.0.0.1:${port}`).then(() => undefined, (e: unknown) => e)
  t.type(error, HandshakeError)
  t.equal((error as HandshakeError).code, 'ERR_WS_HANDSHAKE')
  t.equal((error as HandshakeError).status, undefined)
  t.equal(((error as HandshakeError).cause as { code?: string }).code, 'ECONNREFUSED')
  t.same(await added(before), {}, 'nothing left open')
})

t.test('connect() to a server that answers 403 rejects with HandshakeError status 403', async (t) => {
  const http = createServer()
  http.on('upgrade', (_request, socket) => {
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 4\r\n\r\nnope')
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  t.teardown(() => new Promise((resolve) => http.close(resolve)))
  const error = await connect(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`).then(() => undefined, (e: unknown) => e)
  t.type(error, HandshakeError)
  t.equal((error as HandshakeError).status, 403)
  t.match((error as Error).message, /403 Forbidden/)
  await waitFor(() => http.listening && (http as unknown as { _connections: number })._connections === 0, 2000, 'the refused socket to close')
})

t.test('connect() whose timeout expires rejects with TimeoutError and closes its socket', async (t) => {
  const hole = await blackHole(t)
  const before = handles()
  const started = Date.now()
  const stackTraceLimit = Error.stackTraceLimit
  const error = await connect(hole.url, { timeout: 150 }).then(() => undefined, (e: unknown) => e)
  const elapsed = Date.now() - started
  t.type(error, TimeoutError)
  t.equal((error as TimeoutError).code, 'ERR_WS_TIMEOUT')
  t.match((error as Error).stack, /did not open within 150 ms\.\n\s+at /, 'our error has its stack (only p-timeout\'s unused one goes without)')
  t.equal(Error.stackTraceLimit, stackTraceLimit, 'connect() gave V8\'s stack trace limit back')
  t.ok(elapsed >= 140, `it waited for the timeout (${elapsed} ms)`)
  t.same(await added(before), {}, 'nothing left open on our side')
  await waitFor(() => hole.sockets.size === 0, 2000, 'the server side to see the socket close')
})

t.test('connect() with an already aborted signal rejects at once and opens nothing', async (t) => {
  const hole = await blackHole(t)
  const reason = new Error('user gave up')
  const error = await connect(hole.url, { signal: AbortSignal.abort(reason) }).then(() => undefined, (e: unknown) => e)
  t.type(error, WsStreamError)
  t.equal((error as WsStreamError).code, 'ERR_WS_ABORTED')
  t.equal((error as Error).cause, reason)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(hole.sockets.size, 0, 'no TCP connection was made')
})

t.test('aborting the signal during the opening rejects and closes the socket', async (t) => {
  const hole = await blackHole(t)
  const controller = new AbortController()
  const before = handles()
  const attempt = connect(hole.url, { signal: controller.signal, timeout: 10_000 })
  await waitFor(() => hole.sockets.size === 1, 2000, 'the TCP connection')
  controller.abort()
  const error = await attempt.then(() => undefined, (e: unknown) => e)
  t.equal((error as WsStreamError).code, 'ERR_WS_ABORTED')
  t.equal(((error as Error).cause as Error).name, 'AbortError')
  t.same(await added(before), {}, 'nothing left open, the timeout timer included')
  await waitFor(() => hole.sockets.size === 0, 2000, 'the server side to see the socket close')
})

t.test('once open, the signal and the timeout no longer matter', async (t) => {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening
  const controller = new AbortController()
  const accepted = once(server, 'connection')
  const client = await connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { signal: controller.signal, timeout: 100 })
  t.teardown(() => client.abort())
  const [stream] = (await accepted) as [WsStream]
  controller.abort()
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(client.state, 'open')
  await stream.write('still here')
  t.equal(Buffer.from((await client.read())!).toString(), 'still here')
})

t.test('headers, subprotocols and stream options reach the connection', async (t) => {
  const server = new WsStreamServer({
    port: 0,
    host: '127.0.0.1',
    handleProtocols: (offered) => (offered.has('bytes.v1') ? 'bytes.v1' : false),
  })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening
  const accepted = once(server, 'connection')
  const client = await connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    headers: { 'x-token': 'secret' },
    protocols: ['bytes.v2', 'bytes.v1'],
    stream: { text: 'bytes', readHighWaterMark: 2048 },
  })
  t.teardown(() => client.abort())
  const [stream, request] = (await accepted) as [WsStream, { headers: Record<string, string> }]
  t.equal(request.headers['x-token'], 'secret')
  t.equal(request.headers['sec-websocket-protocol'], 'bytes.v2,bytes.v1')
  t.equal(client.actor.getSnapshot().context.options.readHighWaterMark, 2048)
  t.equal(client.actor.getSnapshot().context.options.text, 'bytes')
  await stream.write('ok')
  t.equal(Buffer.from((await client.read())!).toString(), 'ok')
})

t.test('connect() checks its options before opening anything', async (t) => {
  await t.rejects(connect('ws://127.0.0.1:1', { timeout: 0 }), RangeError)
  await t.rejects(connect('ws://127.0.0.1:1', { stream: { readHighWaterMark: 0 } }), RangeError)
})

t.test('resume against a server without it: a plain stream that emits resumeUnavailable, not a failed handshake', async (t) => {
  // ws fails a handshake whose answer names no subprotocol after one was offered; a server without
  // resume names none, and the client must take that as "no resume", as it takes any other answer.
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', handler: (s) => s.readable.pipeTo(s.writable) })
  await server.listening
  t.teardown(() => server.close({ timeout: 200 }))
  const stream = await connect(urlOf(server), { resume: { timeout: 1000 } })
  t.teardown(() => stream.abort())
  await within(new Promise<void>((resolve) => stream.on('resumeUnavailable', () => resolve())), 2000, 'resumeUnavailable')
  await stream.write(new Uint8Array([1, 2, 3]))
  t.same([...(await stream.read())!], [1, 2, 3], 'the plain stream carries bytes')
  t.same(await stream.close(), { code: 1000, reason: '', wasClean: true, initiator: 'local' })
})
