/**
 * The transport over a `ws` WebSocket.
 *
 * ws has no public event for "the peer's Close frame arrived": its receiver sets
 * `_closeFrameReceived` and echoes by calling the instance's own `close(code, reason)`. We wrap
 * that method on the instance to see the frame before the echo goes out, and check at creation
 * that the fields we rely on exist, so a ws upgrade that changes them fails loudly.
 *
 * @module
 */
import { createRequire } from 'node:module'
import type { WebSocket } from 'ws'
import type { Transport, TransportSink } from '../../machines/connection.js'
import { ConnectionResetError, HandshakeError, MessageTooLargeError, ProtocolError, WsStreamError } from '../errors.js'

/** The parts of a ws WebSocket this transport reads that are not in ws's public API. */
interface WsInternals {
  _closeFrameReceived: boolean
  _closeFrameSent: boolean
  _isServer?: boolean
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
    throw new WsStreamError(
      `This ws WebSocket (ws ${installedWsVersion()}) has no _closeFrameReceived/_closeFrameSent fields, ` +
        'which ws-stream-actor needs to see the peer\'s Close frame. Use ws 8.x.',
      'ERR_WS_UNSUPPORTED_SOCKET',
    )
  }
  if (s.readyState !== 0 && s.readyState !== 1) {
    throw new WsStreamError(`The socket must be CONNECTING or OPEN, not in readyState ${s.readyState}.`, 'ERR_WS_SOCKET_CLOSED')
  }
}

/** Translates a ws error into this library's typed errors. `closeCode` is the code ws closed with, if any. */
function translateError(error: Error & { code?: string }, opened: boolean, closeCode: number | undefined): WsStreamError {
  if (error instanceof WsStreamError) return error
  if (!opened) {
    const status = /Unexpected server response: (\d+)/.exec(error.message)
    return new HandshakeError(error.message, status ? Number(status[1]) : undefined, { cause: error })
  }
  if (closeCode === 1009 || error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return new MessageTooLargeError(error.message, undefined, { cause: error })
  }
  if (closeCode !== undefined || error.code?.startsWith('WS_ERR_')) {
    return new ProtocolError(error.message, closeCode ?? 1002, { cause: error })
  }
  return new ConnectionResetError(error.message, { cause: error })
}

/** A {@link Transport} over a ws WebSocket (CONNECTING or OPEN). */
export function wsTransport(socket: WebSocket): Transport {
  assertWsSocket(socket)
  const ws = socket as WsSocket
  let closingByUs = false
  let peerCloseSeen = false

  return {
    get isOpen() {
      return ws.readyState === OPEN
    },
    // A ws client masks every message into a new frame buffer inside send(); a server sends the bytes
    // themselves. If ws ever stops saying which it is, we assume the server's way and copy.
    copiesOnSend: ws._isServer === false,
    attach(sink: TransportSink) {
      let opened = ws.readyState === OPEN
      let protocolCloseCode: number | undefined
      ws.binaryType = 'nodebuffer'

      const close = ws.close
      // ws echoes a peer's Close (and closes on protocol errors) through the instance's close().
      const detectCloseFrame = function (this: WsSocket, code?: number, reason?: string | Buffer): void {
        if (ws._closeFrameReceived && !peerCloseSeen) {
          peerCloseSeen = true
          sink.peerClose(code ?? 1005, reason === undefined ? '' : reason.toString())
        } else if (!closingByUs && !ws._closeFrameSent && ws.readyState === OPEN) {
          protocolCloseCode = code ?? 1002
          sink.protocolClose(protocolCloseCode)
        }
        close.call(this, code, reason)
      }
      ws.close = detectCloseFrame

      const listeners = {
        open: () => {
          opened = true
          sink.open()
        },
        message: (data: Buffer, isBinary: boolean) => sink.message(data, isBinary),
        ping: (data: Buffer) => sink.ping(data),
        pong: (data: Buffer) => sink.pong(data),
        error: (error: Error) => sink.error(translateError(error, opened, protocolCloseCode)),
        close: (code: number, reason: Buffer) => {
          sink.closed(code, reason.toString(), ws._closeFrameSent && ws._closeFrameReceived)
        },
      }
      const on = ws.on as (event: string, listener: (...args: never[]) => void) => WebSocket
      for (const [event, listener] of Object.entries(listeners)) on.call(ws, event, listener)

      return () => {
        for (const [event, listener] of Object.entries(listeners)) ws.off(event, listener)
        // ws may still report a late error (a terminated socket): it must never go unhandled.
        ws.on('error', ignore)
        if (ws.close === detectCloseFrame) Reflect.deleteProperty(ws, 'close')
      }
    },
    send(message, done) {
      ws.send(message, done)
    },
    close(code, reason) {
      closingByUs = true
      ws.close(code, reason)
    },
    terminate() {
      ws.terminate()
    },
    pause() {
      ws.pause()
    },
    resume() {
      ws.resume()
    },
    ping(data) {
      if (ws.readyState === OPEN) ws.ping(data)
    },
  }
}

function ignore(): void {}
