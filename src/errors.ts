/**
 * Error classes. Every error this library raises about a connection is a {@link WsStreamError}
 * with a stable `code` (`ERR_WS_*`): branch on `err.code`, never on the message. Wrong arguments
 * are Node's `TypeError`/`RangeError` with `ERR_INVALID_ARG_TYPE`/`ERR_OUT_OF_RANGE` (src/validate.ts).
 *
 * @module
 */

/** Every `code` this library's errors carry; `ERR_WS_ERROR` only on a `WsStreamError` made by user code. */
export type WsStreamErrorCode =
  | 'ERR_WS_ERROR'
  | 'ERR_WS_CONNECTION_CLOSED'
  | 'ERR_WS_CONNECTION_RESET'
  | 'ERR_WS_PROTOCOL'
  | 'ERR_WS_RECEIVED_TEXT'
  | 'ERR_WS_MESSAGE_TOO_LARGE'
  | 'ERR_WS_UNEXPECTED_EOF'
  | 'ERR_WS_INVALID_CLOSE_CODE'
  | 'ERR_WS_HANDSHAKE'
  | 'ERR_WS_TIMEOUT'
  | 'ERR_WS_ABORTED'
  | 'ERR_WS_UNSUPPORTED'
  | 'ERR_WS_UNSUPPORTED_SOCKET'
  | 'ERR_WS_SOCKET_CLOSED'
  | 'ERR_WS_CONCURRENT_READ'
  | 'ERR_WS_RESUME_REFUSED'

/** The base class of every error this library raises about a connection. */
export class WsStreamError extends Error {
  /** A stable identifier, `ERR_WS_*`. */
  readonly code: WsStreamErrorCode

  /**
   * @param message What went wrong, for humans.
   * @param code The stable `ERR_WS_*` identifier.
   * @param options `cause`: the underlying error, when there is one (a ws error's own `WS_ERR_*` code is on it).
   */
  constructor(message: string, code: WsStreamErrorCode = 'ERR_WS_ERROR', options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** A write, flush or ping after the connection began closing; carries the bytes that were not sent. */
export class ConnectionClosedError extends WsStreamError {
  /** Bytes of this operation that were not accepted (and will never be sent). */
  readonly unsentBytes: number

  constructor(message = 'The connection is closing or closed.', unsentBytes = 0, options?: { cause?: unknown }) {
    super(message, 'ERR_WS_CONNECTION_CLOSED', options)
    this.unsentBytes = unsentBytes
  }
}

/** The socket died without a close handshake (TCP reset, abrupt end, half-open connection). */
export class ConnectionResetError extends WsStreamError {
  constructor(message = 'The connection was reset before the close handshake.', options?: { cause?: unknown }) {
    super(message, 'ERR_WS_CONNECTION_RESET', options)
  }
}

/** The peer broke the WebSocket protocol; `closeCode` is the code the connection was closed with. */
export class ProtocolError extends WsStreamError {
  /** The close code sent to the peer (1002 for a protocol violation, 1007 for bad UTF-8, …). */
  readonly closeCode: number

  constructor(message: string, closeCode = 1002, options?: { cause?: unknown }) {
    super(message, 'ERR_WS_PROTOCOL', options)
    this.closeCode = closeCode
  }
}

/** A text message arrived while the `text` option is `'reject'`. */
export class ReceivedTextError extends WsStreamError {
  constructor(message = 'Text messages are not supported.') {
    super(message, 'ERR_WS_RECEIVED_TEXT')
  }
}

/** A message, line or frame is larger than the limit set for it. */
export class MessageTooLargeError extends WsStreamError {
  /** The limit that was exceeded, in bytes: `maxPayload`, a codec's maximum, `readUntil`'s `maxLength`. */
  readonly limit: number

  constructor(message: string, limit: number, options?: { cause?: unknown }) {
    super(message, 'ERR_WS_MESSAGE_TOO_LARGE', options)
    this.limit = limit
  }
}

/** The stream ended before the bytes a read required. */
export class UnexpectedEofError extends WsStreamError {
  /** How many bytes the read wanted. */
  readonly expected: number
  /** How many bytes arrived before the end (they are lost to the caller only if it ignores `partial`). */
  readonly partial: Uint8Array

  constructor(expected: number, partial: Uint8Array) {
    super(`The stream ended after ${partial.length} of ${expected} expected bytes.`, 'ERR_WS_UNEXPECTED_EOF')
    this.expected = expected
    this.partial = partial
  }
}

/** A close code or reason that may not be sent on the wire (RFC 6455 section 7.4). */
export class InvalidCloseCodeError extends WsStreamError {
  constructor(message: string) {
    super(message, 'ERR_WS_INVALID_CLOSE_CODE')
  }
}

/** The opening handshake failed; `status` is the HTTP status when the server answered with one. */
export class HandshakeError extends WsStreamError {
  /** The HTTP status of a refused upgrade, if the server sent one. */
  readonly status: number | undefined

  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, 'ERR_WS_HANDSHAKE', options)
    this.status = status
  }
}

/** A deadline passed: opening, closing, a ping or the keep-alive. */
export class TimeoutError extends WsStreamError {
  constructor(message: string) {
    super(message, 'ERR_WS_TIMEOUT')
  }
}

/**
 * `stream.abort(reason)` ended the connection (the reason is the `cause`), or `connect()`'s
 * `signal` aborted the attempt (the signal's reason is the `cause`).
 */
export class AbortedError extends WsStreamError {
  constructor(message = 'The connection was aborted.', options?: { cause?: unknown }) {
    super(message, 'ERR_WS_ABORTED', options)
  }
}

/** A feature this platform or transport cannot provide (`toDuplex()` without Node streams, `ping()` over a standard WebSocket). */
export class UnsupportedError extends WsStreamError {
  constructor(message: string) {
    super(message, 'ERR_WS_UNSUPPORTED')
  }
}

/** The socket handed to `new WsStream()` lacks what the library relies on (a ws version without the Close detection fields). */
export class UnsupportedSocketError extends WsStreamError {
  constructor(message: string) {
    super(message, 'ERR_WS_UNSUPPORTED_SOCKET')
  }
}

/** `new WsStream(socket)` with a socket that is already CLOSING or CLOSED. */
export class SocketClosedError extends WsStreamError {
  constructor(message: string) {
    super(message, 'ERR_WS_SOCKET_CLOSED')
  }
}

/**
 * A read while another reader holds the stream: a read, `readExactly`, `readUntil` or `fill` still
 * pending, or a `for await` loop (an adapter, a codec) still iterating. A stream has one reader at a
 * time; two would each get an arbitrary part of the bytes.
 */
export class ConcurrentReadError extends WsStreamError {
  constructor(message: string) {
    super(message, 'ERR_WS_CONCURRENT_READ')
  }
}

/**
 * The server refused to resume a session (resumable streams): it does not know the token (never
 * issued, expired, already used, or the session ended), or the session is attached to another
 * connection. An interrupted stream that gets this for good ends as a `ConnectionResetError` with
 * this error as its `cause`.
 */
export class ResumeRefusedError extends WsStreamError {
  /** The Close code the server refused with: 4404 (unknown session) or 4409 (attached elsewhere). */
  readonly closeCode: number
  /** True when trying again may succeed (4409: the server has not yet seen the old connection go). */
  readonly retryable: boolean

  constructor(message: string, closeCode: number, options?: { cause?: unknown }) {
    super(message, 'ERR_WS_RESUME_REFUSED', options)
    this.closeCode = closeCode
    this.retryable = closeCode === 4409
  }
}
