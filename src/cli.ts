#!/usr/bin/env node
/**
 * The `ws-stream` command: a WebSocket as a byte pipe, for people who reach for websocat or websockify.
 *
 * ```
 * ws-stream connect <url>                          stdin → the connection → stdout
 * ws-stream listen <port> --echo                   echo every connection back
 * ws-stream listen <port> --exec <command>         bridge each connection to a spawned command's stdio
 * ws-stream listen <port> --to <host:port>         bridge each connection to a TCP service
 * ```
 *
 * Exit statuses are listed in {@link exitCodes} and in `ws-stream --help`.
 *
 * @module
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import type { Readable, Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import { connect, HandshakeError, WsStreamServer, type CloseInfo, type WsEvent, type WsStream } from './index.js'

/** The command's exit statuses. A connection's close code maps to `100 + (code - 1000)` for 1001–1015. */
const exitCodes = Object.freeze({
  /** connect: the connection closed with 1000; listen: drained after SIGINT/SIGTERM. */
  ok: 0,
  /** Something unexpected (a bug, an I/O error on stdin/stdout). */
  failure: 1,
  /** Bad arguments; the message says which. */
  usage: 2,
  /** No WebSocket server answered: connection refused, unknown host, reset during the opening. */
  unreachable: 3,
  /** The server answered the upgrade with an HTTP status instead (403, 503 when full, …). */
  handshakeRefused: 4,
  /** The opening did not finish within `--timeout`. */
  openTimeout: 5,
  /** listen: the port cannot be bound (in use, no permission). */
  cannotListen: 6,
  /** connect: the connection closed with an application code (3000–4999). */
  applicationClose: 99,
  /** connect: interrupted by SIGINT (128 + 2) after a graceful close. */
  sigint: 130,
  /** connect: interrupted by SIGTERM (128 + 15) after a graceful close. */
  sigterm: 143,
})

const USAGE = `Usage:
  ws-stream connect <url> [options]            stdin → WebSocket → stdout
  ws-stream listen <port> --echo [options]     echo every connection
  ws-stream listen <port> --exec <command>     bridge each connection to a command's stdin/stdout
  ws-stream listen <port> --to <host:port>     bridge each connection to a TCP service

Options:
  --close-timeout <ms>     how long a close handshake may take (default 5000)
  --text bytes|reject      text messages: join the stream as UTF-8 (bytes) or close with 1003 (reject, default)
  --timeout <ms>           connect: how long the opening may take (default 30000)
  --host <host>            listen: the address to bind (default 127.0.0.1)
  --max-connections <n>    listen: refuse upgrades past n open connections with HTTP 503
  -q, --quiet              print fatal errors only
  -v, --verbose            print every connection event (state, ping, pong, closeFrame, error, closed)
  --progress               a live bytes-and-rate line on stderr
  -h, --help               this text
  --version                the version

WebSocket has no half-close: when stdin ends, connect flushes it and sends Close 1000, and the
peer's bytes still in flight after its Close are lost. SIGINT/SIGTERM close gracefully (listen:
drain every connection with 1001); a second one exits at once.

Exit status:
  0     connect: closed with 1000; listen: stopped by a signal after the drain
  1     unexpected failure
  2     bad arguments
  3     no WebSocket server answered (connection refused, unknown host, reset)
  4     the server refused the upgrade with an HTTP status (403, 503, …)
  5     the opening timed out (--timeout)
  6     listen: cannot bind the port
  99    connect: closed with an application code (3000-4999)
  1xx   connect: closed with code 1000+xx (101 going away, 102 protocol error, 103 text rejected,
        106 reset or close timeout, 109 message too big, 111 server error, 114 bad gateway, …)
  130/143  connect: interrupted by SIGINT/SIGTERM
`

/** Thrown for a bad command line: printed with a pointer to --help, exit status 2. */
class UsageError extends Error {}

type Verbosity = 'quiet' | 'normal' | 'verbose'

interface Common {
  closeTimeout: number
  text: 'bytes' | 'reject'
  verbosity: Verbosity
  progress: boolean
}

interface ConnectCommand extends Common {
  command: 'connect'
  url: string
  timeout: number
}

interface ListenCommand extends Common {
  command: 'listen'
  port: number
  host: string
  maxConnections: number | undefined
  mode: { type: 'echo' } | { type: 'exec'; command: string } | { type: 'to'; host: string; port: number }
}

type Command = ConnectCommand | ListenCommand | { command: 'help' } | { command: 'version' }

const optionSpec = {
  echo: { type: 'boolean' },
  exec: { type: 'string' },
  to: { type: 'string' },
  host: { type: 'string' },
  'close-timeout': { type: 'string' },
  'max-connections': { type: 'string' },
  timeout: { type: 'string' },
  text: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  progress: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const

const listenOnly = ['echo', 'exec', 'to', 'host', 'max-connections'] as const
const connectOnly = ['timeout'] as const

/** Parses and validates the command line; throws {@link UsageError} for anything wrong. */
function parseCommand(argv: string[]): Command {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: optionSpec, allowPositionals: true, strict: true })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) return { command: 'help' }
  if (values.version) return { command: 'version' }
  const [command, target, ...extra] = positionals
  if (command === undefined) throw new UsageError('Missing a command: connect or listen.')
  if (command !== 'connect' && command !== 'listen') throw new UsageError(`Unknown command '${command}': use connect or listen.`)
  if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'.`)
  if (values.quiet && values.verbose) throw new UsageError('--quiet and --verbose exclude each other.')
  const text = values.text ?? 'reject'
  if (text !== 'bytes' && text !== 'reject') throw new UsageError(`--text takes bytes or reject, got '${text}'.`)
  const common: Common = {
    closeTimeout: number('--close-timeout', values['close-timeout'], 5000, 0),
    text,
    verbosity: values.quiet ? 'quiet' : values.verbose ? 'verbose' : 'normal',
    progress: values.progress ?? false,
  }
  const misplaced = (names: readonly string[]): string | undefined => names.find((name) => values[name as keyof typeof values] !== undefined)

  if (command === 'connect') {
    const wrong = misplaced(listenOnly)
    if (wrong) throw new UsageError(`--${wrong} applies to listen, not connect.`)
    if (target === undefined) throw new UsageError('connect needs a URL, e.g. ws-stream connect ws://127.0.0.1:8080')
    let url: URL
    try {
      url = new URL(target)
    } catch {
      throw new UsageError(`'${target}' is not a URL; use ws://host:port/path or wss://…`)
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new UsageError(`The URL must start with ws:// or wss://, got '${url.protocol}//'.`)
    return { command, url: url.href, timeout: number('--timeout', values.timeout, 30_000, 1), ...common }
  }

  const wrong = misplaced(connectOnly)
  if (wrong) throw new UsageError(`--${wrong} applies to connect, not listen.`)
  if (target === undefined) throw new UsageError('listen needs a port, e.g. ws-stream listen 8080 --echo')
  const port = portNumber('port', target)
  const modes = [values.echo ? 'echo' : undefined, values.exec, values.to].filter((m) => m !== undefined)
  if (modes.length !== 1) throw new UsageError('listen needs exactly one of --echo, --exec <command>, --to <host:port>.')
  let mode: ListenCommand['mode']
  if (values.echo) mode = { type: 'echo' }
  else if (values.exec !== undefined) {
    if (values.exec.trim() === '') throw new UsageError('--exec needs a command.')
    mode = { type: 'exec', command: values.exec }
  } else mode = { type: 'to', ...hostPort(values.to!) }
  const maxConnections = values['max-connections'] === undefined ? undefined : number('--max-connections', values['max-connections'], 0, 0, true)
  return { command, port, host: values.host ?? '127.0.0.1', maxConnections, mode, ...common }
}

function number(name: string, raw: string | undefined, fallback: number, min: number, integer = false): number {
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${name} takes ${integer ? 'a whole number' : 'a number of milliseconds'} >= ${min}, got '${raw}'.`)
  }
  return value
}

function portNumber(what: string, raw: string): number {
  const port = Number(raw)
  if (!/^\d+$/.test(raw) || port > 65535) throw new UsageError(`The ${what} must be a number from 0 to 65535, got '${raw}'.`)
  return port
}

/** `host:port`, `[v6]:port` or a bare `port` (meaning 127.0.0.1). */
function hostPort(raw: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(raw) ?? /^()()(\d+)$/.exec(raw)
  if (!match) throw new UsageError(`--to takes host:port (or [ipv6]:port), got '${raw}'.`)
  return { host: match[1] || match[2] || '127.0.0.1', port: portNumber('--to port', match[3]!) }
}

/** Writes diagnostics to stderr at the chosen verbosity; the progress line is redrawn under them. */
class Reporter {
  readonly #verbosity: Verbosity
  #progressLine = ''

  constructor(verbosity: Verbosity) {
    this.#verbosity = verbosity
  }

  /** Fatal errors: always printed. */
  error(message: string): void {
    this.#print(`ws-stream: ${message}`)
  }

  /** Lifecycle lines (listening, accepted, closed): not under --quiet. */
  info(message: string): void {
    if (this.#verbosity !== 'quiet') this.#print(`ws-stream: ${message}`)
  }

  /** Every out-of-band event of `stream`, under --verbose. */
  watch(stream: WsStream, label: string): void {
    if (this.#verbosity !== 'verbose') return
    stream.on('*', (event) => this.#print(`ws-stream: [${label}] ${describe(event)}`))
  }

  progress(line: string, final = false): void {
    this.#progressLine = line
    process.stderr.write(`\r${line}${final ? '\n' : ''}`)
    if (final) this.#progressLine = ''
  }

  #print(line: string): void {
    // Clear the progress line, print, redraw it below.
    const clear = this.#progressLine ? `\r${' '.repeat(this.#progressLine.length)}\r` : ''
    process.stderr.write(`${clear}${line}\n${this.#progressLine}`)
  }
}

function describe(event: WsEvent): string {
  switch (event.type) {
    case 'state': return `state ${event.from} → ${event.to}`
    case 'ping':
    case 'pong': return `${event.type} ${event.data.length} bytes`
    case 'closeFrame': return `closeFrame ${event.code} ${JSON.stringify(event.reason)}`
    case 'error': return `error ${event.error.code}: ${event.error.message}`
    case 'closed': return `closed ${closeSummary(event.info)}`
    default: return event.type
  }
}

function closeSummary(info: CloseInfo): string {
  const reason = info.reason ? ` ${JSON.stringify(info.reason)}` : ''
  const error = info.error ? ` (${info.error.code}: ${info.error.message})` : ''
  return `code ${info.code}${reason}, ${info.wasClean ? 'clean' : 'unclean'}, initiator ${info.initiator}${error}`
}

/** Counts bytes of every stream it is given (live ones through `stats`) and redraws a pv-like line. */
class Progress {
  readonly #live = new Set<WsStream>()
  #doneIn = 0
  #doneOut = 0
  #lastTotal = 0
  #lastTime = performance.now()
  #rate = 0
  readonly #started = performance.now()
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(readonly reporter: Reporter) {}

  add(stream: WsStream): void {
    this.#live.add(stream)
    void stream.closed.then(() => {
      this.#live.delete(stream)
      this.#doneIn += stream.stats.bytesRead
      this.#doneOut += stream.stats.bytesWritten
    })
  }

  start(): void {
    this.#timer = setInterval(() => this.draw(), 500)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.draw(true)
  }

  draw(final = false): void {
    let bytesIn = this.#doneIn
    let bytesOut = this.#doneOut
    for (const stream of this.#live) {
      bytesIn += stream.stats.bytesRead
      bytesOut += stream.stats.bytesWritten
    }
    const now = performance.now()
    const total = bytesIn + bytesOut
    if (now > this.#lastTime) this.#rate = ((total - this.#lastTotal) * 1000) / (now - this.#lastTime)
    this.#lastTotal = total
    this.#lastTime = now
    const elapsed = ((now - this.#started) / 1000).toFixed(1)
    const rate = final ? (total * 1000) / Math.max(1, now - this.#started) : this.#rate
    this.reporter.progress(`in ${size(bytesIn)}  out ${size(bytesOut)}  ${size(rate)}/s  ${elapsed}s  ${this.#live.size} open`, final)
  }
}

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}

/** Resolves once `output` can take more, or once it is gone (so a dead pipe never hangs a loop). */
function drained(output: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      output.off('drain', done)
      output.off('close', done)
      output.off('error', done)
      resolve()
    }
    output.on('drain', done)
    output.on('close', done)
    output.on('error', done)
  })
}

/**
 * Joins `stream` to a byte source and sink: the peer's bytes go to `output` (ended when the
 * peer's Close arrives), `input`'s bytes go to the peer; when `input` ends, the connection is
 * flushed and closed with 1000. Resolves with how the connection ended, once `output` has
 * everything. `input` is destroyed if the connection ends first.
 */
async function bridge(stream: WsStream, input: Readable, output: Writable): Promise<CloseInfo> {
  output.on('error', () => {}) // a sink that went away (EPIPE, a reset TCP peer) just stops the copy
  input.on('error', () => {})

  const inbound = (async () => {
    try {
      for (let chunk; (chunk = await stream.read()) !== null;) {
        if (output.destroyed) continue // keep reading so that the close handshake can finish
        if (!output.write(chunk)) await drained(output)
      }
    } catch {
      // A reset or a protocol error: reported by the 'closed' info and the verbose events.
    }
    if (!output.destroyed) await new Promise<void>((resolve) => output.end(resolve))
  })()

  const outbound = (async () => {
    try {
      for await (const chunk of input) await stream.write(chunk as Buffer)
      await stream.flush()
      await stream.close(1000)
    } catch {
      // The connection closed first (the write rejected) or input was destroyed because of it.
    }
  })()

  const info = await stream.closed
  await inbound // first: `input` may be the same socket as `output`, still taking the peer's last bytes
  if (!input.readableEnded) input.destroy()
  await outbound
  return info
}

/** connect's exit status for a connection that ended with `info`. */
function exitCodeFor(info: CloseInfo): number {
  if (info.code === 1000) return exitCodes.ok
  if (info.code > 1000 && info.code <= 1015) return 100 + (info.code - 1000)
  return exitCodes.applicationClose
}

async function runConnect(options: ConnectCommand, reporter: Reporter): Promise<number> {
  let stream: WsStream
  try {
    stream = await connect(options.url, {
      timeout: options.timeout,
      stream: { closeTimeout: options.closeTimeout, text: options.text },
    })
  } catch (error) {
    const err = error as Error & { code?: string; cause?: { code?: string } }
    if (err instanceof HandshakeError && err.status !== undefined) {
      reporter.error(`${options.url} refused the WebSocket upgrade with HTTP ${err.status}.`)
      return exitCodes.handshakeRefused
    }
    if (err.code === 'ERR_WS_TIMEOUT') {
      reporter.error(`${options.url} did not open within ${options.timeout} ms.`)
      return exitCodes.openTimeout
    }
    if (err instanceof HandshakeError) {
      const why = err.cause?.code ? `${err.cause.code}` : err.message
      reporter.error(`cannot connect to ${options.url}: ${why}`)
      return exitCodes.unreachable
    }
    throw error
  }

  reporter.watch(stream, 'client')
  const progress = options.progress ? new Progress(reporter) : undefined
  progress?.add(stream)
  progress?.start()

  let interrupted: number | undefined
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted !== undefined) process.exit(interrupted) // second signal: no more waiting
    interrupted = signal === 'SIGINT' ? exitCodes.sigint : exitCodes.sigterm
    reporter.info(`${signal}: closing`)
    void stream.close(1000, '').catch(() => {})
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const info = await bridge(stream, process.stdin, process.stdout)
  progress?.stop()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  if (info.code !== 1000 || !info.wasClean) reporter.info(`closed: ${closeSummary(info)}`)
  return interrupted ?? exitCodeFor(info)
}

async function runListen(options: ListenCommand, reporter: Reporter): Promise<number> {
  const server = new WsStreamServer({
    port: options.port,
    host: options.host,
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    stream: { closeTimeout: options.closeTimeout, text: options.text },
  })
  try {
    await server.listening
  } catch (error) {
    const err = error as NodeJS.ErrnoException
    reporter.error(`cannot listen on ${options.host}:${options.port}: ${err.code ?? err.message}`)
    await server.close({ timeout: 0 })
    return exitCodes.cannotListen
  }
  const address = server.address()
  const where = typeof address === 'string' ? address : `ws://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
  reporter.info(`listening on ${where} (${describeMode(options.mode)})`)

  const progress = options.progress ? new Progress(reporter) : undefined
  progress?.start()
  const handlers = new Set<Promise<void>>()
  let nextId = 0
  server.on('connection', (stream, request) => {
    const label = `#${++nextId} ${request.socket.remoteAddress}:${request.socket.remotePort}`
    reporter.info(`${label} open`)
    reporter.watch(stream, label)
    progress?.add(stream)
    const handled = serve(stream, options, label, reporter)
      .then((info) => reporter.info(`${label} closed: ${closeSummary(info)}`))
      .catch((error: Error) => reporter.error(`${label}: ${error.message}`))
      .finally(() => handlers.delete(handled))
    handlers.add(handled)
  })

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
  const again = (): never => process.exit(signal === 'SIGINT' ? exitCodes.sigint : exitCodes.sigterm)
  process.once('SIGINT', again)
  process.once('SIGTERM', again)
  reporter.info(`${signal}: draining ${server.connections.size} connection(s)`)
  const report = await server.close({ timeout: options.closeTimeout })
  await Promise.all(handlers)
  progress?.stop()
  reporter.info(`stopped: ${report.closedCleanly} closed cleanly, ${report.terminated} terminated`)
  return exitCodes.ok
}

function describeMode(mode: ListenCommand['mode']): string {
  if (mode.type === 'echo') return 'echo'
  if (mode.type === 'exec') return `exec ${mode.command}`
  return `to ${mode.host}:${mode.port}`
}

/** Serves one accepted connection in the chosen mode; resolves with how it ended. */
async function serve(stream: WsStream, options: ListenCommand, label: string, reporter: Reporter): Promise<CloseInfo> {
  const { mode } = options
  if (mode.type === 'echo') {
    try {
      for (let chunk; (chunk = await stream.read()) !== null;) await stream.write(chunk)
      await stream.close(1000)
    } catch {
      // The peer closed or reset first; stream.closed says how.
    }
    return stream.closed
  }

  if (mode.type === 'exec') {
    const child = spawn(mode.command, { shell: true, stdio: ['pipe', 'pipe', 'inherit'] })
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', (error) => {
        reporter.error(`${label}: cannot run '${mode.command}': ${error.message}`)
        resolve(null)
      })
      child.once('exit', (code) => resolve(code))
    })
    const info = await bridge(stream, child.stdout, child.stdin)
    // The connection is over: a command that does not end with its stdin gets the close timeout, then SIGTERM.
    const timer = setTimeout(() => child.kill('SIGTERM'), options.closeTimeout)
    const code = await exited
    clearTimeout(timer)
    if (code !== 0 && code !== null) reporter.info(`${label} '${mode.command}' exited with ${code}`)
    return info
  }

  const socket = net.connect({ host: mode.host, port: mode.port })
  const connected = await new Promise<Error | undefined>((resolve) => {
    socket.once('connect', () => resolve(undefined))
    socket.once('error', resolve)
  })
  if (connected) {
    const why = (connected as NodeJS.ErrnoException).code ?? connected.message
    reporter.error(`${label}: cannot reach ${mode.host}:${mode.port}: ${why}`)
    socket.destroy()
    // 1014 Bad Gateway: the service behind us is unavailable.
    return stream.close(1014, 'Bad Gateway')
  }
  const info = await bridge(stream, socket, socket)
  socket.destroy()
  return info
}

/** Runs the command line `argv` (without node and the script) and resolves with the exit status. */
async function main(argv: string[]): Promise<number> {
  let command: Command
  try {
    command = parseCommand(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`ws-stream: ${error.message}\nRun 'ws-stream --help' for usage.\n`)
    return exitCodes.usage
  }
  if (command.command === 'help') {
    process.stdout.write(USAGE)
    return exitCodes.ok
  }
  if (command.command === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    process.stdout.write(`${pkg.version}\n`)
    return exitCodes.ok
  }
  const reporter = new Reporter(command.verbosity)
  try {
    return command.command === 'connect' ? await runConnect(command, reporter) : await runListen(command, reporter)
  } catch (error) {
    reporter.error(`unexpected failure: ${(error as Error).stack ?? String(error)}`)
    return exitCodes.failure
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`ws-stream: ${String(error)}\n`)
  process.exit(exitCodes.failure)
})
