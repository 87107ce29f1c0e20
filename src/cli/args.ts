/**
 * The `ws-stream` command line: the exit statuses, the usage text and the parser that turns argv
 * into a validated {@link Command}. No I/O here, so the parser is tested in-process.
 *
 * @module
 */
import { parseArgs } from 'node:util'
import { parseProxyUrl } from '../proxy.js'

/** The command's exit statuses. A connection's close code maps to `100 + (code - 1000)` for 1001–1015. */
export const exitCodes = Object.freeze({
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
  /** connect: the server's TLS certificate failed verification (unknown CA, wrong host name, expired). */
  certificateRejected: 7,
  /** connect: the connection closed with an application code (3000–4999). */
  applicationClose: 99,
  /** connect: interrupted by SIGINT (128 + 2) after a graceful close. */
  sigint: 130,
  /** connect: interrupted by SIGTERM (128 + 15) after a graceful close. */
  sigterm: 143,
})

/** The text of `ws-stream --help`. */
export const USAGE = `Usage:
  ws-stream connect <url> [options]            stdin → WebSocket → stdout (ws://, wss://, ws+unix:/path[:/request-path])
  ws-stream listen <port> --echo [options]     echo every connection (--unix <path> instead of <port>)
  ws-stream listen <port> --exec <command>     bridge each connection to a command's stdin/stdout
  ws-stream listen <port> --to <host:port>     bridge each connection to a TCP service

Options:
  --close-timeout <ms>     how long a close handshake may take (default 5000)
  --text bytes|reject      text messages: join the stream as UTF-8 (bytes) or close with 1003 (reject, default)
  --timeout <ms>           connect: how long the opening may take (default 30000)
  --host <host>            listen: the address to bind (default 127.0.0.1)
  --max-connections <n>    listen: refuse upgrades past n open connections with HTTP 503
  --cert <file> --key <file>  listen: serve wss:// with this PEM certificate (chain) and private key
  --unix <path>            listen: on a unix socket instead of a TCP port (the file is removed on exit)
  --ca <file>              connect: trust the certificate authorities in this PEM file for wss://
  --insecure               connect: do not verify the server's certificate (says so on stderr)
  --proxy <url>            connect: tunnel through an HTTP proxy, http://[user:pass@]host:port (HTTP CONNECT);
                           without it, https_proxy/HTTPS_PROXY (wss) or http_proxy/HTTP_PROXY (ws) and
                           no_proxy/NO_PROXY are read as curl does
  -H, --header <'Name: value'>  connect: an extra request header (repeatable)
  --protocol <name>        connect: offer this subprotocol (repeatable, in order of preference);
                           listen: accept only these subprotocols (others are refused with HTTP 400)
  --compress               permessage-deflate (connect offers it, listen accepts it); off by default
  --resume                 a resumable stream: connect reconnects after a dropped connection and the
                           stream carries on, every byte once; listen keeps a dropped session for its
                           client (both ends need it; see docs/resume.md)
  --resume-timeout <ms>    with --resume: how long a dropped connection may take to resume (default 30000)
  --admin <host:port>      listen: serve /metrics, /healthz, /readyz, /connections and the dashboard (/) over HTTP there
  --admin-token <token>    listen: the dashboard's drain button (POST /drain) requires this bearer token;
                           without it the dashboard is read-only (not with --workers)
  --drain-timeout <ms>     listen: on SIGTERM/SIGINT, how long connections get to close (default: --close-timeout)
  --workers <n>            listen: n processes share the port (node:cluster); a dead one is replaced
  -q, --quiet              print fatal errors only
  -v, --verbose            print every connection event (state, ping, pong, closeFrame, error, closed,
                           interrupted, reconnecting, resumed)
  --progress               a live bytes-and-rate line on stderr
  -h, --help               this text
  --version                the version

A Close works as a half-close (a TCP FIN), in both directions: when stdin ends, connect flushes
it and sends Close 1000, and keeps writing the peer's bytes to stdout until the peer's Close. On
listen, a peer's Close ends the command's stdin (--exec) or the TCP connection's sending side
(--to), and our Close follows once the command's stdout or the service's side has ended, after
every byte of it. SIGINT/SIGTERM close gracefully (listen: drain every connection with 1001); a
second one exits at once.

Exit status:
  0     connect: closed with 1000; listen: stopped by a signal after the drain
  1     unexpected failure
  2     bad arguments
  3     no WebSocket server answered (connection refused, unknown host, reset)
  4     the server refused the upgrade with an HTTP status (403, 503, …)
  5     the opening timed out (--timeout)
  6     listen: cannot bind the port
  7     connect: the server's TLS certificate was rejected (unknown CA: use --ca; wrong host; expired)
  99    connect: closed with an application code (3000-4999)
  1xx   connect: closed with code 1000+xx (101 going away, 102 protocol error, 103 text rejected,
        106 reset or close timeout, 109 message too big, 111 server error, 114 bad gateway, …)
  130/143  connect: interrupted by SIGINT/SIGTERM
`

/** Thrown for a bad command line: printed with a pointer to --help, exit status 2. */
export class UsageError extends Error {}

export type Verbosity = 'quiet' | 'normal' | 'verbose'

export interface Common {
  closeTimeout: number
  text: 'bytes' | 'reject'
  verbosity: Verbosity
  progress: boolean
  /** --resume (and --resume-timeout): a resumable stream; absent without --resume. */
  resume?: { timeout: number }
}

export interface ConnectCommand extends Common {
  command: 'connect'
  url: string
  timeout: number
  /** --ca: a PEM file of the certificate authorities to trust for wss:// (instead of Node's). */
  ca?: string
  /** --insecure: do not verify the server's certificate. */
  insecure: boolean
  /** --proxy: an explicit HTTP proxy URL; without it, the environment's (curl's rules) applies. */
  proxy?: string
  /** -H/--header, in order: [name, value]. */
  headers: Array<[string, string]>
  /** --protocol: the subprotocols to offer, in order of preference. */
  protocols: string[]
  /** --compress: offer permessage-deflate. */
  compress: boolean
}

export interface ListenCommand extends Common {
  command: 'listen'
  /** The TCP port (0 and unused with `unix`). */
  port: number
  host: string
  /** --unix: listen on this unix socket path instead of a TCP port. */
  unix?: string
  /** --cert and --key: PEM files; both or neither (then plain ws://). */
  tls?: { cert: string; key: string }
  /** --protocol: the only subprotocols accepted; empty for any (and none). */
  protocols: string[]
  /** --compress: accept permessage-deflate. */
  compress: boolean
  maxConnections: number | undefined
  /** Where to serve the admin endpoints, if anywhere. */
  admin: { host: string; port: number } | undefined
  /** --admin-token: the bearer token of the dashboard's drain (POST /drain); without it, read-only. */
  adminToken?: string
  /** Milliseconds a drain (SIGINT/SIGTERM) gives connections to close. */
  drainTimeout: number
  /** Worker processes sharing the port; undefined: this process serves alone. */
  workers: number | undefined
  mode: { type: 'echo' } | { type: 'exec'; command: string } | { type: 'to'; host: string; port: number }
}

export type Command = ConnectCommand | ListenCommand | { command: 'help' } | { command: 'version' }

const optionSpec = {
  echo: { type: 'boolean' },
  exec: { type: 'string' },
  to: { type: 'string' },
  host: { type: 'string' },
  'close-timeout': { type: 'string' },
  'max-connections': { type: 'string' },
  admin: { type: 'string' },
  'admin-token': { type: 'string' },
  'drain-timeout': { type: 'string' },
  workers: { type: 'string' },
  timeout: { type: 'string' },
  text: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  progress: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  cert: { type: 'string' },
  key: { type: 'string' },
  unix: { type: 'string' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
  proxy: { type: 'string' },
  header: { type: 'string', short: 'H', multiple: true },
  protocol: { type: 'string', multiple: true },
  compress: { type: 'boolean' },
  resume: { type: 'boolean' },
  'resume-timeout': { type: 'string' },
} as const

const listenOnly = ['echo', 'exec', 'to', 'host', 'max-connections', 'cert', 'key', 'unix', 'admin', 'admin-token', 'drain-timeout', 'workers'] as const
const connectOnly = ['timeout', 'ca', 'insecure', 'proxy', 'header'] as const

/** Parses and validates the command line; throws {@link UsageError} for anything wrong. */
export function parseCommand(argv: string[]): Command {
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
    ...resumeFlags(values),
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
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:' && url.protocol !== 'ws+unix:') {
      throw new UsageError(`The URL must start with ws:// or wss:// (or ws+unix:/path), got '${url.protocol}//'.`)
    }
    return { command, url: url.href, timeout: number('--timeout', values.timeout, 30_000, 1), ...connectFlags(url, values), ...common }
  }

  const wrong = misplaced(connectOnly)
  if (wrong) throw new UsageError(`--${wrong} applies to connect, not listen.`)
  const unix = unixPath(values.unix, target, values.host)
  if (target === undefined && unix === undefined) throw new UsageError('listen needs a port, e.g. ws-stream listen 8080 --echo')
  const port = target === undefined ? 0 : portNumber('port', target)
  const modes = [values.echo ? 'echo' : undefined, values.exec, values.to].filter((m) => m !== undefined)
  if (modes.length !== 1) throw new UsageError('listen needs exactly one of --echo, --exec <command>, --to <host:port>.')
  let mode: ListenCommand['mode']
  if (values.echo) mode = { type: 'echo' }
  else if (values.exec !== undefined) {
    if (values.exec.trim() === '') throw new UsageError('--exec needs a command.')
    mode = { type: 'exec', command: values.exec }
  } else mode = { type: 'to', ...hostPort(values.to!) }
  const maxConnections = values['max-connections'] === undefined ? undefined : number('--max-connections', values['max-connections'], 0, 0, true)
  const admin = values.admin === undefined ? undefined : hostPort(values.admin, '--admin')
  const drainTimeout = number('--drain-timeout', values['drain-timeout'], common.closeTimeout, 0)
  const workers = values.workers === undefined ? undefined : number('--workers', values.workers, 1, 1, true)
  if (common.resume !== undefined) {
    // A session lives in the process that accepted it; a reconnect may reach another worker.
    if (workers !== undefined) throw new UsageError('--resume keeps each session in one process: it excludes --workers.')
    // A resuming client offers only ws-stream.resume.v1, which --protocol's check would refuse.
    if (values.protocol !== undefined) throw new UsageError('--resume negotiates the subprotocol ws-stream.resume.v1: on listen it excludes --protocol.')
  }
  const adminToken = values['admin-token']
  if (adminToken !== undefined) {
    if (admin === undefined) throw new UsageError('--admin-token needs --admin <host:port>.')
    if (adminToken === '') throw new UsageError('--admin-token needs a token.')
    if (workers !== undefined) throw new UsageError('--admin-token applies to the dashboard, which is not served with --workers (its /metrics and /connections are).')
  }
  return {
    command, port, host: values.host ?? '127.0.0.1', ...(unix === undefined ? {} : { unix }), maxConnections, admin, ...(adminToken === undefined ? {} : { adminToken }), drainTimeout, workers, mode,
    ...listenFlags(values), ...common,
  }
}

type Values = ReturnType<typeof parseArgs<{ options: typeof optionSpec; allowPositionals: true; strict: true }>>['values']

/** connect's TLS, proxy, header, subprotocol and compression flags, checked. */
function connectFlags(url: URL, values: Values): Pick<ConnectCommand, 'ca' | 'insecure' | 'proxy' | 'headers' | 'protocols' | 'compress'> {
  const insecure = values.insecure ?? false
  if (values.ca !== undefined && insecure) throw new UsageError('--ca and --insecure exclude each other.')
  if (values.ca === '') throw new UsageError('--ca needs a file (PEM).')
  const tlsFlag = values.ca !== undefined ? '--ca' : insecure ? '--insecure' : undefined
  if (tlsFlag && url.protocol !== 'wss:') throw new UsageError(`${tlsFlag} applies to wss:// URLs, got '${url.protocol}//'.`)
  let proxy: string | undefined
  if (values.proxy !== undefined) {
    if (url.protocol === 'ws+unix:') throw new UsageError('--proxy does not apply to ws+unix: URLs.')
    proxy = proxyUrl(values.proxy)
  }
  return {
    ...(values.ca === undefined ? {} : { ca: values.ca }),
    insecure,
    ...(proxy === undefined ? {} : { proxy }),
    headers: (values.header ?? []).map(header),
    protocols: protocolList(values.protocol),
    compress: values.compress ?? false,
  }
}

/** listen's TLS, subprotocol and compression flags, checked. */
function listenFlags(values: Values): Pick<ListenCommand, 'tls' | 'protocols' | 'compress'> {
  const { cert, key } = values
  if ((cert === undefined) !== (key === undefined)) throw new UsageError(cert === undefined ? '--key needs --cert (a PEM certificate file).' : '--cert needs --key (a PEM private key file).')
  if (cert === '' || key === '') throw new UsageError(`${cert === '' ? '--cert' : '--key'} needs a file (PEM).`)
  return {
    ...(cert === undefined ? {} : { tls: { cert, key: key! } }),
    protocols: protocolList(values.protocol),
    compress: values.compress ?? false,
  }
}

/** --resume and --resume-timeout, for both commands. */
function resumeFlags(values: Values): Pick<Common, 'resume'> {
  const raw = values['resume-timeout']
  if (!values.resume) {
    if (raw !== undefined) throw new UsageError('--resume-timeout needs --resume.')
    return {}
  }
  return { resume: { timeout: number('--resume-timeout', raw, 30_000, 1) } }
}

/** --unix's path; it replaces the port and --host. */
function unixPath(path: string | undefined, port: string | undefined, host: string | undefined): string | undefined {
  if (path === undefined) return undefined
  if (path === '') throw new UsageError('--unix needs a socket path.')
  if (port !== undefined) throw new UsageError(`--unix replaces the port: give one or the other, got port '${port}'.`)
  if (host !== undefined) throw new UsageError('--unix and --host exclude each other.')
  return path
}

/** --proxy's URL, checked as connect() checks its `proxy` option. */
function proxyUrl(raw: string): string {
  try {
    return parseProxyUrl(raw, '--proxy').href
  } catch (error) {
    throw new UsageError(`${(error as Error).message}.`)
  }
}

// RFC 9110 section 5.6.2: a token (header names, subprotocol names).
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// Headers the WebSocket handshake itself sets; each has a flag of its own or none.
const handshakeHeaders = new Map([
  ['sec-websocket-protocol', 'use --protocol'],
  ['sec-websocket-extensions', 'use --compress'],
  ['sec-websocket-key', 'it is random per connection'],
  ['sec-websocket-version', 'it is always 13'],
  ['upgrade', 'it is always websocket'],
  ['connection', 'it is always Upgrade'],
])

/** -H's 'Name: value'. */
function header(raw: string): [string, string] {
  const colon = raw.indexOf(':')
  if (colon === -1) throw new UsageError(`--header takes 'Name: value', got '${raw}' (no colon).`)
  const name = raw.slice(0, colon).trim()
  const value = raw.slice(colon + 1).trim()
  if (!token.test(name)) throw new UsageError(`--header: '${name}' is not a header name, in '${raw}'.`)
  if (/[\r\n\0]/.test(value)) throw new UsageError(`--header: the value of '${name}' has a line break or NUL.`)
  const owned = handshakeHeaders.get(name.toLowerCase())
  if (owned) throw new UsageError(`--header '${name}' is set by the WebSocket handshake: ${owned}.`)
  return [name, value]
}

/** --protocol's names: tokens, each once. */
function protocolList(raw: string[] | undefined): string[] {
  const protocols = raw ?? []
  for (const [i, name] of protocols.entries()) {
    if (!token.test(name)) throw new UsageError(`--protocol takes a subprotocol name (a token: letters, digits, !#$%&'*+-.^_\`|~), got '${name}'.`)
    if (protocols.indexOf(name) !== i) throw new UsageError(`--protocol '${name}' is given twice.`)
  }
  return protocols
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
function hostPort(raw: string, flag = '--to'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(raw) ?? /^()()(\d+)$/.exec(raw)
  if (!match) throw new UsageError(`${flag} takes host:port (or [ipv6]:port), got '${raw}'.`)
  return { host: match[1] || match[2] || '127.0.0.1', port: portNumber(`${flag} port`, match[3]!) }
}
