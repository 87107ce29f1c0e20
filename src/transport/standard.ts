/**
 * The transport over a standard `WebSocket` (browsers, Node 22+, Deno, Bun).
 *
 * The standard API is narrower than ws's, and each gap has a defined answer here
 * (docs/browser.md says the same for users):
 * - Write backpressure: there is no send callback. A send is done once `bufferedAmount` shows its
 *   bytes have left the socket's buffer. That is checked at every received message and, only while
 *   something is in flight, on a timer that starts at 1 ms and doubles up to 32 ms (reset by each
 *   completion), so an idle connection runs no timer and a busy one wakes up a few times per message.
 * - Read backpressure: the socket cannot be paused. `pause()` does nothing; the read buffer's
 *   `paused` event is still raised, and data keeps arriving into the buffer above its mark.
 * - Close codes: `close()` accepts 1000 and 3000–4999 only ({@link assertStandardCloseFrame});
 *   a library code outside that range (1003 for rejected text, …) goes out as 4000 + (code − 1000).
 * - The peer's Close frame: the platform echoes it internally and fires only `close`. Its code and
 *   reason are reported as the peer's Close at that moment, just before the socket is closed, so the
 *   machine passes through `closingReceived` (or stays in `closingSent`) exactly as with ws.
 * - No pings: `ping()` throws, so `stream.ping()` rejects; the `keepAlive` option is refused.
 * - No terminate: `terminate()` starts a Close without a code (the peer sees 1005) and the stream
 *   reports itself closed (1006, unclean) at once, without waiting for the socket.
 *
 * @module
 */
import type { Transport, TransportSink } from '../../machines/connection.js'
import { utf8 } from '../bytes.js'
import { ConnectionClosedError, ConnectionResetError, HandshakeError, InvalidCloseCodeError, SocketClosedError, UnsupportedError, UnsupportedSocketError } from '../errors.js'

/** The part of the standard `WebSocket` API this transport uses (ws's WebSocket implements it as well). */
export interface StandardWebSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  binaryType: string
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
  addEventListener(type: string, listener: StandardListener): void
  removeEventListener(type: string, listener: StandardListener): void
}

/** A listener as the standard WebSocket's addEventListener takes it (`any`: each event type has its own shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StandardListener = (event: any) => void

const CONNECTING = 0
const OPEN = 1
const FIRST_CHECK_MS = 1
const MAX_CHECK_MS = 32

/** True when `socket` has the standard WebSocket's shape (a cheap check, no guarantee). */
export function isStandardWebSocket(socket: unknown): socket is StandardWebSocket {
  const s = socket as Partial<StandardWebSocket> | null
  return (
    typeof s === 'object' && s !== null &&
    typeof s.send === 'function' && typeof s.close === 'function' &&
    typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function' &&
    typeof s.readyState === 'number' && typeof s.bufferedAmount === 'number' && 'binaryType' in s
  )
}

/** Throws unless `socket` is a standard WebSocket, CONNECTING or OPEN. */
export function assertStandardWebSocket(socket: unknown): asserts socket is StandardWebSocket {
  if (!isStandardWebSocket(socket)) throw new TypeError('WsStream.fromStandard needs a standard WebSocket.')
  if (socket.readyState !== CONNECTING && socket.readyState !== OPEN) {
    throw new SocketClosedError(`The socket must be CONNECTING or OPEN, not in readyState ${socket.readyState}.`)
  }
}

/** True for the codes a standard WebSocket's `close()` accepts: 1000 and 3000–4999. */
export function isStandardCloseCode(code: number): boolean {
  return code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999)
}

/** Throws {@link InvalidCloseCodeError} for a code the standard WebSocket refuses to send. */
export function assertStandardCloseFrame(code: number): void {
  if (!isStandardCloseCode(code)) {
    throw new InvalidCloseCodeError(
      `Close code ${String(code)} may not be sent over a standard WebSocket: its close() takes only 1000 or 3000-4999.`,
    )
  }
}

/** The code a library close (1001–1014) goes out with where the platform forbids it: 4000 + (code − 1000). */
export function platformCloseCode(code: number): number {
  return isStandardCloseCode(code) ? code : code > 1000 && code < 1100 ? 4000 + (code - 1000) : 1000
}

interface InFlight {
  end: number // bytes ever sent, through this message
  done: (error?: Error | null) => void
}

/** A {@link Transport} over a standard WebSocket (CONNECTING or OPEN). Sets `binaryType` to `'arraybuffer'`. */
export function standardTransport(socket: StandardWebSocket): Transport {
  assertStandardWebSocket(socket)
  let closingByUs = false
  let peerCloseSeen = false
  let gone = false
  let sentBytes = 0
  const inFlight: InFlight[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let checkDelay = FIRST_CHECK_MS

  /** Completes the sends whose bytes have left `bufferedAmount`; re-arms the timer while any remain. */
  const checkDrain = (): void => {
    const drained = sentBytes - socket.bufferedAmount
    let completed = 0
    while (completed < inFlight.length && inFlight[completed]!.end <= drained) completed++
    const done = inFlight.splice(0, completed)
    if (completed > 0) checkDelay = FIRST_CHECK_MS
    arm()
    for (const send of done) send.done()
  }
  const arm = (): void => {
    clearTimeout(timer)
    timer = undefined
    if (inFlight.length === 0 || gone) return
    timer = setTimeout(checkDrain, checkDelay)
    checkDelay = Math.min(checkDelay * 2, MAX_CHECK_MS)
  }
  /** Settles every send still in flight: all went out (a clean close), or none is known to have. */
  const settleAll = (error?: Error): void => {
    clearTimeout(timer)
    timer = undefined
    for (const send of inFlight.splice(0)) send.done(error)
  }
  const stop = (): void => {
    gone = true
    settleAll(new ConnectionClosedError('The connection closed before these bytes left the WebSocket.'))
  }

  let attached: Record<string, StandardListener> | undefined
  return {
    // The WebSocket standard copies the bytes of a BufferSource inside send().
    copiesOnSend: true,
    // The platform answers the peer's Close itself, at once: the connection is 'immediate' here.
    answersCloseItself: true,
    get isOpen() {
      return socket.readyState === OPEN
    },
    attach(sink: TransportSink) {
      let opened = socket.readyState === OPEN
      socket.binaryType = 'arraybuffer'
      const listeners = {
        open: () => {
          opened = true
          sink.open()
        },
        message: (event: { data: unknown }) => {
          const data = event.data
          if (data instanceof ArrayBuffer) sink.message(new Uint8Array(data), true)
          else if (typeof data === 'string') sink.message(utf8(data), false)
          else sink.error(new UnsupportedSocketError('A message arrived as neither ArrayBuffer nor string (was binaryType changed?).'))
          if (inFlight.length > 0) checkDrain() // a free moment to look at bufferedAmount
        },
        error: () => {
          sink.error(opened
            ? new ConnectionResetError('The WebSocket failed (the platform gives no detail).')
            : new HandshakeError('The WebSocket connection could not be opened (the platform gives no detail).'))
        },
        close: (event: { code: number; reason: string; wasClean: boolean }) => {
          // Frames leave in order: after a clean close every byte sent before the Close went out.
          if (event.wasClean) settleAll()
          else stop()
          gone = true
          // 1006 and 1015 never travel in a Close frame: any other code is the peer's Close.
          if (event.code !== 1006 && event.code !== 1015 && !peerCloseSeen) {
            peerCloseSeen = true
            sink.peerClose(event.code, event.reason)
          }
          sink.closed(event.code, event.reason, event.wasClean)
        },
      }
      for (const [type, listener] of Object.entries(listeners)) socket.addEventListener(type, listener)
      attached = listeners
    },
    detach() {
      for (const [type, listener] of Object.entries(attached ?? {})) socket.removeEventListener(type, listener)
      attached = undefined
      stop()
    },
    send(message, done) {
      if (gone || socket.readyState !== OPEN) {
        // The platform would drop it silently (and count it in bufferedAmount forever).
        queueMicrotask(() => done(new ConnectionClosedError('The WebSocket is no longer open.')))
        return
      }
      socket.send(message)
      sentBytes += message.byteLength
      inFlight.push({ end: sentBytes, done })
      if (inFlight.length === 1) {
        checkDelay = FIRST_CHECK_MS
        arm()
      }
    },
    close(code, reason) {
      closingByUs = true
      if (socket.readyState !== CONNECTING && socket.readyState !== OPEN) return
      socket.close(platformCloseCode(code), reason)
    },
    terminate() {
      stop()
      if (socket.readyState === CONNECTING || (socket.readyState === OPEN && !closingByUs)) socket.close()
    },
    pause() {
      // The standard WebSocket cannot stop reading: the read buffer grows past its mark (see docs/browser.md).
    },
    resume() {},
    ping() {
      throw new UnsupportedError('The standard WebSocket cannot send pings (the platform answers the peer\'s pings itself).')
    },
    assertCloseFrame: (code) => assertStandardCloseFrame(code),
  }
}
