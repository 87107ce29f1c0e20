/**
 * The server's metrics and admin endpoints, in-process: each pinned metric moves as it should
 * under a scripted scenario, and /readyz follows maxConnections and the drain.
 */
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import t from 'tap'
import { adminHandler, connect, createMetrics, HandshakeError, WsStreamServer, type ConnectionInfo, type WsStream } from '../src/index.js'
import { get, metric, parseMetrics } from './support/admin.js'
import { cutProxy } from './support/cut-proxy.js'
import { bytes, waitFor } from './support/helpers.js'
import { WebSocket } from 'ws'

type Teardown = { teardown(fn: () => unknown): void }

async function serve(t: Teardown, handler: Parameters<typeof createServer>[1]): Promise<string> {
  const http: Server = createServer(handler).listen(0, '127.0.0.1')
  await once(http, 'listening')
  t.teardown(() => new Promise((resolve) => { http.closeAllConnections(); http.close(resolve) }))
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`
}

async function startServer(t: Teardown, options: Partial<ConstructorParameters<typeof WsStreamServer>[0]> = {}) {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', ...options })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening
  const metrics = createMetrics(server)
  const admin = await serve(t, adminHandler(server, { metrics }))
  const accepted: WsStream[] = []
  server.on('connection', (stream) => accepted.push(stream))
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
  const scrape = async () => parseMetrics((await get(`${admin}/metrics`)).body)
  return { server, metrics, admin, accepted, url, scrape }
}

t.test('every pinned metric moves as it should: 3 open, bytes both ways, a 4001 close, a reset, a 503 refusal, a drain', async (t) => {
  const { server, admin, accepted, url, scrape } = await startServer(t, { maxConnections: 3, stream: { readHighWaterMark: 1024 } })
  t.equal((await get(`${admin}/readyz`)).status, 200, 'ready while there is room')

  const clients = await Promise.all([1, 2, 3].map(() => connect(url)))
  t.teardown(() => { for (const c of clients) c.abort() })
  await waitFor(() => server.counts.open === 3, 5000, 'three open')
  let m = await scrape()
  t.equal(metric(m, 'ws_stream_connections', { state: 'open' }), 3, 'ws_stream_connections{state="open"}')
  t.equal(metric(m, 'ws_stream_connections', { state: 'closingSent' }), 0, 'every live state is a series, at 0 when empty')
  t.equal(metric(m, 'ws_stream_connections_accepted_total'), 3)
  t.equal(metric(m, 'ws_stream_draining'), 0)

  const readyz = await get(`${admin}/readyz`)
  t.same([readyz.status, readyz.body], [503, 'full\n'], '/readyz is 503 at maxConnections')
  const refusal = await connect(url).then(() => undefined, (error: unknown) => error)
  t.ok(refusal instanceof HandshakeError && refusal.status === 503, 'the fourth is refused with 503')
  m = await scrape()
  t.equal(metric(m, 'ws_stream_upgrades_refused_total', { status: '503' }), 1, 'ws_stream_upgrades_refused_total{status="503"}')

  // Client 1 sends 10,000 bytes that the server reads only later: its socket pauses (1 KiB mark).
  const [c1, c2, c3] = clients as [WsStream, WsStream, WsStream]
  const s1 = accepted[0]!
  await c1.write(bytes(10_000))
  await c1.flush()
  await waitFor(() => s1.stats.bytesRead === 10_000 || s1.actor.getSnapshot().context.io.readBuffer.paused, 5000, 'a pause')
  t.ok(metric(await scrape(), 'ws_stream_read_paused_total') >= 1, 'ws_stream_read_paused_total counts the pause')
  await s1.readExactly(10_000)
  await s1.write(bytes(5000, 2))
  await s1.flush()
  await c1.readExactly(5000)
  t.ok(await s1.ping() >= 0)
  m = await scrape()
  t.equal(metric(m, 'ws_stream_received_bytes_total'), 10_000, 'ws_stream_received_bytes_total')
  t.equal(metric(m, 'ws_stream_sent_bytes_total'), 5000, 'ws_stream_sent_bytes_total')
  t.equal(metric(m, 'ws_stream_ping_rtt_seconds_count'), 1, 'ws_stream_ping_rtt_seconds observes the round trip')
  t.ok(metric(m, 'ws_stream_ping_rtt_seconds_sum') > 0)

  const rows = JSON.parse((await get(`${admin}/connections`)).body) as ConnectionInfo[]
  const row = rows.find((r) => r.bytesIn === 10_000)
  t.equal(rows.length, 3, '/connections lists the live ones')
  t.match(row, { id: /^c\d+$/, state: 'open', remoteAddress: /^127\.0\.0\.1:\d+$/, bytesOut: 5000, paused: false })
  t.ok(row!.ageSeconds >= 0)

  await c2.close(4001, 'done')
  c3.abort()
  await waitFor(() => server.connections.size === 1, 5000, 'two closed')
  m = await scrape()
  t.equal(metric(m, 'ws_stream_connections_closed_total', { code: '4001', initiator: 'remote', clean: 'true' }), 1,
    'ws_stream_connections_closed_total{code="4001",initiator="remote",clean="true"}')
  t.equal(metric(m, 'ws_stream_connections_closed_total', { code: '1006', initiator: 'none', clean: 'false' }), 1, 'the reset is a 1006')
  t.equal(metric(m, 'ws_stream_close_handshake_seconds_count'), 1, 'one close handshake (the reset had none)')
  t.equal(metric(m, 'ws_stream_connection_duration_seconds_count'), 2)
  t.equal(metric(m, 'ws_stream_connections', { state: 'open' }), 1)
  t.equal(metric(m, 'ws_stream_received_bytes_total'), 10_000, 'totals survive the connections that closed')
  t.equal((await get(`${admin}/readyz`)).status, 200, 'ready again with room')

  const peerClosed = c1.closed
  const drained = server.close({ timeout: 2000 })
  const during = await get(`${admin}/readyz`)
  t.same([during.status, during.body], [503, 'draining\n'], '/readyz is 503 at once when the drain begins')
  t.equal(metric(await scrape(), 'ws_stream_draining'), 1, 'ws_stream_draining is 1')
  t.equal((await get(`${admin}/healthz`)).status, 200, '/healthz stays 200')
  t.equal((await peerClosed).code, 1001, 'the client is closed with 1001')
  await drained
  m = await scrape()
  t.equal(metric(m, 'ws_stream_connections_closed_total', { code: '1001', initiator: 'local', clean: 'true' }), 1)
  t.equal(metric(m, 'ws_stream_connections', {}), 0)
})

t.test('resumable streams: an interruption, its resumption and a refused token are counted', async (t) => {
  const { server, accepted, url, scrape } = await startServer(t, { resume: { timeout: 10_000 } })
  const proxy = await cutProxy(Number(new URL(url).port))
  t.teardown(() => proxy.close())
  const client = await connect(proxy.url, { resume: { minDelay: 5, maxDelay: 50 } })
  t.teardown(() => client.abort())
  await waitFor(() => accepted.length === 1)
  const before = await scrape()
  t.equal(metric(before, 'ws_stream_interruptions_total'), 0)
  t.equal(metric(before, 'ws_stream_resumptions_total'), 0)

  const resumed = new Promise((resolve) => client.on('sessionResumed', resolve))
  t.equal(proxy.cut(), 1, 'the connection was cut')
  await resumed
  await waitFor(() => accepted[0]!.state === 'open')
  await client.write(bytes(1000))
  t.same(await accepted[0]!.readExactly(1000), bytes(1000), 'the stream carries on')
  const after = await scrape()
  t.equal(metric(after, 'ws_stream_interruptions_total'), 1, 'one interruption')
  t.equal(metric(after, 'ws_stream_resumptions_total'), 1, 'one resumption')
  t.equal(metric(after, 'ws_stream_connections', { state: 'open' }), 1, 'still one connection, open')

  // A forged token is refused with 4404 and counted by reason.
  const forger = new WebSocket(url, ['ws-stream.resume.v1'])
  await once(forger, 'open')
  forger.send(JSON.stringify({ type: 'resume', token: 'AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA', received: 0, window: 0 }))
  const [code] = await once(forger, 'close')
  t.equal(code, 4404)
  t.equal(metric(await scrape(), 'ws_stream_resume_refused_total', { reason: 'unknown' }), 1)
  t.equal(server.connections.size, 1, 'no connection was made for it')
})

t.test('a refusal by the user\'s verifyClient is counted with its status', async (t) => {
  const { url, scrape } = await startServer(t, { verifyClient: () => false })
  const error = await connect(url).catch((e: unknown) => e)
  t.ok(error instanceof HandshakeError && error.status === 401)
  t.equal(metric(await scrape(), 'ws_stream_upgrades_refused_total', { status: '401' }), 1)
})

t.test('keep-alive pings are observed as round trips', async (t) => {
  const { scrape, url } = await startServer(t, { stream: { keepAlive: { interval: 20, timeout: 1000 } } })
  const client = await connect(url)
  t.teardown(() => client.abort())
  let count = 0
  for (let i = 0; i < 100 && count < 2; i++) {
    count = metric(await scrape(), 'ws_stream_ping_rtt_seconds_count')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.ok(count >= 2, `${count} round trips observed`)
})

t.test('two metrics on one server each observe every round trip and every close', async (t) => {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening
  const first = createMetrics(server)
  const second = createMetrics(server, { registry: new Registry() })
  const accepted = once(server, 'connection') as Promise<[WsStream]>
  const client = await connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`)
  const [stream] = await accepted
  t.ok(await stream.ping() >= 0)
  await client.close(4002)
  await stream.closed
  await waitFor(() => first.connections().length === 0 && second.connections().length === 0, 5000, 'both saw the close')
  for (const metrics of [first, second]) {
    const m = parseMetrics(await metrics.registry.metrics())
    t.equal(metric(m, 'ws_stream_ping_rtt_seconds_count'), 1)
    t.equal(metric(m, 'ws_stream_connections_closed_total', { code: '4002', initiator: 'remote', clean: 'true' }), 1)
    t.equal(metric(m, 'ws_stream_close_handshake_seconds_count'), 1)
  }
})

t.test('metrics go in a registry of the user\'s, under a prefix, and come out again', async (t) => {
  const server = new WsStreamServer({ noServer: true })
  t.teardown(() => server.close({ timeout: 0 }))
  const registry = new Registry()
  const metrics = createMetrics(server, { registry, prefix: 'edge_' })
  t.equal(metrics.registry, registry)
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name).sort()
  t.same(names, [
    'edge_close_handshake_seconds', 'edge_connection_duration_seconds', 'edge_connections', 'edge_connections_accepted_total',
    'edge_connections_closed_total', 'edge_draining', 'edge_interruptions_total', 'edge_ping_rtt_seconds', 'edge_read_paused_total',
    'edge_received_bytes_total', 'edge_resume_refused_total', 'edge_resumptions_total', 'edge_sent_bytes_total', 'edge_upgrades_refused_total',
  ])
  metrics.remove()
  t.same(await registry.getMetricsAsJSON(), [], 'remove() unregisters every metric')
  t.equal(server.listenerCount('connection'), 0, 'and stops observing the server')
})

t.test('the admin handler: 404, 405, HEAD, extra routes, and a failing route answers 500', async (t) => {
  const server = new WsStreamServer({ noServer: true })
  t.teardown(() => server.close({ timeout: 0 }))
  const admin = await serve(t, adminHandler(server, {
    routes: {
      'GET /': (_req, res) => { res.end('dashboard') },
      'GET /boom': () => { throw new Error('boom') },
    },
  }))
  t.same(await get(`${admin}/`), { status: 200, body: 'dashboard', type: undefined }, 'an extra route is served')
  t.equal((await get(`${admin}/nothing`)).status, 404)
  t.equal((await get(`${admin}/metrics`, 'POST')).status, 405)
  t.same(await get(`${admin}/healthz?probe=1`, 'HEAD'), { status: 200, body: '', type: 'text/plain; charset=utf-8' })
  t.same((await get(`${admin}/boom`)).status, 500)
  const metricsResponse = await get(`${admin}/metrics`)
  t.match(metricsResponse.type, /^text\/plain; version=0\.0\.4/)
  t.same(JSON.parse((await get(`${admin}/connections`)).body), [])
})
