/**
 * What `ws-stream` connects through and listens on beyond a plain host and port: TLS (`--cert`/
 * `--key`, `--ca`/`--insecure`), HTTP proxies (`--proxy`, else curl's environment variables), unix
 * sockets, request headers, subprotocols and compression. Files are read here, not in the parser;
 * a file that cannot be read or parsed is a {@link UsageError} naming its flag (exit status 2).
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync, unlinkSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerOptions } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { createSecureContext } from 'node:tls'
import type { ConnectOptions, WsStreamServerOptions } from '../index.js'
import { proxyFromEnv } from '../proxy.js'
import { UsageError, type ConnectCommand, type ListenCommand } from './args.js'
import type { Reporter } from './report.js'

/** connect()'s options for `command`'s TLS, proxy, header, subprotocol and compression flags. */
export function clientOptions(command: ConnectCommand, reporter: Reporter, env: NodeJS.ProcessEnv = process.env): ConnectOptions {
  const options: ConnectOptions = {}
  if (command.ca !== undefined) {
    const ca = readPem('--ca', command.ca)
    checkPem('--ca', command.ca, () => new X509Certificate(ca))
    options.ca = ca
  }
  if (command.insecure) {
    options.rejectUnauthorized = false
    reporter.error('WARNING: --insecure: the server\'s certificate is NOT verified; anyone on the path can read and change this connection.')
  }
  let proxy = command.proxy
  if (proxy === undefined) {
    try {
      proxy = proxyFromEnv(command.url, env)
    } catch (error) {
      throw new UsageError(`${(error as Error).message}.`)
    }
    if (proxy !== undefined) reporter.info(`using the proxy ${redact(proxy)} from the environment`)
  }
  if (proxy !== undefined) options.proxy = proxy
  if (command.headers.length > 0) {
    // A repeated name becomes one comma-separated field, as RFC 9110 section 5.3 allows.
    const headers: Record<string, string> = {}
    for (const [name, value] of command.headers) {
      const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name
      headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`
    }
    options.headers = headers
  }
  if (command.protocols.length > 0) options.protocols = command.protocols
  if (command.compress) options.perMessageDeflate = true
  return options
}

/** The proxy URL with its password hidden, for messages. */
export function redact(proxy: string | URL): string {
  const url = new URL(proxy)
  if (url.password) url.password = '***'
  return url.href
}

/** Whether `error` (a HandshakeError's cause) is a failed certificate verification rather than an unreachable server. */
export function isCertificateError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && certificateErrors.has(code)
}

// OpenSSL's X509 verification results as Node reports them (node:tls, "X509 certificate error
// codes"), and Node's own host name check.
const certificateErrors = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_CRL', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE', 'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD', 'ERROR_IN_CRL_NEXT_UPDATE_FIELD', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** WsStreamServer's options for `command`'s subprotocol and compression flags. */
export function serverOptions(command: ListenCommand): Partial<WsStreamServerOptions> {
  const options: Partial<WsStreamServerOptions> = {}
  if (command.compress) options.perMessageDeflate = true
  const accepted = command.protocols
  if (accepted.length > 0) {
    // A client offering none of ours is refused at the upgrade rather than accepted without a
    // subprotocol: it would otherwise get a connection that speaks a language it did not ask for.
    options.verifyClient = (info: { req: IncomingMessage }, callback: (ok: boolean, code?: number, message?: string) => void) => {
      if (offered(info.req).some((name) => accepted.includes(name))) return callback(true)
      callback(false, 400, `This server speaks the subprotocols ${accepted.join(', ')}; offer one in Sec-WebSocket-Protocol.\n`)
    }
    // The client's order is its preference (RFC 6455 section 4.1): the first one we accept wins.
    options.handleProtocols = (protocols: Set<string>) => [...protocols].find((name) => accepted.includes(name)) ?? false
  }
  return options
}

/** The subprotocols a client offered in its upgrade request. */
function offered(request: IncomingMessage): string[] {
  const header = request.headers['sec-websocket-protocol']
  return header === undefined ? [] : header.split(',').map((name) => name.trim()).filter(Boolean)
}

/** Where `listen` listens: WsStreamServer's own TCP server, or ours for TLS and unix sockets. */
export interface Listener {
  /** WsStreamServer's `port`/`host`, or `server` (ours, which {@link start} starts listening). */
  options: Pick<WsStreamServerOptions, 'port' | 'host' | 'server'>
  /** What was asked for, for "cannot listen on …". */
  name: string
  /** Starts our server listening (nothing with WsStreamServer's own); call after WsStreamServer exists. */
  start(): void
  /** The URL clients connect to, from WsStreamServer's `address()`. */
  url(address: AddressInfo | string): string
  /** Stops our server (resolves at once with WsStreamServer's own); a unix socket file is removed. */
  close(): Promise<void>
}

/**
 * The listener for `command`: WsStreamServer's own for plain TCP, else an http or https server of
 * ours (with WsStreamServer's handshake deadline), listening on the TCP port or the unix path.
 */
export function listener(command: ListenCommand, handshakeTimeout = 10_000): Listener {
  const scheme = command.tls ? 'wss' : 'ws'
  const url = (address: AddressInfo | string): string => typeof address === 'string'
    ? `${scheme}+unix:${address}`
    : `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
  const name = command.unix ?? `${command.host}:${command.port}`
  if (!command.tls && command.unix === undefined) {
    return { options: { port: command.port, host: command.host }, name, start() {}, url, close: () => Promise.resolve() }
  }

  const timeouts: ServerOptions = {
    headersTimeout: handshakeTimeout,
    requestTimeout: handshakeTimeout,
    connectionsCheckingInterval: Math.min(1000, handshakeTimeout),
  }
  const notAnUpgrade = (_req: IncomingMessage, res: import('node:http').ServerResponse): void => {
    res.writeHead(426, { 'Content-Type': 'text/plain' }).end('Upgrade Required')
  }
  let server: Server
  if (command.tls) {
    const cert = readPem('--cert', command.tls.cert)
    const key = readPem('--key', command.tls.key)
    checkPem('--cert', command.tls.cert, () => new X509Certificate(cert))
    checkPem('--key', command.tls.key, () => createPrivateKey(key))
    try {
      createSecureContext({ cert, key })
    } catch (error) {
      throw new UsageError(`--key '${command.tls.key}' does not match --cert '${command.tls.cert}' (${(error as Error).message}).`)
    }
    server = createHttpsServer({ ...timeouts, cert, key }, notAnUpgrade)
  } else {
    server = createHttpServer(timeouts, notAnUpgrade)
  }

  // Node removes the socket file when the server closes; this covers an exit without a close
  // (a second SIGINT/SIGTERM during the drain).
  const path = command.unix
  let removeOnExit: (() => void) | undefined
  return {
    options: { server },
    name,
    start() {
      server.once('listening', () => {
        if (path === undefined) return
        removeOnExit = () => {
          try {
            unlinkSync(path)
          } catch {
            // Already gone.
          }
        }
        process.once('exit', removeOnExit)
      })
      server.listen(path !== undefined ? { path } : { port: command.port, host: command.host })
    },
    url,
    close: () => new Promise<void>((resolve) => {
      if (removeOnExit) process.off('exit', removeOnExit)
      if (!server.listening) return resolve()
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new UsageError(`${flag}: cannot read '${path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`)
  }
}

function checkPem(flag: string, path: string, parse: () => unknown): void {
  try {
    parse()
  } catch (error) {
    throw new UsageError(`${flag}: '${path}' is not usable PEM (${(error as Error).message}).`)
  }
}
