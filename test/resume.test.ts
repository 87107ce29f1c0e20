/**
 * Resumable streams (docs/resume.md) through real network failures: a TCP proxy between client and
 * server resets both legs of every connection (test/support/cut-proxy.ts), and the same stream
 * carries on, every byte exactly once and in order. Also: state while interrupted, backpressure and
 * close handshakes meeting a cut, expiry, and interop with peers that do not resume.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { ConnectionResetError, type CloseInfo, type WsStream } from '../src/index.js'
import { sha256 } from './support/flood.js'
import { waitFor, within } from './support/helpers.js'
import { collectUnhandled } from './support/process.js'
import { closeOf, hashBytes, rawResumeClient, readBytes, RESUME_TIMEOUT, resumeLog, resumeSetup, sessionOf } from './support/resume.js'

const MiB = 1024 * 1024
const unhandled = collectUnhandled(t, { uncaught: true })

t.test('64 MiB echoed both ways at once through 20+ cuts arrive exactly once, in order, on one server connection', async (t) => {
  const started = performance.now()
  const { proxy, accepted, handlerErrors, client } = await resumeSetup(t)
  const stream = await client()
  const log = resumeLog(stream)
  const total = 64 * MiB
  const data = randomBytes(total)

  // Cut every ~1.5 MiB of echoed progress, and at least every 100 ms, until everything is back.
  let echoed = 0
  const every = 1.5 * MiB
  let cutAt = every
  let done = false
  const cutter = (async () => {
    let last = performance.now()
    while (!done) {
      await sleep(5)
      if (done) break
      if (echoed >= cutAt || performance.now() - last >= 100) {
        if (proxy.cut() > 0) {
          cutAt = echoed + every
          last = performance.now()
        }
      }
    }
  })()
  const writing = (async () => {
    for (let at = 0; at < total; at += 256 * 1024) await stream.write(data.subarray(at, at + 256 * 1024))
    await stream.flush()
  })()
  const back = await within(hashBytes(stream, total, (got) => { echoed = got }), 60_000, () => `the echo (${echoed} of ${total} bytes back, ${proxy.cuts} cuts)`)
  done = true
  await cutter
  await writing
  const transferred = performance.now() - started

  t.equal(back.bytes, total, 'every byte came back')
  t.equal(back.hash, sha256(data), 'sha256 of the echo equals what was sent: exactly once, in order')
  t.ok(proxy.cuts >= 20, `at least 20 cuts (${proxy.cuts})`)
  t.ok(log.resumptions >= 20, `resumed at least 20 times (${log.resumptions})`)
  t.equal(accepted.length, 1, "exactly one server 'connection': resumptions are the same stream")
  const serverStream = accepted[0]!
  t.same(stream.stats.bytesWritten, total, 'client bytesWritten')
  t.same(stream.stats.bytesRead, total, 'client bytesRead')
  t.same(serverStream.stats.bytesRead, total, 'server bytesRead')
  t.same(serverStream.stats.bytesWritten, total, 'server bytesWritten')

  // No more cuts: once the last one has resumed (a close() while interrupted is a reset by design),
  // the close is clean on both ends. A cut just before the end may not be noticed yet: give it time.
  await sleep(200)
  await waitFor(() => stream.state === 'open' && serverStream.state === 'open', 10_000, 'both ends open again')
  t.equal(log.resumptions, log.interruptions, 'every interruption resumed')
  const info = await within(stream.close(), 10_000, 'close()')
  t.match(info, { code: 1000, wasClean: true, initiator: 'local' }, 'the client closes cleanly')
  t.match(await within(serverStream.closed, 10_000, 'the server stream'), { code: 1000, wasClean: true, initiator: 'remote' }, 'and so does the server')
  t.same(handlerErrors, [], "the server's echo handler never failed")
  t.comment(`64 MiB echo: ${proxy.cuts} cuts, ${log.resumptions} resumptions, ${log.attempts} reconnect attempts, worst downtime ${log.worstDowntime} ms, ${Math.round(transferred)} ms`)
})

/** Settles `stream.closed` within `ms`, and says whether it ended cleanly or as a reset (anything else fails). */
async function settledAsCleanOrReset(t: Test, stream: WsStream, ms: number, who: string): Promise<CloseInfo> {
  const info = await within(stream.closed, ms, `${who}'s closed`)
  // A third ending: the peer's Close arrived (every byte before it was delivered), our answer went,
  // and then the cut took the TCP connection: not clean, but no error either, as on a plain stream.
  const closeThenCut = !info.wasClean && info.error === undefined && info.initiator === 'remote' && info.code === 1000
  t.ok(info.wasClean || info.error instanceof ConnectionResetError || closeThenCut,
    `${who} ended cleanly, as a reset, or after the peer's Close (${info.code}, ${info.initiator}, ${info.wasClean ? 'clean' : 'unclean'}, ${info.error?.name ?? 'no error'})`)
  return info
}

t.test('a cut while the client, paused by backpressure, reads nothing: once it reads, it gets every byte exactly once', async (t) => {
  // A paused resumable stream keeps reading its socket but holds back its acknowledgements, so the
  // server stops at its window: small writes and a small window keep most of the bytes at the server.
  const window = 64 * 1024
  const { proxy, accepted, client } = await resumeSetup(t, { handler: undefined, stream: { maxMessageSize: 16 * 1024, writeHighWaterMark: window } })
  const readHighWaterMark = 64 * 1024
  const stream = await client({ stream: { readHighWaterMark } })
  const log = resumeLog(stream)
  let paused = false
  stream.on('paused', () => { paused = true })
  await waitFor(() => accepted.length === 1, 5000, 'the server connection')
  const serverStream = accepted[0]!
  const serverLog = resumeLog(serverStream)
  const total = 1 * MiB
  const data = randomBytes(total)
  const writing = (async () => {
    for (let i = 0; i < total; i += 16 * 1024) await serverStream.write(data.subarray(i, i + 16 * 1024))
  })()
  // The client holds its mark's worth plus the server's window and no more: the server's writes wait.
  await waitFor(() => paused && stream.stats.bytesRead >= readHighWaterMark, 10_000, 'the client to pause')
  await sleep(50)
  const held = stream.stats.bytesRead
  t.ok(held <= readHighWaterMark + 3 * window, `the client holds ${held} of ${total} bytes, unread: its mark and about the server's window`)
  t.equal(proxy.cut(), 1, 'cut the connection while the client is paused')
  await waitFor(() => serverLog.interruptions === 1 && log.interruptions === 1, 10_000, 'both ends to notice the cut')
  const got = await within(readBytes(stream, total), 20_000, 'reading everything after the cut')
  t.equal(got.length, total, 'every byte arrived')
  t.ok(got.equals(data), 'exactly once, in order')
  await within(writing, 10_000, "the server's writes")
  t.equal(log.resumptions, 1, 'the client resumed once')
  t.equal(serverLog.resumptions, 1, 'so did the server')
  t.equal(accepted.length, 1, 'on the same server connection')
  t.match(await within(stream.close(), 10_000, 'close()'), { wasClean: true }, 'then a clean close')
})

t.test('a cut while a write waits for the window: the write resolves and its bytes arrive exactly once', async (t) => {
  const window = 64 * 1024
  const { proxy, accepted, client } = await resumeSetup(t, { handler: undefined, stream: { readHighWaterMark: window } })
  const stream = await client({ stream: { writeHighWaterMark: window } })
  const log = resumeLog(stream)
  await waitFor(() => accepted.length === 1, 5000, 'the server connection')
  const serverStream = accepted[0]!
  const total = 2 * MiB
  const data = randomBytes(total)
  let written = false
  const writing = stream.write(data).then(() => { written = true })
  // The server does not read: its mark fills, it acknowledges no more, and the client's write waits.
  await waitFor(() => serverStream.stats.bytesRead >= window, 10_000, 'the server to take its mark')
  await sleep(200)
  t.notOk(written, `the write waits for the window (the server has ${serverStream.stats.bytesRead} of ${total} bytes)`)
  t.equal(proxy.cut(), 1, 'cut the connection while the write waits')
  await waitFor(() => log.interruptions === 1, 10_000, 'the client to notice the cut')
  const got = await within(readBytes(serverStream, total), 20_000, 'the server reading everything')
  await within(writing, 10_000, 'the waiting write')
  t.ok(written, 'the write resolved')
  t.equal(got.length, total, 'every byte arrived')
  t.ok(got.equals(data), 'exactly once, in order')
  t.ok(log.resumptions >= 1, `the client resumed (${log.resumptions} times)`)
  t.equal(accepted.length, 1, 'on the same server connection')
})

t.test('a cut during the close handshake: both ends settle within their timeouts, cleanly or as a reset', async (t) => {
  // Cut at once, one turn later, and a little later: the Close may be lost, answered, or half way.
  for (const delay of [-1, 0, 2, 10]) {
    await t.test(`cut ${delay < 0 ? 'in the same turn as close()' : `${delay} ms after close()`}`, async (t) => {
      const { proxy, accepted, client } = await resumeSetup(t)
      const stream = await client()
      await stream.write('hello')
      t.equal(Buffer.from((await stream.read())!).toString(), 'hello', 'the echo works')
      const serverStream = accepted[0]!
      const started = performance.now()
      const closing = stream.close()
      if (delay >= 0) await sleep(delay)
      proxy.cut()
      const bound = RESUME_TIMEOUT + 10_000
      await within(closing, bound, 'the client close()')
      await settledAsCleanOrReset(t, stream, bound, 'the client')
      await settledAsCleanOrReset(t, serverStream, bound, 'the server stream')
      t.comment(`settled in ${Math.round(performance.now() - started)} ms`)
    })
  }
})

t.test("a cut during the server's drain: both ends settle in bounds and server.close() resolves", async (t) => {
  const { server, proxy, accepted, client } = await resumeSetup(t)
  const stream = await client()
  await stream.write('hello')
  t.equal(Buffer.from((await stream.read())!).toString(), 'hello', 'the echo works')
  const serverStream = accepted[0]!
  const started = performance.now()
  const draining = server.close({ timeout: 3000 })
  proxy.cut()
  const report = await within(draining, 10_000, 'server.close()')
  t.ok(report, `server.close() resolved: ${JSON.stringify(report)}`)
  await settledAsCleanOrReset(t, serverStream, 10_000, 'the server stream')
  // The client may resume towards a server that is gone: it gives up within its resume timeout.
  await settledAsCleanOrReset(t, stream, RESUME_TIMEOUT + 10_000, 'the client')
  t.equal(server.connections.size, 0, 'the server keeps no connection')
  t.comment(`settled in ${Math.round(performance.now() - started)} ms`)
})

t.test("while its client is away the server's stream is interrupted (and counted so), then open again", async (t) => {
  const { server, proxy, accepted, client } = await resumeSetup(t)
  const stream = await client()
  const log = resumeLog(stream)
  await stream.write('one')
  t.equal(Buffer.from((await stream.read())!).toString(), 'one')
  const serverStream = accepted[0]!
  const states: string[] = []
  serverStream.on('state', (e) => states.push(e.to))
  proxy.down = true
  proxy.cut()
  await waitFor(() => serverStream.state === 'interrupted', 10_000, 'the server stream to be interrupted')
  await waitFor(() => log.attempts >= 2, 10_000, 'the client to try twice')
  t.equal(serverStream.state, 'interrupted', 'still interrupted while the network is down')
  t.equal(server.counts.interrupted, 1, 'server.counts.interrupted')
  t.equal(server.counts.open, 0, 'server.counts.open')
  t.equal(server.connections.size, 1, 'the connection is still the server\'s')
  t.equal(stream.state, 'interrupted', 'the client too')
  proxy.down = false
  await waitFor(() => serverStream.state === 'open', 10_000, 'the server stream to be open again')
  t.equal(server.counts.interrupted, 0, 'no longer counted as interrupted')
  t.equal(server.counts.open, 1, 'counted as open')
  t.same(states, ['interrupted', 'open'], "the server stream's state events")
  await stream.write('two')
  t.equal(Buffer.from((await stream.read())!).toString(), 'two', 'the same stream carries on')
  t.equal(accepted.length, 1, 'no new server connection')
})

t.test('a resume client gives up after its timeout while the network stays down; so does the server', async (t) => {
  const timeout = 2000
  const { server, proxy, accepted, client } = await resumeSetup(t, { handler: undefined, resume: { timeout } })
  const stream = await client({ resume: { timeout, minDelay: 5, maxDelay: 50 } })
  await waitFor(() => accepted.length === 1, 5000, 'the server connection')
  const serverStream = accepted[0]!
  const token = sessionOf(stream).token
  // Bytes the client has but has not read yet: they are still read after the session is lost.
  await serverStream.write('buffered')
  await waitFor(() => stream.stats.bytesRead === 8, 5000, 'the bytes to arrive')
  proxy.down = true
  const started = performance.now()
  proxy.cut()
  const info = await within(stream.closed, timeout + 10_000, "the client's closed")
  const gaveUp = performance.now() - started
  t.equal(info.wasClean, false, 'not clean')
  t.type(info.error, ConnectionResetError, 'closed as a ConnectionResetError')
  t.ok(gaveUp >= timeout - 50, `not before its timeout (${Math.round(gaveUp)} ms)`)
  t.equal(Buffer.from((await stream.read())!).toString(), 'buffered', 'the buffered bytes are read first')
  await t.rejects(stream.read(), ConnectionResetError, 'then reads reject with the reset')
  const serverInfo = await within(serverStream.closed, timeout + 10_000, "the server stream's closed")
  t.type(serverInfo.error, ConnectionResetError, 'the server stream closed as a reset too')
  t.equal(server.connections.size, 0, 'server.connections is empty')
  t.equal(server.counts.total, 0, 'server.counts.total is 0')

  // The server kept nothing of it: its token is unknown now.
  proxy.down = false
  const refusals: string[] = []
  server.on('resumeRefused', (reason) => refusals.push(reason))
  const late = await rawResumeClient(t, proxy.url)
  const closing = closeOf(late)
  late.send(JSON.stringify({ type: 'resume', token, received: 8, window: 1024 }))
  t.same(await within(closing, 5000, 'the late resume'), { code: 4404, reason: 'Unknown session' }, 'a late resume is refused 4404')
  t.same(refusals, ['unknown'], "'resumeRefused' says unknown")
  t.comment(`the client gave up after ${Math.round(gaveUp)} ms (timeout ${timeout} ms)`)
})

t.test('close() while interrupted ends the stream at once as a reset', async (t) => {
  const { proxy, client } = await resumeSetup(t)
  const stream = await client()
  const log = resumeLog(stream)
  proxy.down = true
  proxy.cut()
  await waitFor(() => log.interruptions === 1, 10_000, 'the interruption')
  const started = performance.now()
  const info = await within(stream.close(), 2000, 'close() while interrupted')
  t.type(info.error, ConnectionResetError, 'a reset')
  t.equal(info.wasClean, false, 'not clean')
  t.comment(`close() took ${Math.round(performance.now() - started)} ms`)
})

t.test('no unhandled rejection or uncaught error', async (t) => {
  t.same(unhandled, [])
})
