/**
 * Every example in examples/, run as users run it: plain Node ESM importing the built package by
 * name (`npm test` builds first, so dist/ is current). A failing example exits non-zero, which
 * fails its test. One row per example: what it must print.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { freePort } from './support/cli.js'

const run = promisify(execFile)

// Each example is a process of its own: two at a time, as when they were four files.
t.jobs = 2

interface Example {
  /** The file under examples/. */
  file: string
  /** Its command-line arguments. */
  args?: string[]
  /** The test's name: what the example shows. */
  shows: string
  /** Lines (or parts of lines) that must be in its output. */
  prints?: string[]
  /** Patterns its output must match. */
  matches?: RegExp[]
  /** Runs of lines that must appear in this order. */
  inOrder?: string[][]
  /** The last of the output lines that `among` picks must match `is`. */
  last?: Array<{ among: (line: string) => boolean; is: RegExp | string; says: string }>
  /** Node flags and environment for the run, worked out just before it. */
  setup?: () => Promise<{ nodeArgs?: string[]; env?: Record<string, string> }>
}

const examples: Example[] = [
  {
    file: 'demo.js',
    shows: 'the demo prints every out-of-band event and exits 0',
    prints: [
      '[client] event state: connecting → open',
      '[client] event pong: 8 bytes',
      '[server] event ping: 8 bytes',
      '[client] event state: open → closingSent',
      '[server] event closeFrame: code 1000 "demo done"',
      '[server] event state: open → closingReceived',
      '[client] event closeFrame: code 1000 "demo done"',
      '[client] event state: closingSent → closed',
      '[client] closed: code 1000, reason "demo done", clean true, initiator local',
      'got back "HELLO OVER A BYTE STREAM"',
    ],
    last: [{ among: (l) => l.startsWith('[client] event'), is: /\[client\] event closed: .*"wasClean":true/, says: 'closed is the client\'s last event' }],
  },
  {
    file: 'echo-server.js',
    shows: '100000 bytes echoed intact, both sides see a clean close',
    prints: [
      '[client] 100000 bytes echoed, equal: true',
      '[server] connection closed: code 1000, clean true, initiator remote',
      '[client] closed: code 1000, clean true',
    ],
  },
  {
    file: 'line-chat.js',
    shows: 'each member hears the others\' lines and joins and leaves, never its own',
    prints: [
      '[ada] heard: * bob joined | * cy joined | <bob> hi ada | * cy left\n',
      '[bob] heard: * cy joined | <ada> hello, everyone | * cy left | * ada left\n',
      '[cy] heard: <ada> hello, everyone | <bob> hi ada\n',
    ],
  },
  {
    file: 'close-with-timeout.js',
    shows: 'a clean close before the timeout, a frozen peer cut off at it',
    prints: [
      '[/answers] closed: code 1000, clean true, initiator local, before the 500 ms timeout',
      '[/frozen] closed: code 1006, clean false, initiator local, ERR_WS_TIMEOUT, at the 500 ms timeout',
    ],
  },
  {
    file: 'events-log.js',
    shows: 'paused, resumed, pong, the text error, the 1003 handshake, closed last',
    inOrder: [
      ['event paused', 'event resumed'],
      ['read 65536 bytes', 'ping answered (under a second)', 'read after the text: null'],
      [
        'event pong: 2 bytes',
        'event error: ERR_WS_RECEIVED_TEXT: Text messages are not supported.',
        'event state: open → closingSent',
        'event closeFrame: 1003 "Text messages are not supported."',
        'event state: closingSent → closed',
        'event closed: code 1003, clean true, initiator local',
      ],
    ],
    last: [{ among: (l) => l !== '', is: /^event closed:/, says: 'closed is the last line' }],
  },
  {
    file: 'tunnel.js',
    shows: 'lines cross TCP → WebSocket → TCP and come back upper-cased; the tunnel closes cleanly',
    prints: [
      '[client] got back:\nHELLO THROUGH THE TUNNEL\nBYTES IN, BYTES OUT\n',
      '[exit] tunnel closed: code 1000, clean true, initiator remote',
      '[exit] drained: {"closedCleanly":0,"terminated":0}',
    ],
  },
  {
    file: 'duplex-pipeline.js',
    shows: 'gzip through one duplex, gunzip from the other, hashes equal, clean close',
    matches: [/server gunzipped 4194304 bytes from \d+ bytes on the wire/],
    prints: ['sha256 equal: true', 'client closed: code 1000, clean true, initiator local'],
  },
  {
    file: 'web-streams.js',
    shows: 'CompressionStream into writable, DecompressionStream out of readable, BYOB, cancel with a code',
    prints: [
      'text equal: true',
      'first connection closed: code 1000, clean true, initiator local',
      'BYOB read 20 bytes as "01234567" + "89abcdef" + "ghij"',
      'the server saw the cancel as: code 4000, reason "seen enough", clean true',
    ],
  },
  {
    file: 'lines.js',
    shows: 'lines answered in upper case, CRLF and split lines included; an over-long line closes with 1009',
    prints: [
      '[client] got "HELLO"',
      '[client] got "FRAMED LINES"',
      '[client] got "ENDED BY CRLF"',
      '[client] got "AND SPLIT OVER TWO WRITES"',
      '[client] closed: code 1000, clean true',
      '[server] ERR_WS_MESSAGE_TOO_LARGE: A line is longer than 80 bytes.',
      '[rude client] a 100-byte line against maxLength 80: closed with 1009',
    ],
  },
  {
    file: 'length-prefixed.js',
    shows: 'frames of 0 B to 1 MiB across small messages; a 2 GiB header closes with 1009',
    prints: [
      '[client] sent 0, got "0 bytes starting with nothing"',
      '[client] sent 5, got "5 bytes starting with 5"',
      '[client] sent 70000, got "70000 bytes starting with 222"',
      '[client] sent 1048576, got "1048576 bytes starting with 149"',
      '[client] closed: code 1000, clean true',
      '[server] ERR_WS_MESSAGE_TOO_LARGE: A frame of 2147483647 bytes is over the limit of 1048576.',
      '[big client] a header announcing 2 GiB: closed with 1009',
    ],
  },
  {
    file: 'embedded-actor.js',
    shows: 'a user machine spawns connection children and records how each left',
    prints: [
      '[room] occupied, 2 member(s)',
      '[alice] member-1 heard: hello from alice',
      '[bob] member-2 heard: hello from bob',
      '[room] member-1 left: code 1000, clean true, initiator remote',
      '[room] member-2 left: code 1006, clean false, initiator none',
      '[member-2] ERR_WS_CONNECTION_RESET',
    ],
    last: [{ among: (l) => l.startsWith('[room] ') && !l.includes('left'), is: '[room] empty, 0 member(s)', says: 'the room ends empty' }],
  },
  {
    file: 'inspector.js',
    args: ['--exit'],
    shows: 'the relay carries the server\'s and every connection\'s states',
    // The relay takes a fixed port (one free a moment ago); the preload keeps it on loopback.
    setup: async () => ({
      nodeArgs: ['--import', './test/fixtures/loopback-only.mjs'],
      env: { INSPECT_PORT: String(await freePort()) },
    }),
    prints: [
      '[relay] server: listening (after xstate.init)',
      '[relay] c1: open (after socketOpen)',
      '[relay] c2: open (after socketOpen)',
      '[relay] server: {"draining":"closing"} (after drain)',
      '[relay] c1: closed (after socketClosed)',
      '[relay] c2: closed (after socketClosed)',
      '[server] drained: {"closedCleanly":2,"terminated":0}',
    ],
    matches: [/\[relay\] server: stopped \(after xstate\.done\.actor\.c\d\)/],
  },
]

function inOrder(t: Test, stdout: string, lines: string[]): void {
  let from = 0
  for (const line of lines) {
    const at = stdout.indexOf(line, from)
    t.ok(at >= 0, `${line} (in order)`)
    if (at >= 0) from = at + line.length
  }
}

for (const example of examples) {
  t.test(`examples/${example.file}: ${example.shows}`, async (t) => {
    const { nodeArgs = [], env = {} } = (await example.setup?.()) ?? {}
    const args = [...nodeArgs, `examples/${example.file}`, ...(example.args ?? [])]
    const { stdout } = await run(process.execPath, args, { timeout: 30_000, env: { ...process.env, ...env } })
    for (const line of example.prints ?? []) t.ok(stdout.includes(line), line)
    for (const pattern of example.matches ?? []) t.match(stdout, pattern)
    for (const lines of example.inOrder ?? []) inOrder(t, stdout, lines)
    for (const { among, is, says } of example.last ?? []) t.match(stdout.split('\n').filter(among).at(-1), is, says)
  })
}
