/**
 * The `ws-stream` argument parser, in-process: what a command line turns into, and that bad ones
 * are a UsageError naming what is wrong (the spawned binary's exit statuses are in cli-args.test.ts).
 */
import t, { type Test } from 'tap'
import { parseCommand, UsageError } from '../src/cli/args.js'

/** `argv` is refused with a UsageError whose message matches `message`. */
function refuses(t: Test, argv: string[], message: RegExp): void {
  let error: unknown
  try {
    parseCommand(argv)
  } catch (e) {
    error = e
  }
  t.type(error, UsageError, argv.join(' '))
  t.match((error as Error | undefined)?.message, message, argv.join(' '))
}

t.test('connect takes a URL and fills in the defaults', async (t) => {
  t.same(parseCommand(['connect', 'ws://127.0.0.1:8080/x']), {
    command: 'connect',
    url: 'ws://127.0.0.1:8080/x',
    timeout: 30_000,
    closeTimeout: 5000,
    text: 'reject',
    verbosity: 'normal',
    progress: false,
    insecure: false,
    headers: [],
    protocols: [],
    compress: false,
  })
})

t.test('listen --to takes host:port, [v6]:port or a bare port', async (t) => {
  t.match(parseCommand(['listen', '0', '--to', 'example.com:6379']), { mode: { type: 'to', host: 'example.com', port: 6379 } })
  t.match(parseCommand(['listen', '0', '--to', '[::1]:22']), { mode: { type: 'to', host: '::1', port: 22 } })
  t.match(parseCommand(['listen', '0', '--to', '6379']), { mode: { type: 'to', host: '127.0.0.1', port: 6379 } })
})

t.test('listen options land in the command', async (t) => {
  t.match(parseCommand(['listen', '9000', '--exec', 'cat', '--host', '::1', '--max-connections', '3', '-v', '--text', 'bytes']), {
    command: 'listen', port: 9000, host: '::1', maxConnections: 3, verbosity: 'verbose', text: 'bytes',
    mode: { type: 'exec', command: 'cat' },
  })
})

t.test('help and version win over everything else', async (t) => {
  t.same(parseCommand(['connect', '--help']), { command: 'help' })
  t.same(parseCommand(['--version']), { command: 'version' })
})

t.test('bad command lines are UsageErrors that say what is wrong', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /Missing a command/],
    [['listen', '0'], /exactly one of --echo/],
    [['listen', '0', '--exec', '  '], /--exec needs a command/],
    [['connect', 'ws://h', '--close-timeout', ''], /--close-timeout takes a number/],
    [['listen', 'x', '--echo'], /port must be a number/],
  ]
  for (const [argv, message] of cases) refuses(t, argv, message)
})

t.test('connect\'s TLS, proxy, header, subprotocol and compression flags land in the command', async (t) => {
  t.match(parseCommand(['connect', 'wss://h/x', '--ca', 'ca.pem', '--proxy', 'http://u:p@proxy:3128', '-H', 'Authorization: Bearer a:b', '--header', 'X-A:1', '--protocol', 'v2', '--protocol', 'v1', '--compress']), {
    command: 'connect', url: 'wss://h/x', ca: 'ca.pem', insecure: false, proxy: 'http://u:p@proxy:3128/',
    headers: [['Authorization', 'Bearer a:b'], ['X-A', '1']], protocols: ['v2', 'v1'], compress: true,
  })
  t.match(parseCommand(['connect', 'wss://h', '--insecure', '--proxy', 'proxy.example:8080']), { insecure: true, proxy: 'http://proxy.example:8080/' }, 'a proxy without a scheme is http://, as in curl')
  t.match(parseCommand(['connect', 'ws+unix:/tmp/s.sock:/path']), { url: 'ws+unix:/tmp/s.sock:/path' })
})

t.test('listen\'s TLS, unix, subprotocol and compression flags land in the command', async (t) => {
  t.match(parseCommand(['listen', '8443', '--echo', '--cert', 'c.pem', '--key', 'k.pem', '--protocol', 'chat', '--compress']), {
    port: 8443, tls: { cert: 'c.pem', key: 'k.pem' }, protocols: ['chat'], compress: true,
  })
  const unix = parseCommand(['listen', '--unix', '/tmp/s.sock', '--to', '6379'])
  t.match(unix, { command: 'listen', unix: '/tmp/s.sock', mode: { type: 'to', port: 6379 } })
  t.notOk('tls' in unix, 'no TLS unless asked')
})

t.test('--resume and --resume-timeout land in both commands; without --resume there is no resume at all', async (t) => {
  t.match(parseCommand(['connect', 'ws://h', '--resume']), { command: 'connect', resume: { timeout: 30_000 } })
  t.match(parseCommand(['connect', 'ws://h', '--resume', '--resume-timeout', '2500', '--protocol', 'chat']), { resume: { timeout: 2500 }, protocols: ['chat'] })
  for (const mode of [['--echo'], ['--exec', 'cat'], ['--to', '6379']]) {
    t.match(parseCommand(['listen', '0', ...mode, '--resume', '--resume-timeout', '800']), { command: 'listen', resume: { timeout: 800 } }, mode[0])
  }
  t.notOk('resume' in parseCommand(['connect', 'ws://h']), 'connect without --resume')
  t.notOk('resume' in parseCommand(['listen', '0', '--echo']), 'listen without --resume')
})

t.test('the new flags\' bad values are UsageErrors naming the flag', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['listen', '0', '--echo', '--cert', 'c.pem'], /--cert needs --key/],
    [['listen', '0', '--echo', '--key', 'k.pem'], /--key needs --cert/],
    [['listen', '0', '--echo', '--cert', '', '--key', 'k'], /--cert needs a file/],
    [['connect', 'wss://h', '--ca', ''], /--ca needs a file/],
    [['connect', 'wss://h', '--ca', 'ca.pem', '--insecure'], /--ca and --insecure exclude each other/],
    [['connect', 'ws://h', '--ca', 'ca.pem'], /--ca applies to wss:\/\/ URLs, got 'ws:\/\/'/],
    [['connect', 'ws://h', '--insecure'], /--insecure applies to wss:\/\/ URLs/],
    [['connect', 'ws://h', '--proxy', 'http://:3128'], /--proxy must be an http:\/\/ or https:\/\/ proxy URL with a host/],
    [['connect', 'ws://h', '--proxy', 'socks5://p:1080'], /--proxy must be an http:\/\/ or https:\/\/ proxy URL/],
    [['connect', 'ws+unix:/tmp/s', '--proxy', 'http://p:1'], /--proxy does not apply to ws\+unix: URLs/],
    [['connect', 'ws://h', '-H', 'NoColon'], /--header takes 'Name: value', got 'NoColon' \(no colon\)/],
    [['connect', 'ws://h', '-H', 'Bad Name: x'], /--header: 'Bad Name' is not a header name/],
    [['connect', 'ws://h', '-H', 'X-A: one\r\nX-B: two'], /--header: the value of 'X-A' has a line break/],
    [['connect', 'ws://h', '-H', 'Sec-WebSocket-Protocol: chat'], /--header 'Sec-WebSocket-Protocol' is set by the WebSocket handshake: use --protocol/],
    [['connect', 'ws://h', '-H', 'upgrade: h2c'], /--header 'upgrade' is set by the WebSocket handshake/],
    [['connect', 'ws://h', '--protocol', 'a b'], /--protocol takes a subprotocol name .*got 'a b'/],
    [['connect', 'ws://h', '--protocol', 'x', '--protocol', 'x'], /--protocol 'x' is given twice/],
    [['listen', '0', '--echo', '--protocol', 'a,b'], /--protocol takes a subprotocol name/],
    [['listen', '8080', '--unix', '/tmp/s', '--echo'], /--unix replaces the port: give one or the other, got port '8080'/],
    [['listen', '--unix', '/tmp/s', '--host', '::1', '--echo'], /--unix and --host exclude each other/],
    [['listen', '--unix', '', '--echo'], /--unix needs a socket path/],
    [['connect', 'ws://h', '--unix', '/tmp/s'], /--unix applies to listen, not connect/],
    [['connect', 'ws://h', '--cert', 'c.pem'], /--cert applies to listen, not connect/],
    [['listen', '0', '--echo', '--proxy', 'http://p:1'], /--proxy applies to connect, not listen/],
    [['listen', '0', '--echo', '-H', 'A: b'], /--header applies to connect, not listen/],
    [['connect', 'http://h'], /must start with ws:\/\/ or wss:\/\/ \(or ws\+unix:/],
    [['connect', 'ws://h', '--resume-timeout', '1000'], /--resume-timeout needs --resume/],
    [['listen', '0', '--echo', '--resume', '--resume-timeout', '0'], /--resume-timeout takes a number of milliseconds >= 1, got '0'/],
    [['connect', 'ws://h', '--resume', '--resume-timeout', 'soon'], /--resume-timeout takes a number/],
    [['listen', '0', '--echo', '--resume', '--workers', '2'], /--resume keeps each session in one process: it excludes --workers/],
    [['listen', '0', '--echo', '--resume', '--protocol', 'chat'], /on listen it excludes --protocol/],
  ]
  for (const [argv, message] of cases) refuses(t, argv, message)
})
