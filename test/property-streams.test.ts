/**
 * Property tests (fast-check) of invariants 1, 2 and 4 (docs/architecture.md) over pairs of WsStreams on
 * loopback: random write sizes, pipelining and timings on both sides, random read sizes and
 * consumer pauses, random coalesce / maxMessageSize / high-water marks, and a random close
 * (either side, both at once, or an abort) at a random moment.
 *
 * Replay a failure with the seed and path fast-check prints:
 *   FC_SEED=<seed> FC_PATH=<path> npx tap test/property-streams.test.ts
 * FC_RUNS changes the number of runs (default 300).
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import fc from 'fast-check'
import t from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { ConnectionClosedError, WsStream, type CloseInfo, type WsStreamOptions } from '../src/index.js'
import { bytes, within } from './support/helpers.js'
import { collectUnhandled, resourceCounts } from './support/process.js'
import { reportProperty } from './support/property.js'

const RUNS = Number(process.env.FC_RUNS ?? 300)
// One run; a hang is a failure of invariant 2, not a tap timeout. Generous: with ordered close a
// side keeps writing until it answers the peer's Close, and a run of 30,000 one-byte messages into a
// 16-byte read buffer takes seconds on a loaded machine.
const DEADLINE = 15_000
const CLOSE_TIMEOUT = 10_000

const unhandled = collectUnhandled(t)

// ---- arbitraries ----

const optionsArb = fc.record({
  coalesce: fc.boolean(),
  maxMessageSize: fc.oneof({ weight: 1, arbitrary: fc.integer({ min: 1, max: 64 }) }, { weight: 4, arbitrary: fc.integer({ min: 65, max: 65536 }) }),
  writeHighWaterMark: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 65536 })),
  readHighWaterMark: fc.integer({ min: 16, max: 65536 }),
})

const writeArb = fc.record({
  size: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 300 }) }, { weight: 1, arbitrary: fc.integer({ min: 301, max: 40000 }) }),
  await: fc.boolean(), // false: pipelined, the next write goes out before this one settles
  delay: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
  asString: fc.boolean(),
})

const readerArb = fc.record({
  sizes: fc.array(fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 5000 })), { minLength: 1, maxLength: 6 }),
  /** Before these reads (by index) the consumer sleeps (a read may return one message's bytes: keep them few). */
  pauses: fc.array(fc.record({ at: fc.integer({ min: 0, max: 40 }), ms: fc.integer({ min: 1, max: 8 }) }), { maxLength: 4 }),
  /** Use fill()/consume() instead of read() for some reads. */
  fill: fc.boolean(),
})

const sideArb = fc.record({
  options: optionsArb,
  writes: fc.array(writeArb, { maxLength: 12 }),
  reader: readerArb,
})

const scenarioArb = fc.record({
  a: sideArb, // the client
  b: sideArb, // the server
  close: fc.constantFrom('a', 'b', 'both', 'abortA', 'abortB'),
  /** Fraction of the closer's writes issued before it closes. */
  moment: fc.double({ min: 0, max: 1, noNaN: true }),
})

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never
type Side = Scenario['a']

// ---- one run ----

interface WriteOutcome { bytes: Uint8Array; ok: boolean; unsent: number }

function withDeadline<T>(promise: Promise<T>, what: string, signal: { expired: boolean }, state: () => string): Promise<T> {
  return within(promise, DEADLINE, () => {
    signal.expired = true
    return `invariant 2 (${state()}): ${what}`
  })
}

async function writer(
  stream: WsStream, side: Side, seed: number, closeAt: number | undefined, closeAction: () => void, report: (progress: () => string) => void,
): Promise<WriteOutcome[]> {
  const outcomes: Array<Promise<WriteOutcome>> = []
  const settled: string[] = []
  let issued = 0
  report(() => `writes issued ${issued}/${side.writes.length}, settled [${settled.join(',')}]`)
  for (const [i, w] of side.writes.entries()) {
    issued = i + 1
    if (i === closeAt) closeAction()
    const data = w.asString ? 'x'.repeat(w.size) : bytes(w.size, seed + i)
    const sent = typeof data === 'string' ? Buffer.from(data) : data
    const outcome = stream.write(data).then(
      () => ({ bytes: sent, ok: true, unsent: 0 }),
      (error: unknown) => {
        if (!(error instanceof ConnectionClosedError)) throw error
        return { bytes: sent, ok: false, unsent: error.unsentBytes }
      },
    )
    outcomes.push(outcome)
    void outcome.then((o) => settled.push(`${i}:${o.ok ? 'ok' : 'no'}`), () => {})
    if (w.await) await outcome
    if (w.delay > 0) await sleep(w.delay)
  }
  if (closeAt !== undefined && closeAt >= side.writes.length) closeAction()
  return Promise.all(outcomes)
}

async function reader(stream: WsStream, r: Side['reader']): Promise<{ data: Buffer; errors: string[] }> {
  const parts: Uint8Array[] = []
  const errors: string[] = []
  for (let i = 0; ; i++) {
    for (const p of r.pauses) if (p.at === i) await sleep(p.ms)
    let chunk: Uint8Array | null
    try {
      if (r.fill && i % 2 === 1) {
        chunk = await stream.fill()
        if (chunk !== null) {
          const n = Math.min(chunk.length, r.sizes[i % r.sizes.length]!)
          chunk = Buffer.from(chunk.subarray(0, n))
          stream.consume(n)
        }
      } else {
        chunk = await stream.read(r.sizes[i % r.sizes.length]!)
        if (chunk !== null) chunk = Buffer.from(chunk)
      }
    } catch (error) {
      errors.push((error as Error).name)
      if (errors.length > 3) throw new Error(`reads keep rejecting: ${errors.join(', ')}`)
      continue
    }
    if (chunk === null) break
    parts.push(chunk)
  }
  return { data: Buffer.concat(parts), errors }
}

const show = (m: Map<string, number>): string => JSON.stringify(Object.fromEntries([...m].sort()))

async function run(s: Scenario, server: { wss: WebSocketServer; url: string }): Promise<void> {
  const before = resourceCounts()
  const signal = { expired: false }
  const accepted = once(server.wss, 'connection') as Promise<[WebSocket]>
  const socket = new WebSocket(server.url)
  const streamOptions = (side: Side): WsStreamOptions => ({ ...side.options, closeTimeout: CLOSE_TIMEOUT })
  const a = new WsStream(socket, streamOptions(s.a))
  const [peerSocket] = await accepted
  const b = new WsStream(peerSocket, streamOptions(s.b))
  try {
    // close() on a connecting socket drops it (there is no handshake to close yet): start once open.
    while (a.state === 'connecting') await sleep(1)
    const graceful = s.close === 'a' || s.close === 'b' || s.close === 'both'
    const closes: Array<Promise<CloseInfo>> = []
    const closer = (stream: WsStream, abort: boolean) => () => {
      if (abort) stream.abort(new Error('property abort'))
      else closes.push(stream.close(1000, 'done'))
    }
    const at = (side: Side): number => Math.floor(s.moment * side.writes.length + 1e-9)
    const aCloses = s.close === 'a' || s.close === 'both' || s.close === 'abortA'
    const bCloses = s.close === 'b' || s.close === 'both' || s.close === 'abortB'
    const progress = { a: (): string => '', b: (): string => '', readA: 0, readB: 0 }
    const work = Promise.all([
      writer(a, s.a, 1, aCloses ? at(s.a) : undefined, closer(a, s.close === 'abortA'), (p) => { progress.a = p }),
      writer(b, s.b, 1000, bCloses ? at(s.b) : undefined, closer(b, s.close === 'abortB'), (p) => { progress.b = p }),
      reader(a, s.a.reader),
      reader(b, s.b.reader),
    ])
    const state = (): string => `a: ${a.state} ${JSON.stringify(a.stats)} ${progress.a()}; b: ${b.state} ${JSON.stringify(b.stats)} ${progress.b()}`
    const [aWrites, bWrites, aRead, bRead] = await withDeadline(work, 'writes and reads', signal, state)
    const [aInfo, bInfo] = await withDeadline(Promise.all([a.closed, b.closed, ...closes]), 'closed / close()', signal, state)

    for (const [from, to, writes, read] of [['a', 'b', aWrites, bRead], ['b', 'a', bWrites, aRead]] as const) {
      const resolved = Buffer.concat(writes.filter((w) => w.ok).map((w) => w.bytes))
      const all = Buffer.concat(writes.map((w) => w.bytes))
      // Resolved writes come first: once one is refused, every later one is too (an empty write,
      // which carries nothing, resolves at once while the connection is open: it is left out).
      const carrying = writes.filter((w) => w.bytes.length > 0)
      const firstRejected = carrying.findIndex((w) => !w.ok)
      if (firstRejected !== -1 && carrying.slice(firstRejected).some((w) => w.ok)) {
        throw new Error(`${from}: a write resolved after an earlier one was refused`)
      }
      if (graceful) {
        if (!read.data.equals(resolved)) {
          throw new Error(`invariant 1: ${to} read ${read.data.length} bytes, ${from}'s resolved writes hold ${resolved.length}${firstDiff(read.data, resolved)}`)
        }
        const leaky = writes.find((w) => !w.ok && w.unsent !== w.bytes.length)
        if (leaky) throw new Error(`invariant 1: ${from}'s rejected write of ${leaky.bytes.length} bytes says only ${leaky.unsent} were unsent`)
        if (read.errors.length > 0) throw new Error(`${to}'s reads rejected after a clean close: ${read.errors.join(', ')}`)
      } else {
        const mayHaveLeft = resolved.length + writes.filter((w) => !w.ok).reduce((n, w) => n + w.bytes.length - w.unsent, 0)
        if (!all.subarray(0, read.data.length).equals(read.data)) {
          throw new Error(`invariant 1: after a reset ${to} read bytes that are not a prefix of ${from}'s writes${firstDiff(read.data, all)}`)
        }
        if (read.data.length > mayHaveLeft) {
          throw new Error(`invariant 1: after a reset ${to} read ${read.data.length} bytes, more than ${from}'s writes delivered (${mayHaveLeft})`)
        }
      }
    }
    if (graceful) {
      for (const [name, info] of [['a', aInfo], ['b', bInfo]] as const) {
        if (!info!.wasClean || info!.code !== 1000) throw new Error(`${name} closed uncleanly after a graceful close: ${JSON.stringify(info)}`)
      }
    } else {
      const aborted = s.close === 'abortA' ? aInfo! : bInfo!
      if (aborted.wasClean || aborted.code !== 1006) throw new Error(`the aborted side's CloseInfo: ${JSON.stringify(aborted)}`)
    }
  } finally {
    a.abort()
    b.abort()
  }
  // Invariant 4: once both ends are closed, no socket or timer of this run is left.
  let after = new Map<string, number>()
  const left = (): string[] => [...after].filter(([type, n]) => n > (before.get(type) ?? 0)).map(([type]) => type)
  for (let i = 0; i < 200; i++) {
    await sleep(5)
    after = resourceCounts()
    if (left().length === 0) break
  }
  if (left().length > 0) throw new Error(`invariant 4: ${left().join(', ')} left: active resources before ${show(before)}, after ${show(after)}`)
  if (unhandled.length > 0) throw new Error(`invariant 4: unhandled rejection: ${String(unhandled[0])}`)
  if (signal.expired) throw new Error('a deadline expired')
}

function firstDiff(got: Uint8Array, want: Uint8Array): string {
  let i = 0
  while (i < got.length && i < want.length && got[i] === want[i]) i++
  return ` (first difference at byte ${i})`
}

t.test(`${RUNS} random pairs: bytes in order, everything settles, nothing left behind`, async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  t.teardown(() => new Promise((resolve) => wss.close(resolve)))
  const server = { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` }
  const params: fc.Parameters<[Scenario]> = {
    numRuns: RUNS,
    ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
    ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
    // Shrinking reruns sockets; bound it so a failure still reports within the file's time.
    interruptAfterTimeLimit: 80_000,
    markInterruptAsFailure: true,
  }
  const details = await fc.check(fc.asyncProperty(scenarioArb, (s) => run(s, server)), params)
  reportProperty(t, details, 'test/property-streams.test.ts')
})
