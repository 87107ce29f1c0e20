/**
 * The embedding and inspection examples, run as users run them: plain Node ESM importing the
 * built package by name (`npm test` builds first, so dist/ is current).
 */
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import t from 'tap'
import { runExample } from './support/helpers.js'

const run = promisify(execFile)

t.test('examples/embedded-actor.js: a user machine spawns connection children and records how each left', async (t) => {
  const stdout = await runExample('embedded-actor.js')
  for (const line of [
    '[room] occupied, 2 member(s)',
    '[alice] member-1 heard: hello from alice',
    '[bob] member-2 heard: hello from bob',
    '[room] member-1 left: code 1000, clean true, initiator remote',
    '[room] member-2 left: code 1006, clean false, initiator none',
    '[member-2] ERR_WS_CONNECTION_RESET',
  ]) {
    t.ok(stdout.includes(line), line)
  }
  t.match(stdout.split('\n').filter((l) => l.startsWith('[room] ') && !l.includes('left')).at(-1), '[room] empty, 0 member(s)')
})

t.test('examples/inspector.js: the relay carries the server\'s and every connection\'s states', async (t) => {
  // A port free a moment ago; the relay takes a fixed port, and the preload keeps it on loopback.
  const probe = net.createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  const { stdout } = await run(
    process.execPath,
    ['--import', './test/fixtures/loopback-only.mjs', 'examples/inspector.js', '--exit'],
    { timeout: 30_000, env: { ...process.env, INSPECT_PORT: String(port) } },
  )
  for (const line of [
    '[relay] server: listening (after xstate.init)',
    '[relay] c1: open (after socketOpen)',
    '[relay] c2: open (after socketOpen)',
    '[relay] server: {"draining":"closing"} (after drain)',
    '[relay] c1: closed (after socketClosed)',
    '[relay] c2: closed (after socketClosed)',
    '[server] drained: {"closedCleanly":2,"terminated":0}',
  ]) {
    t.ok(stdout.includes(line), line)
  }
  t.match(stdout, /\[relay\] server: stopped \(after xstate\.done\.actor\.c\d\)/)
})
