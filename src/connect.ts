/**
 * connect(): open a WebSocket client connection and hand it over as a {@link WsStream}.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { WebSocket, type ClientOptions } from 'ws'
import { HandshakeError, ResumeRefusedError } from './errors.js'
import { abortError, awaitOpening, checkOpeningOptions, checkUrl, listenAll } from './opening.js'
import { resolveOptions, type WsStreamOptions } from './options.js'
import { proxyAgent } from './proxy.js'
import { resolveResumeOptions, resumeOn, startClientSession } from './resume.js'
import { WsStream } from './stream.js'
import { refusal, resumeProtocol, type ResumeOptions, type ResumeSession } from './transport/resume.js'
import { optional, validateNumber } from './validate.js'

/** Options of {@link connect}: ws's client options (headers, TLS, agent, …) with safer defaults, and ours. */
export interface ConnectOptions extends Omit<ClientOptions, 'createConnection'> {
  /**
   * ws's hook that makes the TCP or TLS socket itself (see ws's ClientOptions), with the
   * signature of `net.createConnection(options, connectListener)`.
   */
  createConnection?: (options: object, connectListener?: () => void) => import('node:net').Socket
  /**
   * Milliseconds the whole opening (DNS, TCP, TLS, HTTP upgrade) may take before it is abandoned
   * with a `TimeoutError` (default 30000; `Infinity` for none).
   */
  timeout?: number
  /** Abandons the attempt when aborted: `connect()` rejects with an `AbortedError` (code `ERR_WS_ABORTED`). */
  signal?: AbortSignal
  /** Subprotocols to offer (`Sec-WebSocket-Protocol`). */
  protocols?: string | string[]
  /** Options of the stream once open. */
  stream?: WsStreamOptions
  /** ws's largest incoming message, in bytes (default 1 MiB here; ws's own is 100 MiB). */
  maxPayload?: number
  /** Compression; off unless asked (default false; ws's own default is on). */
  perMessageDeflate?: ClientOptions['perMessageDeflate']
  /**
   * An HTTP proxy, `http://[user:pass@]host:port` (or `https://` to reach the proxy over TLS):
   * the connection is tunnelled through it with HTTP CONNECT, then TLS runs inside the tunnel for
   * `wss:` with this call's TLS options (`ca`, `rejectUnauthorized`, …). Not read from the
   * environment: pass `proxyFromEnv(url)` for curl's `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
   * Excludes `agent`; not for `ws+unix:` URLs.
   */
  proxy?: string | URL
  /**
   * A resumable stream (`true` for the defaults): when the connection drops without a Close, the
   * client reconnects with backoff and the same stream carries on, every byte exactly once and in
   * order. Offered with the subprotocol `ws-stream.resume.v1`; a server that does not take it gives
   * a plain stream, which then emits `resumeUnavailable`. See docs/resume.md.
   */
  resume?: boolean | ResumeOptions
}

const MiB = 1024 * 1024

/**
 * Connects to `url` (`ws:` or `wss:`) and resolves with a {@link WsStream} once the connection is open.
 *
 * Rejects, leaving no socket behind, with:
 * - `HandshakeError` (`ERR_WS_HANDSHAKE`) when the upgrade failed: `status` is the HTTP status
 *   when the server answered without upgrading (403, 503, …), and is undefined when there was no
 *   answer at all (a refused or reset TCP connection, a DNS or TLS failure); then `cause` holds the
 *   underlying error (e.g. `cause.code === 'ECONNREFUSED'`);
 * - `TimeoutError` (`ERR_WS_TIMEOUT`) when `timeout` passed first;
 * - `AbortedError` (`ERR_WS_ABORTED`) when `signal` aborted it (`cause` is the signal's reason).
 *
 * A bad argument rejects before any socket exists: a `url` that is not a `ws:`, `wss:`, `http:`,
 * `https:` or `ws+unix:` URL (or has a fragment) with a `TypeError` of code `ERR_INVALID_URL`, as
 * Node's `new URL()`; a wrong type or value with `ERR_INVALID_ARG_TYPE`/`ERR_OUT_OF_RANGE`.
 */
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<WsStream> {
  // Every argument is checked before any socket exists.
  checkUrl(url, ['ws:', 'wss:', 'http:', 'https:', 'ws+unix:'])
  checkOpeningOptions(options)
  optional(options.maxPayload, (v) => validateNumber(v, 'options.maxPayload', { min: 1, integer: true }))
  const { timeout = 30_000, signal, protocols, stream: streamOptions = {}, proxy, resume: resumeOption, ...wsOptions } = options
  const resume = resolveResumeOptions(resumeOption, 'options.resume')
  if (proxy !== undefined) {
    if (wsOptions.agent !== undefined) throw new TypeError('connect takes proxy or agent, not both')
    if (new URL(url).protocol === 'ws+unix:') throw new TypeError(`connect: a ws+unix: URL cannot go through a proxy, got proxy '${String(proxy)}'`)
    wsOptions.agent = proxyAgent(proxy) // bad proxy URLs throw here
  }
  const { writeHighWaterMark } = resolveOptions(streamOptions, 'options.stream')
  if (signal?.aborted) throw abortError(signal)

  const clientOptions: ClientOptions = {
    ...(wsOptions as ClientOptions), // createConnection is re-declared above only for its documentation
    maxPayload: wsOptions.maxPayload ?? MiB,
    perMessageDeflate: wsOptions.perMessageDeflate ?? false,
  }
  const offered = resume === undefined ? protocols : [resumeProtocol, ...(protocols === undefined ? [] : [protocols].flat())]
  const ws = new WebSocket(url, offered, clientOptions)
  if (resume === undefined) return open(ws, () => new WsStream(ws, streamOptions), timeout, signal)

  // One attempt to resume the session on a new socket, within what is left of the session's time.
  const reconnect = (session: ResumeSession, attemptSignal: AbortSignal): Promise<void> => {
    const next = new WebSocket(url, [resumeProtocol], clientOptions)
    // The machine gave up on this attempt (the session ended): a socket still in its handshake goes.
    // Once adopted, the session owns the socket (leaving `reconnecting` aborts this signal too).
    const onAbort = (): void => {
      if (!session.attached) next.terminate()
    }
    attemptSignal.addEventListener('abort', onAbort, { once: true })
    return open(next, () => {
      if (next.protocol !== resumeProtocol) throw new ResumeRefusedError('The server no longer offers resumable streams.', refusal.unknown)
      return resumeOn(next, session, writeHighWaterMark)
    }, Math.min(timeout, resume.timeout), attemptSignal).finally(() => attemptSignal.removeEventListener('abort', onAbort))
  }
  const plainStream = (socket: WebSocket): WsStream => {
    const plain = new WsStream(socket, streamOptions)
    // After the caller has the stream (and had a turn to subscribe): it is a plain one.
    setImmediate(() => plain.actor.send({ type: 'resumeDeclined' }))
    return plain
  }
  const started = performance.now()
  return open(ws, () => {
    if (ws.protocol !== resumeProtocol) return plainStream(ws)
    return startClientSession(ws, writeHighWaterMark, resume, reconnect).then((session) => new WsStream(session as never, streamOptions))
  }, timeout, signal).catch((error: unknown) => {
    // ws fails an upgrade whose answer names no subprotocol when the client offered some, and a
    // server that does not resume (a WsStreamServer without `resume`) names none when resume was
    // all we offered: it is a plain server, so connect again without the offer, in the time left.
    const offeredOthers = protocols !== undefined && [protocols].flat().length > 0
    if (offeredOthers || !(error instanceof HandshakeError) || (error.cause as Error | undefined)?.message !== 'Server sent no subprotocol') throw error
    const plain = new WebSocket(url, clientOptions)
    return open(plain, () => plainStream(plain), Math.max(0, timeout - (performance.now() - started)), signal)
  })
}

/**
 * Resolves with what `adopt` makes of `ws` once it opened (and, if `adopt` returns a promise, once
 * that settles), all within `timeout`; rejects with a typed error, leaving no socket behind.
 */
function open<T>(ws: WebSocket, adopt: () => T | Promise<T>, timeout: number, signal: AbortSignal | undefined): Promise<T> {
  return awaitOpening<T | Promise<T>>({
    listen({ opened, failed }) {
      const onUnexpectedResponse = (_request: unknown, response: IncomingMessage): void => {
        const status = response.statusCode
        failed(new HandshakeError(`The server refused the WebSocket upgrade: ${status} ${response.statusMessage ?? ''}`.trimEnd(), status))
      }
      const onError = (error: Error): void => {
        failed(new HandshakeError(`The WebSocket connection could not be opened: ${error.message}`, undefined, { cause: error }))
      }
      const onClose = (): void => failed(new HandshakeError('The connection closed before it opened.'))
      // ws's listeners take the event's arguments; each handler here knows its own.
      type Listener = (...args: any[]) => void
      return listenAll<Listener>((type, f) => ws.on(type, f), (type, f) => ws.off(type, f), {
        open: opened,
        'unexpected-response': onUnexpectedResponse,
        error: onError,
        close: onClose,
      })
    },
    adopt,
    discard: () => discard(ws),
    timeout,
    signal,
  }) as Promise<T>
}

/** Terminates a socket that failed to open and resolves once ws reports it closed. */
function discard(ws: WebSocket): Promise<void> {
  // ws reports the termination of a CONNECTING socket as an error; it is expected here.
  ws.on('error', () => {})
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve()
  return new Promise((resolve) => {
    ws.once('close', () => resolve())
    ws.terminate()
  })
}
