/**
 * The guide examples (echo server, line chat, close with timeout, events log, tunnel), run as
 * users run them: plain Node ESM importing the built package by name (`npm test` builds first).
 * A failing example exits non-zero, which rejects `run`.
 */
import t, { type Test } from 'tap'
import { runExample as example } from './support/helpers.js'


function inOrder(t: Test, stdout: string, lines: string[]): void {
  let from = 0
  for (const line of lines) {
    const at = stdout.indexOf(line, from)
    t.ok(at >= 0, `${line} (in order)`)
    if (at >= 0) from = at + line.length
  }
}

t.test('examples/echo-server.js: 100000 bytes echoed intact, both sides see a clean close', async (t) => {
  const stdout = await example('echo-server.js')
  t.ok(stdout.includes('[client] 100000 bytes echoed, equal: true'))
  t.ok(stdout.includes('[server] connection closed: code 1000, clean true, initiator remote'))
  t.ok(stdout.includes('[client] closed: code 1000, clean true'))
})

t.test('examples/line-chat.js: each member hears the others\' lines and joins and leaves, never its own', async (t) => {
  const stdout = await example('line-chat.js')
  t.ok(stdout.includes('[ada] heard: * bob joined | * cy joined | <bob> hi ada | * cy left\n'))
  t.ok(stdout.includes('[bob] heard: * cy joined | <ada> hello, everyone | * cy left | * ada left\n'))
  t.ok(stdout.includes('[cy] heard: <ada> hello, everyone | <bob> hi ada\n'))
})

t.test('examples/close-with-timeout.js: a clean close before the timeout, a frozen peer cut off at it', async (t) => {
  const stdout = await example('close-with-timeout.js')
  t.ok(stdout.includes('[/answers] closed: code 1000, clean true, initiator local, before the 500 ms timeout'))
  t.ok(stdout.includes('[/frozen] closed: code 1006, clean false, initiator local, ERR_WS_TIMEOUT, at the 500 ms timeout'))
})

t.test('examples/events-log.js: paused, resumed, pong, the text error, the 1003 handshake, closed last', async (t) => {
  const stdout = await example('events-log.js')
  inOrder(t, stdout, ['event paused', 'event resumed'])
  inOrder(t, stdout, ['read 65536 bytes', 'ping answered (under a second)', 'read after the text: null'])
  inOrder(t, stdout, [
    'event pong: 2 bytes',
    'event error: ERR_WS_RECEIVED_TEXT: Text messages are not supported.',
    'event state: open → closingSent',
    'event closeFrame: 1003 "Text messages are not supported."',
    'event state: closingSent → closed',
    'event closed: code 1003, clean true, initiator local',
  ])
  t.match(stdout.trimEnd().split('\n').at(-1), /^event closed:/, 'closed is the last line')
})

t.test('examples/tunnel.js: lines cross TCP → WebSocket → TCP and come back upper-cased; the tunnel closes cleanly', async (t) => {
  const stdout = await example('tunnel.js')
  t.ok(stdout.includes('[client] got back:\nHELLO THROUGH THE TUNNEL\nBYTES IN, BYTES OUT\n'))
  t.ok(stdout.includes('[exit] tunnel closed: code 1000, clean true, initiator remote'))
  t.ok(stdout.includes('[exit] drained: {"closedCleanly":0,"terminated":0}'))
})
