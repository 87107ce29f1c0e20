/**
 * `npm run build && node bench/machine-cost.mjs [--runs=N] [--connections=N] [--lib=PATH] [--json]`: what
 * the connection machine costs per connection on its own, with no socket, as a markdown table (or
 * JSON with `--json`; `npm run bench` runs it so for its "machine alone" rows).
 *
 * The lifecycle cell of `npm run bench` measures ours ⇄ ours against raw ws ⇄ ws, sockets and all;
 * on a shared 2-core machine its ratios move by ±30 % between invocations. This takes the socket
 * out: the package's `pureConnectionMachine` over a transport that does nothing, driven through the
 * events a real connection of the lifecycle cell produces, in one process, the variants taking turns
 * run by run. It says how much of a connection's CPU budget the machine alone uses, which is the
 * floor of that cell's ratio (docs/performance.md, "Round 2").
 *
 * - `xstate (bare)`: an actor of a two-state machine, started, one event to its final state: what
 *   any XState actor per connection costs, whatever its machine.
 * - `client`: open at start, `close()`, the peer's Close, the socket's close (4 macrosteps).
 * - `server`: open at start, the peer's Close while the application reads, the end of input taken,
 *   writes flushed, the socket's close (as the lifecycle cell's echo server: 5 macrosteps + start).
 *
 * Per variant: CPU µs per connection (median of the runs) and KiB allocated per connection (V8's
 * sampling heap profiler with collected objects counted, over one run after the others).
 * `--lib=PATH` adds another build's `dist/src/index.js` beside the package's (an A/B of a patch), its
 * variants taking turns with the package's in the same runs. Two builds in one process make XState's
 * code see two machines, which slows both (about 2-3× here): compare their allocations, and their
 * CPU only with each other.
 *
 * @module
 */
import { Session } from 'node:inspector/promises'
import { createActor, createMachine } from 'xstate'

const args = process.argv.slice(2)
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const runs = Number(option('runs') ?? 9)
const connections = Number(option('connections') ?? 5000)
const lib = option('lib')
const builds = { '': await import('ws-stream-actor') }
if (lib) builds[' (--lib)'] = await import(new URL(`file://${lib}`).href)

/** A transport that is open and does nothing: the machine's own cost is all that is left. */
class IdleTransport {
  isOpen = true
  sink = undefined
  attach(sink) {
    this.sink = sink
  }
  detach() {}
  send() {
    return true
  }
  close() {}
  terminate() {}
  pause() {}
  resume() {}
  ping() {}
}

const options = { keepAlive: false }
const bare = createMachine({ initial: 'a', states: { a: { on: { go: 'b' } }, b: { type: 'final' } } })

const variants = {
  'xstate (bare)': () => {
    const actor = createActor(bare)
    actor.start()
    actor.send({ type: 'go' })
    return actor
  },
}
for (const [suffix, { pureConnectionMachine, transportAttacher }] of Object.entries(builds)) {
  const machine = pureConnectionMachine.provide({ actions: { attachTransport: transportAttacher((socket) => socket) } })
  const started = () => {
    const transport = new IdleTransport()
    const actor = createActor(machine, { input: { socket: transport, options } })
    actor.start()
    return { actor, sink: transport.sink }
  }
  variants[`client${suffix}`] = () => {
    const { actor, sink } = started()
    actor.send({ type: 'close', code: 1000 })
    sink.peerClose(1000, '')
    sink.closed(1000, '', true)
    return actor
  }
  variants[`server${suffix}`] = () => {
    const { actor, sink } = started()
    // The echo loop is reading: the peer's Close finds the application busy, not done.
    actor.getSnapshot().context.io.readBuffer.readAhead = true
    sink.peerClose(1000, '')
    actor.send({ type: 'inputTaken' })
    actor.send({ type: 'writesFlushed' }) // what the flush watch sends a turn later
    sink.closed(1000, '', true)
    return actor
  }
}

// Every variant must end where a real connection does, or it measures something else.
for (const [name, run] of Object.entries(variants)) {
  const snapshot = run().getSnapshot()
  if (snapshot.status !== 'done') throw new Error(`${name} did not reach its final state: ${JSON.stringify(snapshot.value)}`)
}

function cpuPerConnection(run) {
  const before = process.cpuUsage()
  for (let i = 0; i < connections; i++) run()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / connections
}

async function allocatedPerConnection(run) {
  const session = new Session()
  session.connect()
  await session.post('HeapProfiler.enable')
  await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  for (let i = 0; i < connections; i++) run()
  const { profile } = await session.post('HeapProfiler.stopSampling')
  session.disconnect()
  let total = 0
  const walk = (node) => {
    total += node.selfSize
    node.children.forEach(walk)
  }
  walk(profile.head)
  return total / connections / 1024
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const names = Object.keys(variants)
const cpu = Object.fromEntries(names.map((name) => [name, []]))
for (const name of names) cpuPerConnection(variants[name]) // warm-up: compiled before measured
for (let r = 0; r < runs; r++) {
  const order = r % 2 === 0 ? names : [...names].reverse()
  for (const name of order) cpu[name].push(cpuPerConnection(variants[name]))
}
const allocated = {}
for (const name of names) allocated[name] = await allocatedPerConnection(variants[name])

if (args.includes('--json')) {
  console.log(JSON.stringify({ connections, runs, node: process.version, rows: names.map((name) => ({ name, cpu: cpu[name], allocatedKiB: allocated[name] })) }))
} else {
  console.log(`Connection machine alone, the package build${lib ? ` and ${lib} (--lib)` : ''}: ${connections} connections per run, ${runs} runs, Node ${process.version}\n`)
  console.log('| per connection | CPU µs (median, min–max) | KiB allocated |')
  console.log('| --- | ---: | ---: |')
  for (const name of names) {
    const values = cpu[name]
    console.log(`| ${name} | ${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}) | ${allocated[name].toFixed(1)} |`)
  }
}
