/**
 * `npm run bench:metrics [-- --runs=N]`: what the server's metrics cost. A server process with
 * `createMetrics()` and a scrape every second (as Prometheus would) against the same server
 * without them, run by run in alternating order: one-way throughput with 1 KiB and 64 KiB writes
 * (per-message costs would show at 1 KiB), and connections per second (open, then a full close
 * handshake; the metrics' per-connection work shows there). Prints a markdown table.
 *
 * @module
 */
import { fork } from 'node:child_process'
import { connect, createMetrics, WsStreamServer } from '../dist/src/index.js'

const KiB = 1024
const MiB = 1024 * 1024
const args = process.argv.slice(2)
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)

if (args.includes('--server')) {
  // The server side: reads every connection to its end, acknowledging each `size` bytes with one byte.
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  await server.listening
  if (args.includes('--metrics')) {
    const metrics = createMetrics(server)
    setInterval(() => void metrics.registry.metrics(), 1000)
  }
  server.on('connection', async (stream) => {
    try {
      let total = 0
      for (let chunk; (chunk = await stream.read()) !== null;) {
        total += chunk.length
        if (total >= Number(option('ack'))) {
          total = 0
          await stream.write(new Uint8Array(1))
        }
      }
      await stream.close(1000)
    } catch {}
  })
  // The client asks for our CPU time around what it measures: CPU per unit of work is steadier than
  // throughput on a shared machine, and it is where a per-message cost would show.
  process.on('message', (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage()
      process.send({ cpu: user + system })
    }
  })
  process.send({ port: server.address().port })
} else {
  const runs = Number(option('runs') ?? 7)
  const cells = [
    { name: 'one way, 1 KiB writes', write: KiB, bytes: 32 * MiB },
    { name: 'one way, 64 KiB writes', write: 64 * KiB, bytes: 256 * MiB },
    { name: 'connections/s (open + close)', connections: 1000 },
  ]
  const results = cells.map(() => ({ off: [], on: [], cpuOff: [], cpuOn: [] }))
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? ['off', 'on'] : ['on', 'off']
    for (const [i, cell] of cells.entries()) {
      for (const variant of order) {
        const { rate, cpu } = await measure(cell, variant === 'on')
        results[i][variant].push(rate)
        results[i][variant === 'on' ? 'cpuOn' : 'cpuOff'].push(cpu)
      }
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(`Metrics on vs off (median of ${runs} runs each, alternating; node ${process.version})\n`)
  console.log('| cell | metrics off | metrics on | on/off | server CPU off | server CPU on | CPU on/off |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const [i, cell] of cells.entries()) {
    const off = median(results[i].off)
    const on = median(results[i].on)
    const cpuOff = median(results[i].cpuOff)
    const cpuOn = median(results[i].cpuOn)
    const unit = cell.connections ? 'conn/s' : 'MiB/s'
    const cpuUnit = cell.connections ? 'µs/conn' : 'µs/MiB'
    console.log(`| ${cell.name} | ${off.toFixed(1)} ${unit} | ${on.toFixed(1)} ${unit} | ${(on / off).toFixed(3)}× | ${cpuOff.toFixed(0)} ${cpuUnit} | ${cpuOn.toFixed(0)} ${cpuUnit} | ${(cpuOn / cpuOff).toFixed(3)}× |`)
  }
}

/**
 * One run of `cell` against a fresh server process; resolves with the rate (MiB/s or connections/s)
 * and the server's CPU time per unit (µs per MiB or per connection).
 */
async function measure(cell, metrics) {
  const child = fork(new URL(import.meta.url).pathname, ['--server', `--ack=${cell.bytes ?? 1}`, ...(metrics ? ['--metrics'] : [])])
  const { port } = await new Promise((resolve) => child.once('message', resolve))
  const url = `ws://127.0.0.1:${port}`
  const serverCpu = () => new Promise((resolve) => {
    child.once('message', (message) => resolve(message.cpu))
    child.send('cpu')
  })
  try {
    const cpuBefore = await serverCpu()
    if (cell.connections) {
      const started = performance.now()
      let next = 0
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next++ < cell.connections) {
          const stream = await connect(url)
          await stream.close(1000)
        }
      }))
      const rate = cell.connections / ((performance.now() - started) / 1000)
      return { rate, cpu: ((await serverCpu()) - cpuBefore) / cell.connections }
    }
    const stream = await connect(url)
    const chunk = new Uint8Array(cell.write).fill(7)
    const started = performance.now()
    for (let sent = 0; sent < cell.bytes; sent += chunk.length) await stream.write(chunk)
    await stream.readExactly(1)
    const seconds = (performance.now() - started) / 1000
    const cpu = ((await serverCpu()) - cpuBefore) / (cell.bytes / MiB)
    await stream.close(1000)
    return { rate: cell.bytes / MiB / seconds, cpu }
  } finally {
    child.kill()
    await new Promise((resolve) => child.once('exit', resolve))
  }
}
