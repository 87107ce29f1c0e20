/**
 * Expired sessions leave nothing behind (invariant 3), in a process of its own so that the memory
 * measured is ours: 50 resumable sessions, each holding unacknowledged bytes both ways, lose their
 * network for good and expire on both ends; memory returns to its baseline and the server keeps no
 * session (their tokens are unknown afterwards).
 */
import { once } from 'node:events'
import t from 'tap'
import { connect, ConnectionResetError, type WsStream } from '../src/index.js'
import { bytes, waitFor, within } from './support/helpers.js'
import { MiB, settledMemory } from './support/memory.js'
import { closeOf, rawResumeClient, resumeSetup, sessionOf } from './support/resume.js'

const SESSIONS = 50
const TIMEOUT = 1500
const PER_SIDE = 256 * 1024

t.test(`${SESSIONS} sessions expire on both ends and memory returns to its baseline`, async (t) => {
  const window = 16 * 1024
  // Neither side reads, and small marks and messages: each end holds most of what it wrote, unacknowledged.
  const setup = await resumeSetup(t, { handler: undefined, resume: { timeout: TIMEOUT }, stream: { readHighWaterMark: window, maxMessageSize: window } })
  const payload = bytes(PER_SIDE, 5)

  /** Opens `n` sessions, fills them both ways, takes the network down and waits for every expiry; returns their tokens. */
  const expire = async (n: number): Promise<string[]> => {
    const servers: WsStream[] = []
    const onConnection = (s: WsStream): void => { servers.push(s) }
    setup.server.on('connection', onConnection)
    const clients = await Promise.all(Array.from({ length: n }, () =>
      connect(setup.proxy.url, { resume: { timeout: TIMEOUT, minDelay: 5, maxDelay: 50 }, stream: { readHighWaterMark: window, maxMessageSize: window } })))
    await waitFor(() => servers.length === n, 10_000, 'the server connections')
    setup.server.off('connection', onConnection)
    const tokens = clients.map((c) => sessionOf(c).token)
    // Writes that cannot all be taken: they settle when the sessions end.
    const writes = [...clients, ...servers].map((s) => s.write(payload).catch(() => {}))
    await waitFor(() => servers.every((s) => s.stats.bytesRead >= window) && clients.every((c) => c.stats.bytesRead >= window), 10_000, 'both ways to fill')
    setup.proxy.down = true
    setup.proxy.cut()
    const infos = await within(Promise.all([...clients, ...servers].map((s) => s.closed)), TIMEOUT + 15_000, 'every expiry')
    await Promise.all(writes)
    setup.proxy.down = false
    if (!infos.every((i) => i.error instanceof ConnectionResetError)) throw new Error(`an expiry that is not a reset: ${JSON.stringify(infos.find((i) => !(i.error instanceof ConnectionResetError)))}`)
    return tokens
  }

  await expire(5) // warm-up: first-use allocations are not a leak
  setup.accepted.length = 0
  const baseline = await settledMemory()
  const started = performance.now()
  const tokens = await expire(SESSIONS)
  const expiredIn = performance.now() - started
  setup.accepted.length = 0
  t.equal(setup.server.connections.size, 0, 'the server has no connection left')
  t.equal(setup.server.counts.total, 0, 'nor counts any')
  const after = await settledMemory()
  const growth = after - baseline
  // Kept sessions would hold ~2 x 200 KiB each, about 20 MiB for 50.
  t.ok(growth < 6 * MiB, `memory grew ${(growth / MiB).toFixed(1)} MiB over ${SESSIONS} expired sessions (bound 6 MiB)`)
  t.comment(`${SESSIONS} sessions expired in ${Math.round(expiredIn)} ms (timeout ${TIMEOUT} ms); memory ${(baseline / MiB).toFixed(1)} -> ${(after / MiB).toFixed(1)} MiB`)

  // And the server keeps no session: a late resume with any of their tokens is unknown.
  for (const token of tokens.slice(0, 5)) {
    const ws = await rawResumeClient(t, setup.direct)
    const closing = closeOf(ws)
    ws.send(JSON.stringify({ type: 'resume', token, received: 0, window }))
    t.equal((await within(closing, 5000, 'the late resume')).code, 4404, 'a late resume is refused 4404')
    if (ws.readyState !== ws.CLOSED) await once(ws, 'close')
  }
})
