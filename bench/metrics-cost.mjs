/**
 * `npm run bench:metrics [-- --runs=N] [--noise]`: what the server's metrics cost, as a markdown table; also
 * the "metrics" cells of `npm run bench` (run.mjs calls {@link measureMetricsCost}).
 *
 * Two server processes run side by side, one with `createMetrics()` and a scrape every second (as
 * Prometheus would), one without. The client takes turns between them, connection by connection
 * and block by block (in an order that flips every run), so that a shared machine's changing load
 * falls on both alike: measured one after the other, runs differed by more than the cost measured.
 * Per server: the server's CPU time per connection (open, then a full close handshake) and per MiB
 * (one way, 1 KiB and 64 KiB writes; per-message costs would show at 1 KiB), and the rate its turns
 * achieved. Both servers are warmed up first (connections, and the first scrape, which compiles
 * prom-client's formatting once per process), so what is left is the cost per connection and per byte.
 * `--noise` runs both servers without metrics: the spread it shows is the comparison's own.
 *
 * @module
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connect, createMetrics, WsStreamServer } from '../dist/src/index.js'

const KiB = 1024
const MiB = 1024 * 1024
const CONCURRENCY = 8

/** The cells and sizes of a full run (run.mjs scales them down for --quick and --smoke). */
export const defaultMetricsConfig = {
  runs: 7,
  warmupConnections: 200,
  block: MiB,
  cells: [
    { name: 'one way, 1 KiB writes', write: KiB, bytes: 32 * MiB },
    { name: 'one way, 64 KiB writes', write: 64 * KiB, bytes: 256 * MiB },
    { name: 'connections (open + close)', connections: 1000 },
  ],
}

const file = fileURLToPath(import.meta.url)
const args = process.argv.slice(2)
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)

/** The server side: reads every connection to its end, acknowledging each `--ack` bytes with one byte. */
async function serve() {
  const ack = Number(option('ack'))
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  await server.listening
  if (args.includes('--metrics')) {
    const metrics = createMetrics(server)
    const scrape = () => void metrics.registry.metrics()
    scrape()
    setInterval(scrape, 1000)
  }
  server.on('connection', async (stream) => {
    try {
      let total = 0
      for (let chunk; (chunk = await stream.read()) !== null;) {
        total += chunk.length
        if (total >= ack) {
          total -= ack
          await stream.write(new Uint8Array(1))
        }
      }
      await stream.close(1000)
    } catch {}
  })
  process.on('message', (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage()
      process.send({ cpu: user + system })
    }
  })
  process.send({ port: server.address().port })
}

/** A server process, `metrics` on or off, and its CPU clock. */
async function startServer(metrics, block) {
  const child = fork(file, ['--server', `--ack=${block}`, ...(metrics ? ['--metrics'] : [])])
  const { port } = await new Promise((resolve) => child.once('message', resolve))
  return {
    url: `ws://127.0.0.1:${port}`,
    /** µs of CPU the process used so far. */
    cpu: () => new Promise((resolve) => {
      child.once('message', (message) => resolve(message.cpu))
      child.send('cpu')
    }),
    async stop() {
      child.kill()
      await new Promise((resolve) => child.once('exit', resolve))
    },
  }
}

/**
 * Runs every cell `config.runs` times against both servers and resolves with, per cell, each
 * run's figures for `off` and `on`: `rate` (MiB/s or connections/s over that server's turns) and
 * `cpu` (the server's µs per MiB or per connection). With `noise`, `on` runs without metrics too.
 */
export async function measureMetricsCost({ runs, warmupConnections, block, cells, noise = false }) {
  const results = cells.map((cell) => ({ cell, off: { rate: [], cpu: [] }, on: { rate: [], cpu: [] } }))
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? ['off', 'on'] : ['on', 'off']
    // New processes every run, started in that order too: kept for all runs, the server with metrics
    // came out 9-36 % cheaper per MiB than the one without in three tries: the processes differed more than the metrics.
    const servers = {}
    for (const variant of order) servers[variant] = await startServer(variant === 'on' && !noise, block)
    try {
      for (const server of Object.values(servers)) {
        await churn([server], warmupConnections, () => {})
        for (const cell of cells.filter((c) => c.write)) await pump([server], { ...cell, bytes: block }, block, () => {})
      }
      for (const result of results) {
        const { cell } = result
        const busy = { off: 0, on: 0 }
        const note = (variant, ms) => (busy[variant] += ms)
        const targets = order.map((variant) => ({ url: servers[variant].url, variant }))
        const before = { off: await servers.off.cpu(), on: await servers.on.cpu() }
        const units = cell.connections
          ? await churn(targets, cell.connections, note)
          : await pump(targets, cell, block, note)
        for (const variant of order) {
          const cpu = (await servers[variant].cpu()) - before[variant]
          // Connections overlap (CONCURRENCY at a time): their summed times are CONCURRENCY times the wall time.
          const seconds = busy[variant] / 1000 / (cell.connections ? CONCURRENCY : 1)
          result[variant].rate.push(units / seconds)
          result[variant].cpu.push(cpu / units)
        }
      }
    } finally {
      await Promise.all(Object.values(servers).map((s) => s.stop()))
    }
  }
  return results
}

/** Opens and closes `count` connections to each target, taking turns; resolves with `count`. */
async function churn(targets, count, note) {
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < count * targets.length) {
      const target = targets[next++ % targets.length]
      const started = performance.now()
      const stream = await connect(target.url)
      await stream.close(1000)
      note(target.variant, performance.now() - started)
    }
  }))
  return count
}

/** Sends `cell.bytes` to each target in `block`s of `cell.write`-byte writes, taking turns; resolves with the MiB per target. */
async function pump(targets, cell, block, note) {
  const streams = await Promise.all(targets.map((t) => connect(t.url)))
  const chunk = new Uint8Array(cell.write).fill(7)
  for (let b = 0; b < (cell.bytes / block) * targets.length; b++) {
    const i = b % targets.length
    const started = performance.now()
    for (let sent = 0; sent < block; sent += chunk.length) await streams[i].write(chunk)
    await streams[i].readExactly(1)
    note(targets[i].variant, performance.now() - started)
  }
  await Promise.all(streams.map((s) => s.close(1000)))
  return cell.bytes / MiB
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Per cell, the medians of `off` and `on` and the median of the runs' on/off ratios (runs are paired). */
export function summarizeMetricsCost(results) {
  return results.map(({ cell, off, on }) => ({
    cell,
    unit: cell.connections ? 'conn/s' : 'MiB/s',
    cpuUnit: cell.connections ? 'µs/conn' : 'µs/MiB',
    rateOff: median(off.rate),
    rateOn: median(on.rate),
    rateRatio: median(on.rate.map((r, i) => r / off.rate[i])),
    cpuOff: median(off.cpu),
    cpuOn: median(on.cpu),
    cpuRatio: median(on.cpu.map((c, i) => c / off.cpu[i])),
  }))
}

/** The markdown table of {@link measureMetricsCost}'s results. */
export function metricsTable(results) {
  const rows = summarizeMetricsCost(results).map((s) =>
    `| ${s.cell.name} | ${s.rateOff.toFixed(1)} ${s.unit} | ${s.rateOn.toFixed(1)} ${s.unit} | ${s.rateRatio.toFixed(3)}× | ` +
    `${s.cpuOff.toFixed(0)} ${s.cpuUnit} | ${s.cpuOn.toFixed(0)} ${s.cpuUnit} | ${s.cpuRatio.toFixed(3)}× |`)
  return [
    '| cell | metrics off | metrics on | on/off | server CPU off | server CPU on | CPU on/off |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n')
}

if (process.argv[1] === file && args.includes('--server')) await serve()
else if (process.argv[1] === file) {
  const config = { ...defaultMetricsConfig, runs: Number(option('runs') ?? defaultMetricsConfig.runs), noise: args.includes('--noise') }
  const results = await measureMetricsCost(config)
  const title = config.noise ? 'Noise: both servers without metrics' : 'Metrics on vs off'
  console.log(`${title} (median of ${config.runs} runs, servers side by side; node ${process.version})\n`)
  console.log(metricsTable(results))
}
