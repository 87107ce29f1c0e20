/**
 * WsStreamServer's modes (port, server, noServer), its limits and safe defaults, and how it
 * hands connections over (event, async iteration, `connections`).
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { HandshakeError, WsStreamServer, connect, defaultServerKeepAlive, type WsStream } from '../src/index.js'
import { bytes, peerClosed, rawClient, readAll, urlOf, waitFor } from './support/helpers.js'


async function listening(t: Test, options: ConstructorParameters<typeof WsStreamServer>[0] = {}) {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', ...options })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening
  return server
}

t.test('over maxConnections the upgrade is refused with 503, seen by connect() as HandshakeError status 503', async (t) => {
  const server = await listening(t, { maxConnections: 2 })
  const a = await connect(urlOf(server))
  const b = await connect(urlOf(server))
  t.teardown(() => { a.abort(); b.abort() })
  const refused = await connect(urlOf(server)).then(() => undefined, (error: unknown) => error)
  t.type(refused, HandshakeError)
  t.equal((refused as HandshakeError).status, 503)
  t.equal((refused as HandshakeError).code, 'ERR_WS_HANDSHAKE')
  t.equal(server.connections.size, 2, 'the refused client never became a connection')
  t.equal(server.actor.getSnapshot().context.accepted, 2)

  await a.close()
  await waitFor(() => server.connections.size === 1)
  const c = await connect(urlOf(server))
  t.teardown(() => c.abort())
  t.pass('a freed slot is usable again')
})

t.test('connections arrive by event with the upgrade request, and by async iteration', async (t) => {
  const server = await listening(t)
  const seen: Array<{ stream: WsStream; url: string | undefined }> = []
  server.on('connection', (stream, request) => seen.push({ stream, url: request.url }))
  const iterated: WsStream[] = []
  const loop = (async () => {
    for await (const stream of server) iterated.push(stream)
  })()
  const client = await connect(`${urlOf(server)}/chat?room=1`)
  t.teardown(() => client.abort())
  await waitFor(() => iterated.length === 1)
  t.equal(seen.length, 1)
  t.equal(seen[0]!.url, '/chat?room=1')
  t.equal(iterated[0], seen[0]!.stream)
  t.ok(server.connections.has(iterated[0]!))
  await server.close()
  await loop
  t.pass('iteration ends when the server closes')
})

t.test('each connection is a child of the server actor and a full stream', async (t) => {
  const server = await listening(t)
  const acceptedStream = once(server, 'connection')
  const client = await connect(urlOf(server))
  t.teardown(() => client.abort())
  const [stream] = (await acceptedStream) as [WsStream]
  const { connections } = server.actor.getSnapshot().context
  t.equal(stream.actor, connections[stream.actor.id], 'the stream wraps the connection child')
  t.equal((stream.actor as unknown as { _parent: unknown })._parent, server.actor, 'whose parent is the server actor')
  await client.write(bytes(100_000))
  const got = await stream.readExactly(100_000)
  t.same(Buffer.from(got), Buffer.from(bytes(100_000)))
  const echoed = readAll(client)
  await stream.write('pong')
  await stream.close()
  t.equal((await echoed).toString(), 'pong')
  await waitFor(() => server.connections.size === 0)
  t.same(Object.keys(server.actor.getSnapshot().context.connections), [], 'a closed connection leaves the registry')
})

t.test('server connections keep alive by default, and stream options apply to each', async (t) => {
  const server = await listening(t, { stream: { text: 'bytes', readHighWaterMark: 4096 } })
  const acceptedStream = once(server, 'connection')
  const client = await connect(urlOf(server))
  t.teardown(() => client.abort())
  const [stream] = (await acceptedStream) as [WsStream]
  const { options } = stream.actor.getSnapshot().context
  t.same(options.keepAlive, defaultServerKeepAlive)
  t.equal(options.readHighWaterMark, 4096)
  t.equal(options.text, 'bytes')

  const quiet = await listening(t, { stream: { keepAlive: false } })
  const acceptedQuietstream = once(quiet, 'connection')
  const other = await connect(urlOf(quiet))
  t.teardown(() => other.abort())
  const [quietStream] = (await acceptedQuietstream) as [WsStream]
  t.equal(quietStream.actor.getSnapshot().context.options.keepAlive, false, 'keepAlive: false turns it off')
})

t.test('bad stream options are rejected when the server is made', async (t) => {
  t.throws(() => new WsStreamServer({ noServer: true, stream: { readHighWaterMark: -1 } }), RangeError)
  t.throws(() => new WsStreamServer({ noServer: true, maxConnections: -1 }), RangeError)
  t.throws(() => new WsStreamServer({ port: 0, noServer: true }), TypeError)
})

t.test('a message over the default 1 MiB maxPayload closes the connection with 1009', async (t) => {
  const server = await listening(t)
  const acceptedStream = once(server, 'connection')
  const client = await rawClient(t, urlOf(server))
  const [stream] = (await acceptedStream) as [WsStream]
  const closed = peerClosed(client)
  client.send(Buffer.alloc(1024 * 1024 + 1))
  t.equal((await closed).code, 1009)
  t.equal((await stream.closed).code, 1009)
})

t.test('compression is off unless asked for', async (t) => {
  const plain = await listening(t)
  const offering = await rawClient(t, urlOf(plain), { perMessageDeflate: true })
  t.equal(offering.extensions, '', 'the offer was declined')
  const deflating = await listening(t, { perMessageDeflate: true })
  const accepted = await rawClient(t, urlOf(deflating), { perMessageDeflate: true })
  t.match(accepted.extensions, /permessage-deflate/)
})

t.test('verifyClient is passed through, sync and async', async (t) => {
  const sync = await listening(t, { verifyClient: ({ req }: { req: { url?: string } }) => req.url !== '/no' })
  await t.rejects(connect(`${urlOf(sync)}/no`), { code: 'ERR_WS_HANDSHAKE', status: 401 })
  const ok = await connect(`${urlOf(sync)}/yes`)
  ok.abort()

  const async = await listening(t, {
    verifyClient: (info: { origin: string }, done: (ok: boolean, code?: number) => void) => {
      setTimeout(() => done(info.origin === 'https://friend.example', 403), 5)
    },
  })
  await t.rejects(connect(urlOf(async), { origin: 'https://stranger.example' }), { code: 'ERR_WS_HANDSHAKE', status: 403 })
  const friend = await connect(urlOf(async), { origin: 'https://friend.example' })
  friend.abort()
})

t.test('an asynchronous verifyClient that never answers is cut at handshakeTimeout with 408', async (t) => {
  const server = await listening(t, { handshakeTimeout: 200, verifyClient: (_info: unknown, _done: unknown) => {} })
  await t.rejects(connect(urlOf(server)), { code: 'ERR_WS_HANDSHAKE', status: 408 })
})

t.test('a client that never sends its upgrade headers is disconnected at handshakeTimeout', async (t) => {
  const net = await import('node:net')
  const server = await listening(t, { handshakeTimeout: 200 })
  const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n') // and nothing more
  await once(socket, 'close')
  t.match(answer, /^HTTP\/1\.1 408 /, 'the server answered 408 and hung up')
})

t.test('{ server } shares an existing HTTP server; its other requests still work', async (t) => {
  const http = createServer((_req, res) => res.end('plain http'))
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  t.teardown(() => new Promise((resolve) => http.close(resolve)))
  const server = new WsStreamServer({ server: http })
  await server.listening
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`
  t.same(server.address(), http.address())

  const acceptedStream = once(server, 'connection')
  const client = await connect(url)
  const [stream] = (await acceptedStream) as [WsStream]
  await client.write('hi')
  t.equal(Buffer.from((await stream.read())!).toString(), 'hi')
  const res = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`)
  t.equal(await res.text(), 'plain http')

  t.same(await server.close(), { closedCleanly: 1, terminated: 0 })
  t.equal((await client.closed).code, 1001)
  t.equal(http.listening, true, 'the shared HTTP server is left to its owner')
})

t.test('{ noServer } with handleUpgrade, routed by the caller', async (t) => {
  const server = new WsStreamServer({ noServer: true, maxConnections: 1 })
  await server.listening
  t.throws(() => server.address(), /noServer/)
  const http = createServer()
  http.on('upgrade', (request, socket, head) => {
    if (request.url === '/ws') server.handleUpgrade(request, socket, head)
    else socket.destroy()
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  t.teardown(() => new Promise((resolve) => { http.closeAllConnections(); http.close(resolve) }))
  const base = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`

  const acceptedStream = once(server, 'connection')
  const client = await connect(`${base}/ws`)
  const [stream] = (await acceptedStream) as [WsStream]
  await stream.write('from the server')
  t.equal(Buffer.from((await client.read())!).toString(), 'from the server')
  await t.rejects(connect(`${base}/ws`), { code: 'ERR_WS_HANDSHAKE', status: 503 }, 'maxConnections applies in noServer mode too')
  await t.rejects(connect(`${base}/elsewhere`), { code: 'ERR_WS_HANDSHAKE' })
  t.same(await server.close(), { closedCleanly: 1, terminated: 0 })
})

t.test('listening rejects when the port is taken', async (t) => {
  const first = await listening(t)
  const port = (first.address() as AddressInfo).port
  const second = new WsStreamServer({ port, host: '127.0.0.1' })
  await t.rejects(second.listening, { code: 'EADDRINUSE' })
  await second.close()
})

t.test('a raw ws client can talk to a server stream', async (t) => {
  const server = await listening(t)
  const client = new WebSocket(urlOf(server))
  t.teardown(() => client.terminate())
  const [stream] = (await once(server, 'connection')) as [WsStream]
  await once(client, 'open')
  client.send(Buffer.from('abc'))
  t.equal(Buffer.from((await stream.read())!).toString(), 'abc')
})
