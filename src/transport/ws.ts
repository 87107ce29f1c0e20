/**
 * The transport over a `ws` WebSocket.
 *
 * ws has no public event for "the peer's Close frame arrived": its receiver sets
 * `_closeFrameReceived` and echoes at once by calling the instance's own `close(code, reason)`. We
 * wrap that method on the instance to see the frame, and hold the echo: the connection machine
 * answers once the application is done (ordered close), through {@link Transport.close}. ws keeps
 * sending our data meanwhile (the socket is still OPEN for it), and a ws peer that sent its Close
 * keeps receiving it (ws delivers messages in CLOSING). We check at creation that the fields we rely
 * on exist, so a ws upgrade that changes them fails loudly.
 *
 * @module
 */
import { createRequire } from 'node:module'
import type { WebSocket } from 'ws'
import type { Transport, TransportSink } from '../../machines/connection.js'
import { ConnectionResetError, HandshakeError, MessageTooLargeError, ProtocolError, SocketClosedError, UnsupportedSocketError, WsStreamError } from '../errors.js'

/** The parts of a ws WebSocket this transport reads that are not in ws's public API. */
interface WsInternals {
  _closeFrameReceived: boolean
  _closeFrameSent: boolean
  _isServer?: boolean
  /** The TCP (or TLS) socket, once the WebSocket is open. */
  _socket?: { cork(): void; uncork(): void } | null
  /** The frame parser, once open; `_maxPayload` is the `maxPayload` it enforces (for `MessageTooLargeError.limit`). */
  _receiver?: { _maxPayload?: number }
}

type WsSocket = WebSocket & WsInternals

const OPEN = 1

let wsVersion: string | undefined
/** The installed ws version, for error messages. */
export function installedWsVersion(): string {
  if (wsVersion === undefined) {
    try {
      wsVersion = (createRequire(import.meta.url)('ws/package.json') as { version: string }).version
    } catch {
      wsVersion = 'unknown'
    }
  }
  return wsVersion
}

/**
 * Throws a clear error unless `socket` is a ws WebSocket with the private fields close detection
 * relies on, in a state a stream can start from.
 */
export function assertWsSocket(socket: unknown): asserts socket is WebSocket {
  const s = socket as Partial<WsSocket> | null
  const methods = ['send', 'close', 'terminate', 'pause', 'resume', 'ping', 'on'] as const
  if (s === null || typeof s !== 'object' || methods.some((m) => typeof s[m] !== 'function')) {
    throw new TypeError('WsStream needs a WebSocket from the ws package (ws >= 8).')
  }
  if (typeof s._closeFrameReceived !== 'boolean' || typeof s._closeFrameSent !== 'boolean') {
    throw new UnsupportedSocketError(
      `This ws WebSocket (ws ${installedWsVersion()}) has no _closeFrameReceived/_closeFrameSent fields, ` +
        'which ws-stream-actor needs to see the peer\'s Close frame. Use ws 8.x.',
    )
  }
  if (s.readyState !== 0 && s.readyState !== 1) {
    throw new SocketClosedError(`The socket must be CONNECTING or OPEN, not in readyState ${s.readyState}.`)
  }
}

/**
 * Translates a ws error into this library's typed errors. `closeCode` is the code ws closed with,
 * if any; `maxPayload` the limit ws enforced on incoming messages (NaN if ws no longer says).
 */
function translateError(error: Error & { code?: string }, opened: boolean, closeCode: number | undefined, maxPayload: number): WsStreamError {
  if (error instanceof WsStreamError) return error
  if (!opened) {
    const status = /Unexpected server response: (\d+)/.exec(error.message)
    return new HandshakeError(error.message, status ? Number(status[1]) : undefined, { cause: error })
  }
  if (closeCode === 1009 || error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return new MessageTooLargeError(error.message, maxPayload, { cause: error })
  }
  if (closeCode !== undefined || error.code?.startsWith('WS_ERR_')) {
    return new ProtocolError(error.message, closeCode ?? 1002, { cause: error })
  }
  return new ConnectionResetError(error.message, { cause: error })
}

/** A {@link Transport} over a ws WebSocket (CONNECTING or OPEN). */
export function wsTransport(socket: WebSocket): Transport {
  assertWsSocket(socket)
  return new WsTransport(socket as WsSocket)
}

/** A ws transport that can also send text messages: one socket of a resumable session (src/transport/resume.ts). */
export type WsLeg = Transport & { sendControl(text: string): void }

/** The transport of one socket of a resumable session, whose control messages travel as text. */
export function wsLeg(socket: WebSocket): WsLeg {
  assertWsSocket(socket)
  return new WsTransport(socket as WsSocket)
}

/** Where a ws socket's listeners (shared by every socket) find the transport they report to. */
const kTransport = Symbol('ws-stream-actor transport')

type AttachedSocket = WsSocket & { [kTransport]?: WsTransport }

/**
 * One ws socket's transport. Its listeners are module functions that find it through the socket,
 * not closures per socket: a server holds thousands of these.
 */
class WsTransport implements Transport {
  readonly #ws: AttachedSocket
  // A ws client masks every message into a new frame buffer inside send(); a server sends the bytes
  // themselves. If ws ever stops saying which it is, we assume the server's way and copy.
  readonly copiesOnSend: boolean
  sink: TransportSink | undefined
  opened = false
  closingByUs = false
  peerCloseSeen = false
  protocolCloseCode: number | undefined
  #corked = false
  /** The socket's own close(), while ours stands in front of it. */
  ownClose: WebSocket['close'] | undefined

  constructor(ws: WsSocket) {
    this.#ws = ws
    this.copiesOnSend = ws._isServer === false
  }

  get isOpen(): boolean {
    return this.#ws.readyState === OPEN
  }

  attach(sink: TransportSink): void {
    const ws = this.#ws
    this.sink = sink
    this.opened = ws.readyState === OPEN
    ws.binaryType = 'nodebuffer'
    ws[kTransport] = this
    // ws echoes a peer's Close (and closes on protocol errors) through the instance's close().
    this.ownClose = ws.close
    ws.close = detectCloseFrame
    const on = ws.on as (event: string, listener: (...args: never[]) => void) => WebSocket
    for (const [event, listener] of listenerEntries) on.call(ws, event, listener as (...args: never[]) => void)
  }

  detach(): void {
    const ws = this.#ws
    if (this.sink === undefined) return
    this.sink = undefined
    for (const [event, listener] of listenerEntries) ws.off(event, listener as (...args: unknown[]) => void)
    // ws may still report a late error (a terminated socket): it must never go unhandled.
    ws.on('error', ignore)
    if (ws.close === detectCloseFrame) Reflect.deleteProperty(ws, 'close')
    ws[kTransport] = undefined
  }

  send(message: Uint8Array, done: (error?: Error | null) => void): void {
    const socket = this.#ws._socket
    if (!this.#corked && socket !== undefined && socket !== null) {
      // Sends made in one turn (a burst of writes, an echo of several messages read at once) leave
      // in one writev instead of one system call each.
      this.#corked = true
      socket.cork()
      process.nextTick(uncork, this, socket)
    }
    this.#ws.send(message, done)
  }

  /** A text message (a resumable session's control message). */
  sendControl(text: string): void {
    if (this.#ws.readyState === OPEN) this.#ws.send(text)
  }

  /** Ends the turn's batch (see send()). */
  uncork(socket: { uncork(): void }): void {
    this.#corked = false
    socket.uncork()
  }

  close(code: number, reason: string): void {
    this.closingByUs = true
    // 1005 ("no status") never travels in a frame: the answer to a Close without a code has none either.
    if (code === 1005) this.#ws.close()
    else this.#ws.close(code, reason)
  }

  terminate(): void {
    this.#ws.terminate()
  }

  pause(): void {
    this.#ws.pause()
  }

  resume(): void {
    this.#ws.resume()
  }

  ping(data: Uint8Array): void {
    if (this.#ws.readyState === OPEN) this.#ws.ping(data)
  }
}

/**
 * Stands in for an attached socket's close(): sees the peer's Close (and holds ws's echo of it unless
 * we closed first), or ws closing on a protocol error, before anything goes out.
 */
function detectCloseFrame(this: AttachedSocket, code?: number, reason?: string | Buffer): void {
  const transport = this[kTransport]
  const ownClose = transport?.ownClose ?? (Object.getPrototypeOf(this) as WebSocket).close
  if (transport?.sink) {
    if (this._closeFrameReceived && !transport.peerCloseSeen) {
      transport.peerCloseSeen = true
      const closingByUs = transport.closingByUs
      transport.sink.peerClose(code ?? 1005, reason === undefined ? '' : reason.toString())
      // Our Close went first: ws's call completes the handshake (it ends the TCP connection). Else
      // this is ws's echo, held until the machine answers (it may have already, from within peerClose).
      if (!closingByUs) return
    } else if (!transport.closingByUs && !this._closeFrameSent && this.readyState === OPEN) {
      transport.protocolCloseCode = code ?? 1002
      transport.sink.protocolClose(transport.protocolCloseCode)
    }
  }
  ownClose.call(this, code, reason)
}

/** The listeners every attached ws socket shares; `this` is the socket. */
const listenerEntries = Object.entries({
  open(this: AttachedSocket) {
    const transport = this[kTransport]!
    transport.opened = true
    transport.sink!.open()
  },
  message(this: AttachedSocket, data: Buffer, isBinary: boolean) {
    this[kTransport]!.sink!.message(data, isBinary)
  },
  ping(this: AttachedSocket, data: Buffer) {
    this[kTransport]!.sink!.ping(data)
  },
  pong(this: AttachedSocket, data: Buffer) {
    this[kTransport]!.sink!.pong(data)
  },
  error(this: AttachedSocket, error: Error) {
    const transport = this[kTransport]!
    transport.sink!.error(translateError(error, transport.opened, transport.protocolCloseCode, this._receiver?._maxPayload ?? Number.NaN))
  },
  close(this: AttachedSocket, code: number, reason: Buffer) {
    this[kTransport]!.sink!.closed(code, reason.toString(), this._closeFrameSent && this._closeFrameReceived)
  },
})

function uncork(transport: WsTransport, socket: { uncork(): void }): void {
  transport.uncork(socket)
}

function ignore(): void {}
