/**
 * Property test (fast-check) of resumable streams: random writes both ways at once, random
 * high-water marks, and 0-5 cuts of the TCP connection at random byte progress or random times.
 * Whatever the schedule, each side reads exactly the other's bytes, in order, on one server
 * connection, and the close after the last cut is clean.
 *
 * Replay a failure with the seed and path it prints:
 *   FC_SEED=<seed> FC_PATH=<path> npx tap --disable-coverage test/resume-property.test.ts
 * FC_RUNS changes the number of runs (default 100).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import fc from 'fast-check'
import t from 'tap'
import type { WsStream } from '../src/index.js'
import { bytes, waitFor, within } from './support/helpers.js'
import { collectUnhandled, resourceCounts } from './support/process.js'
import { reportProperty } from './support/property.js'
import { readBytes, resumeLog, resumeSetup, writeInPieces, type ResumeSetup } from './support/resume.js'

const RUNS = Number(process.env.FC_RUNS ?? 100)
/** One run's bound: a hang is a failure, not a tap timeout. */
const DEADLINE = 20_000
const KiB = 1024

const unhandled = collectUnhandled(t, { uncaught: true })

const directionArb = fc.record({
  total: fc.integer({ min: 0, max: 384 * KiB }),
  /** Write sizes, cycled. */
  sizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 512 }), fc.integer({ min: 513, max: 64 * KiB })), { minLength: 1, maxLength: 8 }),
})

const cutArb = fc.oneof(
  /** When this fraction of all the bytes (both ways) has been read. */
  fc.record({ kind: fc.constant('progress' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  /** This many ms after the transfer began. */
  fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 60 }) }),
)

const scenarioArb = fc.record({
  up: directionArb, // client to server
  down: directionArb, // server to client
  cuts: fc.array(cutArb, { maxLength: 5 }),
  client: fc.record({ readHighWaterMark: fc.integer({ min: 4 * KiB, max: 1024 * KiB }), writeHighWaterMark: fc.integer({ min: 4 * KiB, max: 1024 * KiB }) }),
  server: fc.record({ readHighWaterMark: fc.integer({ min: 4 * KiB, max: 1024 * KiB }), writeHighWaterMark: fc.integer({ min: 4 * KiB, max: 1024 * KiB }) }),
})

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never

const totals = { runs: 0, cuts: 0, resumptions: 0, worstDowntime: 0 }

async function run(s: Scenario, setup: ResumeSetup, nextServerStream: () => Promise<WsStream>): Promise<void> {
  const accepted = nextServerStream()
  const client = await setup.client({ stream: s.client })
  const server = await within(accepted, 5000, 'the server connection')
  const log = resumeLog(client)
  const up = bytes(s.up.total, 1 + s.up.total)
  const down = bytes(s.down.total, 2 + s.down.total)
  const all = up.length + down.length
  let read = 0
  let upRead = 0
  let downRead = 0
  let done = false
  const started = performance.now()
  const pending = [...s.cuts]
  let cutsHere = 0
  let lastCut = -Infinity
  const cutter = (async () => {
    while (!done && pending.length > 0) {
      const elapsed = performance.now() - started
      read = upRead + downRead
      for (let i = pending.length - 1; i >= 0; i--) {
        const c = pending[i]!
        // A cut due while nothing is connected (the client is between attempts) waits for the next connection.
        if ((c.kind === 'time' ? elapsed >= c.ms : read >= c.at * all) && setup.proxy.cut() > 0) {
          pending.splice(i, 1)
          cutsHere++
          lastCut = performance.now()
        }
      }
      await sleep(1)
    }
  })()
  const state = (): string => `client ${client.state} ${JSON.stringify(client.stats)}, server ${server.state} ${JSON.stringify(server.stats)}, read ${upRead}+${downRead} of ${all}, cuts ${cutsHere}`
  try {
    const [, , gotUp, gotDown] = await within(Promise.all([
      writeInPieces(client, up, s.up.sizes),
      writeInPieces(server, down, s.down.sizes),
      readBytes(server, up.length, (n) => { upRead = n }),
      readBytes(client, down.length, (n) => { downRead = n }),
    ]), DEADLINE, () => `the transfer (${state()})`)
    done = true
    await cutter
    if (!gotUp.equals(up)) throw new Error(`the server read ${gotUp.length} of the client's ${up.length} bytes, not all exactly once (${state()})`)
    if (!gotDown.equals(down)) throw new Error(`the client read ${gotDown.length} of the server's ${down.length} bytes, not all exactly once (${state()})`)
    // No more cuts: once both ends are open again, the close is clean. A cut just before the end
    // may not be noticed yet (a close() while interrupted is a reset by design): give it time.
    const sinceCut = performance.now() - lastCut
    if (sinceCut < 200) await sleep(200 - sinceCut)
    await waitFor(() => client.state === 'open' && server.state === 'open', DEADLINE, `both ends open (${state()})`)
    const [info, serverInfo] = await within(Promise.all([client.close(), server.closed]), DEADLINE, () => `the close (${state()})`)
    if (!info.wasClean || !serverInfo.wasClean) throw new Error(`an unclean close after the last cut: ${JSON.stringify({ info, serverInfo })}`)
    if (log.resumptions !== log.interruptions) throw new Error(`${log.interruptions} interruptions but ${log.resumptions} resumptions`)
    totals.runs++
    totals.cuts += cutsHere
    totals.resumptions += log.resumptions
    totals.worstDowntime = Math.max(totals.worstDowntime, log.worstDowntime)
  } finally {
    done = true
    await cutter
    client.abort()
    server.abort()
  }
  if (setup.server.connections.size !== 0) throw new Error(`the server still has ${setup.server.connections.size} connections`)
  if (unhandled.length > 0) throw new Error(`unhandled: ${String(unhandled[0])}`)
}

t.test(`${RUNS} random cut schedules: every byte exactly once both ways, then a clean close`, async (t) => {
  const before = resourceCounts(/TCP|Timeout/)
  const started = performance.now()
  const setup = await resumeSetup(t, { handler: undefined })
  const waiting: Array<(stream: WsStream) => void> = []
  setup.server.on('connection', (stream) => waiting.shift()?.(stream))
  const nextServerStream = (): Promise<WsStream> => new Promise((resolve) => waiting.push(resolve))
  const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() ^ (Math.random() * 0x100000000)
  t.comment(`seed ${seed} (replay: FC_SEED=${seed} npx tap --disable-coverage test/resume-property.test.ts)`)
  const details = await fc.check(fc.asyncProperty(scenarioArb, (s) => run(s, setup, nextServerStream)), {
    numRuns: RUNS,
    seed,
    ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
    // Shrinking reruns transfers; bound it so that a failure still reports in the file's time.
    interruptAfterTimeLimit: 90_000,
    markInterruptAsFailure: true,
  })
  reportProperty(t, details, 'test/resume-property.test.ts')
  t.ok(totals.cuts >= totals.runs / 2, `the schedules do cut (${totals.cuts} cuts over ${totals.runs} runs)`)
  t.comment(`${totals.runs} runs, ${totals.cuts} cuts, ${totals.resumptions} resumptions, worst downtime ${totals.worstDowntime} ms, ${Math.round(performance.now() - started)} ms`)

  // Nothing left behind: close the server and proxy now and count sockets and timers.
  await setup.proxy.close()
  await setup.server.close({ timeout: 1000 })
  const left = (): string[] => [...resourceCounts(/TCP|Timeout/)].filter(([type, n]) => n > (before.get(type) ?? 0)).map(([type, n]) => `${type} ${n}`)
  await waitFor(() => left().length === 0, 5000, 'sockets and timers to go').catch(() => {})
  t.same(left(), [], `no socket or timer left (before: ${JSON.stringify(Object.fromEntries(before))})`)
})

t.test('no unhandled rejection or uncaught error', async (t) => {
  t.same(unhandled, [])
})
