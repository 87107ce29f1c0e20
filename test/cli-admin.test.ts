/**
 * `ws-stream listen --admin`, `--drain-timeout` and `--workers`, through the real binary: the
 * SIGTERM drain as Kubernetes expects it, and a cluster whose /metrics sums its workers.
 */
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import t from 'tap'
import { parseCommand } from '../src/cli/args.js'
import { connect, type ConnectionInfo, type WsStream } from '../src/index.js'
import { get, metric, parseMetrics } from './support/admin.js'
import { cli, listen } from './support/cli.js'
import { bytes, waitFor } from './support/helpers.js'
import { OP, parseClose, rawTcpPeer } from './support/raw-peer.js'

t.test('the parser takes --admin, --drain-timeout and --workers for listen only', async (t) => {
  t.match(parseCommand(['listen', '0', '--echo', '--admin', '127.0.0.1:9090', '--drain-timeout', '25000', '--workers', '4']), {
    admin: { host: '127.0.0.1', port: 9090 }, drainTimeout: 25_000, workers: 4,
  })
  t.match(parseCommand(['listen', '0', '--echo', '--admin', '[::1]:0', '--close-timeout', '700']), {
    admin: { host: '::1', port: 0 }, drainTimeout: 700, workers: undefined,
  }, '--drain-timeout defaults to --close-timeout')
  t.match(parseCommand(['listen', '0', '--echo']), { admin: undefined })
  t.throws(() => parseCommand(['listen', '0', '--echo', '--workers', '0']), { message: /--workers takes a whole number >= 1/ })
  t.throws(() => parseCommand(['listen', '0', '--echo', '--workers', '1.5']), { message: /--workers takes a whole number/ })
  t.throws(() => parseCommand(['listen', '0', '--echo', '--admin', 'nowhere:x']), { message: /--admin takes host:port/ })
  t.throws(() => parseCommand(['connect', 'ws://127.0.0.1:1', '--admin', '9090']), { message: /--admin applies to listen/ })
})

t.test('SIGTERM: /readyz is 503 at once, every connection gets 1001, a stuck one is cut at --drain-timeout, exit 0', async (t) => {
  const server = await listen(t, ['--echo', '--admin', '127.0.0.1:0', '--drain-timeout', '1500'])
  const [, admin] = await server.waitForStderr(/admin on (http:\/\/127\.0\.0\.1:\d+)/)
  t.equal((await get(`${admin}/healthz`)).status, 200)
  t.equal((await get(`${admin}/readyz`)).status, 200)

  const client = await connect(server.url)
  t.teardown(() => client.abort())
  await client.write('hello')
  t.equal(Buffer.from(await client.readExactly(5)).toString(), 'hello', 'the echo works')
  const stuck = await rawTcpPeer(t, server.port) // never answers a Close
  let samples = parseMetrics((await get(`${admin}/metrics`)).body)
  for (let i = 0; i < 100 && metric(samples, 'ws_stream_connections', { state: 'open' }) < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    samples = parseMetrics((await get(`${admin}/metrics`)).body)
  }
  t.equal(metric(samples, 'ws_stream_connections', { state: 'open' }), 2)
  const rows = JSON.parse((await get(`${admin}/connections`)).body) as ConnectionInfo[]
  t.equal(rows.length, 2)

  const signalled = Date.now()
  server.child.kill('SIGTERM')
  await server.waitForStderr(/SIGTERM: draining 2 connection/)
  const readyz = await get(`${admin}/readyz`)
  t.same([readyz.status, readyz.body], [503, 'draining\n'], '/readyz says draining')
  t.equal(metric(parseMetrics((await get(`${admin}/metrics`)).body), 'ws_stream_draining'), 1)
  t.equal((await client.closed).code, 1001, 'the client is closed with 1001 Going Away')
  t.equal(parseClose(await stuck.frame(OP.close)).code, 1001, 'so is the stuck one')
  t.equal(await server.exited, 0, 'exit 0 after the drain')
  const took = Date.now() - signalled
  t.ok(took >= 1400 && took < 6000, `the stuck connection held the drain until --drain-timeout (${took} ms)`)
  t.match(server.stderr(), /stopped: 1 closed cleanly, 1 terminated/)
})

t.test('an admin address that cannot be bound is exit status 6', async (t) => {
  const blocker = net.createServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => new Promise((resolve) => blocker.close(resolve)))
  const port = (blocker.address() as AddressInfo).port
  const server = cli(t, ['listen', '0', '--echo', '--admin', `127.0.0.1:${port}`])
  t.equal(await server.exited, 6)
  t.match(server.stderr(), /cannot listen on the admin address 127\.0\.0\.1:\d+: EADDRINUSE/)
  const workers = cli(t, ['listen', '0', '--echo', '--workers', '1', '--admin', `127.0.0.1:${port}`])
  t.equal(await workers.exited, 6, 'with --workers too')
})

t.test('--workers 2: /metrics sums the workers, a killed worker is replaced and counted, SIGTERM drains both', async (t) => {
  const server = await listen(t, ['--echo', '--workers', '2', '--admin', '127.0.0.1:0'])
  const [, admin] = await server.waitForStderr(/admin on (http:\/\/127\.0\.0\.1:\d+)/)
  t.match(server.stderr(), /listening on ws:\/\/127\.0\.0\.1:\d+ \(2 workers\)/)
  const clients: WsStream[] = []
  t.teardown(() => { for (const c of clients) c.abort() })
  for (let i = 0; i < 6; i++) {
    const client = await connect(server.url)
    clients.push(client)
    const payload = bytes(1000, i + 1)
    await client.write(payload)
    t.same(Buffer.from(await client.readExactly(1000)), Buffer.from(payload), `client ${i} gets its echo`)
  }
  const scrape = async () => parseMetrics((await get(`${admin}/metrics`)).body)
  let samples = await scrape()
  t.equal(metric(samples, 'ws_stream_connections', { state: 'open' }), 6, 'open connections summed over the workers')
  t.equal(metric(samples, 'ws_stream_connections_accepted_total'), 6)
  t.equal(metric(samples, 'ws_stream_received_bytes_total'), 6000)
  t.equal(metric(samples, 'ws_stream_workers'), 2)
  const rows = JSON.parse((await get(`${admin}/connections`)).body) as ConnectionInfo[]
  const byWorker = new Set(rows.map((r) => r.id.split('.')[0]))
  t.equal(rows.length, 6, '/connections lists every worker\'s')
  t.equal(byWorker.size, 2, 'the connections are spread over both workers')
  t.equal((await get(`${admin}/readyz`)).status, 200)

  const pids = spawnSync('pgrep', ['-P', String(server.child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number)
  t.equal(pids.length, 2, 'two worker processes')
  process.kill(pids[0]!, 'SIGKILL')
  for (let i = 0; i < 200 && !(metric(samples, 'ws_stream_worker_restarts_total') === 1 && metric(samples, 'ws_stream_workers') === 2); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    samples = await scrape()
  }
  t.equal(metric(samples, 'ws_stream_worker_restarts_total'), 1, 'the dead worker is counted')
  t.equal(metric(samples, 'ws_stream_workers'), 2, 'and replaced')
  await server.waitForStderr(/worker \d+ died \(SIGKILL\); starting another/)
  const survivors = clients.filter((c) => c.state === 'open')
  t.ok(survivors.length >= 1 && survivors.length < 6, `${survivors.length} clients were on the other worker`)

  server.child.kill('SIGTERM')
  for (const c of survivors) t.equal((await c.closed).code, 1001, 'drained with 1001')
  t.equal(await server.exited, 0)
  t.match(server.stderr(), /stopped: every worker drained/)
})
