/**
 * The `ws-stream` argument parser, in-process: what a command line turns into, and that bad ones
 * are a UsageError naming what is wrong (the spawned binary's exit statuses are in cli-args.test.ts).
 */
import t from 'tap'
import { parseCommand, UsageError } from '../src/cli/args.js'

t.test('connect takes a URL and fills in the defaults', async (t) => {
  t.same(parseCommand(['connect', 'ws://127.0.0.1:8080/x']), {
    command: 'connect',
    url: 'ws://127.0.0.1:8080/x',
    timeout: 30_000,
    closeTimeout: 5000,
    text: 'reject',
    verbosity: 'normal',
    progress: false,
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
  for (const [argv, message] of cases) {
    let error: unknown
    try {
      parseCommand(argv)
    } catch (e) {
      error = e
    }
    t.type(error, UsageError, argv.join(' '))
    t.match((error as Error).message, message, argv.join(' '))
  }
})
