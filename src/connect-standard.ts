/**
 * connect() over the standard `WebSocket`: the browser entry's `connect`.
 *
 * @module
 */
import { HandshakeError, UnsupportedError } from './errors.js'
import { abortError, awaitOpening, checkOpeningOptions, checkUrl, listenAll } from './opening.js'
import { resolveOptions, type WsStreamOptions } from './options.js'
import { standardSocketKind } from './socket-kinds.js'
import { WsStream } from './stream.js'
import type { StandardWebSocket } from './transport/standard.js'

/** A constructor with the standard WebSocket's signature. */
export type StandardWebSocketConstructor = new (url: string | URL, protocols?: string | string[]) => StandardWebSocket

/** Options of the standard {@link connect}. */
export interface StandardConnectOptions {
  /** Milliseconds the opening may take before it is abandoned with a `TimeoutError` (default 30000; `Infinity` for none). */
  timeout?: number
  /** Abandons the attempt when aborted: `connect()` rejects with an `AbortedError` (code `ERR_WS_ABORTED`). */
  signal?: AbortSignal
  /** Subprotocols to offer (`Sec-WebSocket-Protocol`). */
  protocols?: string | string[]
  /** Options of the stream once open (`keepAlive` is refused: the standard API cannot ping). */
  stream?: WsStreamOptions
  /** The WebSocket class to use (default `globalThis.WebSocket`). */
  WebSocket?: StandardWebSocketConstructor
}

/**
 * Connects to `url` (`ws:` or `wss:`) with the standard WebSocket and resolves with a
 * {@link WsStream} once the connection is open.
 *
 * Rejects, leaving no socket behind, with `HandshakeError` when the connection could not be opened
 * (`status` is always undefined: browsers do not reveal why an upgrade failed), `TimeoutError` when
 * `timeout` passed first, or `AbortedError` (`ERR_WS_ABORTED`) when `signal` aborted it.
 */
export async function connect(url: string | URL, options: StandardConnectOptions = {}): Promise<WsStream> {
  checkUrl(url, ['ws:', 'wss:', 'http:', 'https:'])
  checkOpeningOptions(options)
  const { timeout = 30_000, signal, protocols, stream: streamOptions = {} } = options
  const Socket = options.WebSocket ?? (globalThis as { WebSocket?: StandardWebSocketConstructor }).WebSocket
  if (Socket === undefined) throw new UnsupportedError('There is no WebSocket class here; pass one as options.WebSocket.')
  const resolved = resolveOptions(streamOptions, 'options.stream') // bad stream options fail before any socket exists
  if (resolved.keepAlive) standardSocketKind.check(undefined, resolved)
  if (signal?.aborted) throw abortError(signal)

  const socket = protocols === undefined ? new Socket(url) : new Socket(url, protocols)
  socket.binaryType = 'arraybuffer'
  return awaitOpening({
    listen({ opened, failed }) {
      const onError = (): void => failed(new HandshakeError('The WebSocket connection could not be opened (the platform gives no detail).'))
      const onClose = (): void => failed(new HandshakeError('The connection closed before it opened.'))
      return listenAll<() => void>(
        (type, f) => socket.addEventListener(type, f),
        (type, f) => socket.removeEventListener(type, f),
        { open: opened, error: onError, close: onClose },
      )
    },
    adopt: () => WsStream.fromStandard(socket, streamOptions),
    discard: () => discard(socket),
    timeout,
    signal,
  })
}

/** Closes a socket that failed to open and resolves once it reports itself closed. */
function discard(socket: StandardWebSocket): Promise<void> {
  if (socket.readyState === 3) return Promise.resolve()
  return new Promise((resolve) => {
    socket.addEventListener('close', () => resolve())
    socket.addEventListener('error', () => {}) // the platform reports the abandoned attempt as an error
    if (socket.readyState < 2) socket.close()
  })
}
