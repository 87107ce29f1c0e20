/**
 * The admin dashboard's server side (src/dashboard.ts): the drain button's token, the bounded buffer
 * of a viewer that falls behind, `/events` under 1,000 connections opening and closing with a slow
 * viewer attached, and the CLI's --admin-token. The page itself: test/dashboard-chromium.test.ts.
 */
import { EventEmitter } from 'node:events'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import t from 'tap'
import { parseCommand } from '../src/cli/args.js'
import { adminHandler, connect, createDashboard, WsStreamServer, type WsStream } from '../src/index.js'
import { get } from './support/admin.js'
import { urlOf, waitFor, type Teardown } from './support/helpers.js'

/** A WsStreamServer that echoes, with its dashboard on an admin address of its own. */
async function served(t: Teardown, options: Parameters<typeof createDashboard>[1] = {}) {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  await server.listening
  const dashboard = createDashboard(server, options)
  const admin = createServer(adminHandler(server, { routes: dashboard.routes }))
  await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    dashboard.close()
    admin.closeAllConnections()
    await new Promise((resolve) => admin.close(resolve))
    await server.close({ timeout: 0 })
  })
  return { server, dashboard, base: `http://127.0.0.1:${(admin.address() as AddressInfo).port}` }
}

/** POSTs to `url` with `headers`; resolves with the status. */
function post(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('POST /drain is refused without the token (401) and with a wrong one (403), and drains with it: clients get 1001', async (t) => {
  const { server, base } = await served(t, { token: 's3cret' })
  const client = await connect(urlOf(server))
  t.teardown(() => client.abort())
  t.equal(await post(`${base}/drain`), 401, 'no Authorization header')
  t.equal(await post(`${base}/drain`, { Authorization: 'Basic s3cret' }), 401, 'not a bearer token')
  t.equal(await post(`${base}/drain`, { Authorization: 'Bearer wrong' }), 403, 'a wrong token')
  t.equal(await post(`${base}/drain`, { Authorization: 'Bearer s3cret-and-more' }), 403, 'a longer token')
  t.equal(server.actor.getSnapshot().value, 'listening', 'still listening')
  t.equal(await post(`${base}/drain`, { Authorization: 'Bearer s3cret' }), 202)
  t.equal((await client.closed).code, 1001, 'the client is closed with 1001 Going Away')
  await waitFor(() => server.actor.getSnapshot().status === 'done', 5000, 'the server stops')
})

t.test('without a token the page is read-only: there is no POST /drain', async (t) => {
  const { base } = await served(t)
  t.equal(await post(`${base}/drain`, { Authorization: 'Bearer anything' }), 404)
  const page = await get(`${base}/`)
  t.equal(page.status, 200)
  t.match(page.type, /text\/html/)
  t.match(page.body, /<script src="\/assets\/mermaid\.js"><\/script>/)
  t.notMatch(page.body, /https?:\/\//, 'the page names no other host')
  const script = await get(`${base}/assets/dashboard.js`)
  t.match(script.body, /read-only/)
  const mermaidJs = await get(`${base}/assets/mermaid.js`)
  t.equal(mermaidJs.status, 200)
  t.ok(mermaidJs.body.length > 1_000_000, 'Mermaid\'s build is served from the package')
})

t.test('GET /connection gives one connection\'s events and its machine with the current state highlighted', async (t) => {
  const { server, base } = await served(t)
  const client = await connect(urlOf(server))
  t.teardown(() => client.abort())
  await waitFor(() => server.connections.size === 1)
  const id = [...server.connections][0]!.actor.id
  const detail = JSON.parse((await get(`${base}/connection?id=${id}`)).body) as { state: string; diagram: string; events: { text: string }[] }
  t.equal(detail.state, 'open')
  t.match(detail.diagram, /stateDiagram-v2/)
  t.match(detail.diagram, /class open current$/)
  t.match(detail.events[0]!.text, /accepted from 127\.0\.0\.1:\d+ \(open\)/)
  t.equal((await get(`${base}/connection?id=nope`)).status, 404)
  await client.close()
  await waitFor(() => server.connections.size === 0)
  const after = JSON.parse((await get(`${base}/connection?id=${id}`)).body) as { state: string; events: { type: string }[] }
  t.equal(after.state, 'closed', 'a closed connection is remembered for the detail view')
  t.ok(after.events.some((e) => e.type === 'closeFrame'), 'its Close frame is among its events')
  t.ok(after.events.some((e) => e.type === 'closed'))
})

/** A stand-in response whose socket never drains: everything written stays buffered. */
function stuckViewer() {
  const response = Object.assign(new EventEmitter(), {
    writableLength: 0,
    writes: [] as string[],
    writeHead() { return response },
    write(chunk: string) { response.writableLength += Buffer.byteLength(chunk); response.writes.push(chunk); return false },
    end() {},
  })
  const request = Object.assign(new EventEmitter(), { socket: new EventEmitter(), url: '/events' })
  return { request, response }
}

t.test('a viewer that falls behind its buffer has its messages dropped and counted, and gets a snapshot once it drains', async (t) => {
  const { server, dashboard } = await served(t, { maxViewerBuffer: 1, interval: 10 })
  const { request, response } = stuckViewer()
  await dashboard.routes['GET /events']!(request as unknown as IncomingMessage, response as unknown as ServerResponse)
  t.match(response.writes[0], /^event: snapshot\n/)
  const clients: WsStream[] = []
  for (let i = 0; i < 3; i++) clients.push(await connect(urlOf(server)))
  await waitFor(() => dashboard.viewers()[0]!.dropped >= 3, 5000, 'drops')
  t.equal(response.writes.length, 1, 'nothing more was written while it was behind')
  const [viewer] = dashboard.viewers()
  t.equal(viewer!.buffered, response.writableLength)
  response.writableLength = 0
  response.emit('drain')
  t.match(response.writes[1], /^event: snapshot\n/, 'a fresh snapshot once it drained')
  const snapshot = JSON.parse(response.writes[1]!.split('data: ')[1]!) as { rows: unknown[]; dropped: number }
  t.equal(snapshot.rows.length, 3)
  t.ok(snapshot.dropped >= 3, `the page is told how many updates it missed (${snapshot.dropped})`)
  for (const client of clients) await client.close()
  request.socket.emit('close')
  t.equal(dashboard.viewers().length, 0, 'the viewer is forgotten when it goes')
})

/** Opens and closes `n` connections, `batch` at a time; resolves with the milliseconds it took. */
async function churn(url: string, n: number, batch = 50): Promise<number> {
  const started = performance.now()
  for (let done = 0; done < n; done += batch) {
    const clients = await Promise.all(Array.from({ length: Math.min(batch, n - done) }, () => connect(url)))
    await Promise.all(clients.map((c) => c.close()))
  }
  return performance.now() - started
}

/** An SSE client that reads one chunk every `everyMs` and otherwise leaves its socket paused. */
function slowViewer(base: string, everyMs: number) {
  const { port } = new URL(base)
  const socket = net.connect(Number(port), '127.0.0.1')
  let received = 0
  socket.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n')
  socket.on('data', (chunk) => {
    received += chunk.length
    socket.pause()
  })
  const timer = setInterval(() => socket.resume(), everyMs)
  return { get received() { return received }, stop: () => { clearInterval(timer); socket.destroy() } }
}

t.test('/events under 1,000 connections opening and closing: a slow viewer stays within its buffer and the server keeps up', async (t) => {
  const maxViewerBuffer = 64 * 1024
  const { server, dashboard, base } = await served(t, { maxViewerBuffer, interval: 50 })
  const url = urlOf(server)
  await churn(url, 100) // warm up
  // Alternated, so that warm-up and the machine's other load fall on both sides alike.
  const without: number[] = []
  const withViewer: number[] = []
  let stats = { buffered: 0, maxBuffered: 0, dropped: 0 }
  let read = 0
  const memoryBefore = process.memoryUsage().heapUsed
  for (let round = 0; round < 2; round++) {
    without.push(await churn(url, 1000))
    const viewer = slowViewer(base, 500)
    await waitFor(() => dashboard.viewers().length === 1, 5000, 'the viewer')
    withViewer.push(await churn(url, 1000))
    const [now] = dashboard.viewers()
    stats = { buffered: now!.buffered, maxBuffered: Math.max(stats.maxBuffered, now!.maxBuffered), dropped: stats.dropped + now!.dropped }
    read += viewer.received
    viewer.stop()
    await waitFor(() => dashboard.viewers().length === 0, 5000, 'the viewer leaves')
  }
  const grown = process.memoryUsage().heapUsed - memoryBefore
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
  t.comment(`1,000 connections opened and closed, two rounds each: ${without.map((ms) => ms.toFixed(0)).join(', ')} ms without a viewer, ` +
    `${withViewer.map((ms) => ms.toFixed(0)).join(', ')} ms with a slow one (ratio ${(sum(withViewer) / sum(without)).toFixed(2)}); ` +
    `the viewer held at most ${stats.maxBuffered} bytes unsent, ${stats.dropped} messages dropped, ${read} bytes read; heap ${(grown / 1024 / 1024).toFixed(1)} MiB more`)
  // The buffer check is the robust one: at most the limit plus the one message that crossed it.
  t.ok(stats.maxBuffered <= maxViewerBuffer + 256 * 1024, `the viewer's buffer stayed bounded (${stats.maxBuffered} bytes)`)
  t.equal(server.connections.size, 0)
  t.equal((await get(`${base}/healthz`)).status, 200, 'the admin address still answers')
})

t.test('the CLI takes --admin-token with --admin, and not with --workers', async (t) => {
  t.match(parseCommand(['listen', '0', '--echo', '--admin', '127.0.0.1:0', '--admin-token', 'tok']), { adminToken: 'tok' })
  t.notOk('adminToken' in parseCommand(['listen', '0', '--echo', '--admin', '127.0.0.1:0']))
  t.throws(() => parseCommand(['listen', '0', '--echo', '--admin-token', 'tok']), { message: /--admin-token needs --admin/ })
  t.throws(() => parseCommand(['listen', '0', '--echo', '--admin', '127.0.0.1:0', '--admin-token', '']), { message: /needs a token/ })
  t.throws(() => parseCommand(['listen', '0', '--echo', '--admin', '127.0.0.1:0', '--admin-token', 'x', '--workers', '2']), { message: /not served with --workers/ })
  t.throws(() => parseCommand(['connect', 'ws://127.0.0.1:1', '--admin-token', 'x']), { message: /--admin-token applies to listen/ })
})


t.test('the highlight names a substate and the states holding it', async (t) => {
  const { highlighted, statePath } = await import('../src/diagram.js')
  t.equal(statePath({ closingReceived: 'flushing' }), 'closingReceived.flushing')
  t.equal(statePath('open'), 'open')
  t.match(highlighted('stateDiagram-v2', 'closingReceived.flushing'), /\n {2}class closingReceived,closingReceived_flushing current$/)
  t.equal(highlighted('stateDiagram-v2', ''), 'stateDiagram-v2')
})
