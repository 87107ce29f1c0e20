/**
 * The `ws-stream` binary's command line: bad arguments, refused connections and handshakes each
 * get a clear message and their own exit status (see `ws-stream --help`).
 */
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { cli, listen } from './support/cli.js'

async function run(t: Test, args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const c = cli(t, args)
  c.child.stdin.end()
  const code = await c.exited
  return { code, stderr: c.stderr(), stdout: c.stdout().toString() }
}

const usageCases: Array<[string, string[], RegExp]> = [
  ['no command', [], /Missing a command: connect or listen/],
  ['an unknown command', ['serve', '8080'], /Unknown command 'serve'/],
  ['an unknown option', ['connect', 'ws://127.0.0.1:1', '--bogus'], /Unknown option '--bogus'/],
  ['connect without a URL', ['connect'], /connect needs a URL/],
  ['connect with an http URL', ['connect', 'http://127.0.0.1:1'], /must start with ws:\/\/ or wss:\/\//],
  ['connect with something that is not a URL', ['connect', 'localhost'], /'localhost' is not a URL/],
  ['a listen-only option on connect', ['connect', 'ws://127.0.0.1:1', '--echo'], /--echo applies to listen, not connect/],
  ['listen without a mode', ['listen', '8080'], /exactly one of --echo, --exec <command>, --to <host:port>/],
  ['listen with two modes', ['listen', '8080', '--echo', '--to', '127.0.0.1:6379'], /exactly one of --echo/],
  ['listen on a port out of range', ['listen', '70000', '--echo'], /port must be a number from 0 to 65535, got '70000'/],
  ['--to without a port', ['listen', '0', '--to', 'example.com'], /--to takes host:port/],
  ['a negative --close-timeout', ['listen', '0', '--echo', '--close-timeout=-1'], /--close-timeout takes a number of milliseconds >= 0, got '-1'/],
  ['a --close-timeout that is not a number', ['listen', '0', '--echo', '--close-timeout', 'soon'], /--close-timeout takes a number of milliseconds >= 0, got 'soon'/],
  ['a fractional --max-connections', ['listen', '0', '--echo', '--max-connections', '1.5'], /--max-connections takes a whole number/],
  ['--text with an unknown policy', ['connect', 'ws://127.0.0.1:1', '--text', 'utf8'], /--text takes bytes or reject, got 'utf8'/],
  ['--quiet with --verbose', ['connect', 'ws://127.0.0.1:1', '-q', '-v'], /--quiet and --verbose exclude each other/],
  ['--timeout on listen', ['listen', '0', '--echo', '--timeout', '5'], /--timeout applies to connect, not listen/],
]

for (const [what, args, message] of usageCases) {
  t.test(`${what} exits 2 with a message that says what is wrong`, async (t) => {
    const { code, stderr } = await run(t, args)
    t.equal(code, 2)
    t.match(stderr, message)
    t.match(stderr, /Run 'ws-stream --help' for usage/)
  })
}

t.test('--help prints the usage and the exit statuses on stdout and exits 0', async (t) => {
  const { code, stdout } = await run(t, ['--help'])
  t.equal(code, 0)
  t.match(stdout, /ws-stream connect <url>/)
  t.match(stdout, /ws-stream listen <port> --to <host:port>/)
  t.match(stdout, /Exit status:/)
})

t.test('connect to a port where nothing listens exits 3 and names the refusal', async (t) => {
  const probe = net.createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  const { code, stderr } = await run(t, ['connect', `ws://127.0.0.1:${port}`])
  t.equal(code, 3)
  t.match(stderr, /cannot connect to ws:\/\/127\.0\.0\.1:\d+\/: ECONNREFUSED/)
})

t.test('connect refused at the upgrade (a full server answers 503) exits 4 with the HTTP status', async (t) => {
  const server = await listen(t, ['--echo', '--max-connections', '0'])
  const { code, stderr } = await run(t, ['connect', server.url])
  t.equal(code, 4)
  t.match(stderr, /refused the WebSocket upgrade with HTTP 503/)
})

t.test('connect to a server that never answers the upgrade exits 5 after --timeout', async (t) => {
  const silent = net.createServer((socket) => socket.on('error', () => {})).listen(0, '127.0.0.1')
  await once(silent, 'listening')
  t.teardown(() => new Promise((resolve) => silent.close(resolve)))
  const sockets = new Set<net.Socket>()
  silent.on('connection', (s) => { sockets.add(s); t.teardown(() => s.destroy()) })
  const { port } = silent.address() as AddressInfo
  const { code, stderr } = await run(t, ['connect', `ws://127.0.0.1:${port}`, '--timeout', '300'])
  t.equal(code, 5)
  t.match(stderr, /did not open within 300 ms/)
  t.equal(sockets.size, 1, 'it did reach the TCP server')
})

t.test('listen on a port already in use exits 6 with EADDRINUSE', async (t) => {
  const first = await listen(t, ['--echo'])
  const { code, stderr } = await run(t, ['listen', String(first.port), '--echo'])
  t.equal(code, 6)
  t.match(stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: EADDRINUSE`))
})
