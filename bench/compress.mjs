/**
 * `node bench/compress.mjs [--mib=N] [--runs=N]` (after `npm run build`)
 *
 * What permessage-deflate (`--compress`, `perMessageDeflate: true`) costs and saves: one WsStream
 * client writes N MiB (default 32) to a WsStreamServer on loopback that reads it all, with
 * compression off and on, for random bytes (incompressible) and text-like bytes (log lines).
 * Prints, per cell, the median throughput, the bytes on the wire (counted on the server's TCP
 * socket, headers and frames included) and the process CPU time per MiB. Both ends in this one
 * process: the CPU figure is the sum of compressing and inflating.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { connect, WsStreamServer } from '../dist/src/index.js'

const MiB = 1024 * 1024
const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const total = arg('mib', 32) * MiB
const runs = arg('runs', 3)
const CHUNK = 64 * 1024

/** Log-like lines: timestamps, levels, paths, ids; deflate gets roughly 5-10x on such text. */
function textLike(size) {
  const levels = ['INFO', 'WARN', 'DEBUG', 'ERROR']
  const paths = ['/api/v1/users', '/api/v1/orders', '/healthz', '/static/app.js', '/ws']
  let out = ''
  for (let i = 0; out.length < size; i++) {
    const id = ((i * 2654435761) >>> 0).toString(16)
    out += `2025-01-0${(i % 9) + 1}T12:${String(i % 60).padStart(2, '0')}:07.${i % 1000}Z ${levels[i % 4]} request id=${id} GET ${paths[i % 5]} status=${i % 7 ? 200 : 404} took=${i % 97}ms\n`
  }
  return Buffer.from(out.slice(0, size))
}

async function cell(payload, compress) {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', perMessageDeflate: compress, maxPayload: 2 * MiB })
  await server.listening
  let wire = 0
  const done = new Promise((resolve) => {
    server.once('connection', async (stream, request) => {
      let received = 0
      while (received < total) {
        const chunk = await stream.read()
        if (chunk === null) break
        received += chunk.length
      }
      wire = request.socket.bytesRead
      resolve(received)
    })
  })
  const { port } = server.address()
  const cpu = process.cpuUsage()
  const started = performance.now()
  const client = await connect(`ws://127.0.0.1:${port}`, { perMessageDeflate: compress })
  for (let at = 0; at < total; at += CHUNK) await client.write(payload.subarray(at % payload.length, (at % payload.length) + CHUNK))
  await client.flush()
  await done
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  await client.close(1000)
  await server.close({ timeout: 1000 })
  return { mibPerSecond: total / MiB / seconds, wire, cpuMsPerMiB: (used.user + used.system) / 1000 / (total / MiB) }
}

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]
const payloads = { random: randomBytes(4 * MiB), 'text-like': textLike(4 * MiB) }
console.log(`${total / MiB} MiB per cell, median of ${runs} runs, node ${process.version}\n`)
console.log('| payload | compress | MiB/s | bytes on the wire | wire / payload | CPU ms per MiB (both ends) |')
console.log('| --- | --- | ---: | ---: | ---: | ---: |')
for (const [name, payload] of Object.entries(payloads)) {
  for (const compress of [false, true]) {
    const results = []
    for (let i = 0; i < runs; i++) results.push(await cell(payload, compress))
    const wire = median(results.map((r) => r.wire))
    console.log(`| ${name} | ${compress ? 'on' : 'off'} | ${median(results.map((r) => r.mibPerSecond)).toFixed(0)} | ${wire.toLocaleString('en')} | ${(wire / total).toFixed(3)} | ${median(results.map((r) => r.cpuMsPerMiB)).toFixed(1)} |`)
  }
}
