/**
 * WHATWG streams over a {@link WsStream}: `stream.readable` and `stream.writable`.
 *
 * The readable side is a byte stream (`type: 'bytes'`, BYOB readers supported) that pulls from
 * the WsStream only when its reader asks, so a reader that stops pauses the socket. The writable
 * side waits on `stream.write()`, so a fast producer is held to the write high-water mark.
 *
 * A close code travels in the reason of `cancel()` and `abort()` as a {@link CloseRequest},
 * `{ code, reason? }`:
 * - `readable.cancel()` closes with 1000, `readable.cancel({ code, reason })` with that code;
 *   either way the peer's remaining bytes are dropped so the handshake can finish.
 * - `writable.close()` flushes, then closes with 1000 (the readable side keeps delivering the
 *   peer's bytes until its Close), or, after the peer's Close, answers it.
 * - `writable.abort({ code, reason })` closes with that code; `writable.abort(anythingElse)`
 *   drops the connection (1006).
 *
 * @module
 */
import { assertCloseFrame } from '../close-code.js'
import type { WsStream } from '../stream.js'
import { closeAndDiscard } from './discard.js'

/** A close code (and reason) passed as the reason of `cancel()` or `abort()`. */
export interface CloseRequest {
  /** A code a user may send: 1000–1003, 1007–1014 or 3000–4999. */
  code: number
  /** At most 123 UTF-8 bytes (default ''). */
  reason?: string
}

/** True when `value` is a {@link CloseRequest}: an object with a numeric `code` (error codes are strings). */
export function isCloseRequest(value: unknown): value is CloseRequest {
  return typeof value === 'object' && value !== null && typeof (value as { code?: unknown }).code === 'number'
}

/**
 * A `ReadableStream` of the stream's bytes (`type: 'bytes'`). It ends when the WsStream ends and
 * errors when a read rejects (a reset). Chunks handed to a default reader are copies: a byte
 * stream takes ownership of every enqueued buffer, and the received ones are shared with ws.
 *
 * @param stream The stream to read; the ReadableStream becomes its only reader.
 */
export function createReadableStream(stream: WsStream): ReadableStream<Uint8Array<ArrayBuffer>> {
  let reading: Promise<Uint8Array | null> | undefined
  let cancelled = false
  return new ReadableStream({
    type: 'bytes',
    async pull(controller) {
      const request = controller.byobRequest
      const view = request?.view
      reading = stream.read(view ? view.byteLength : Infinity)
      let chunk: Uint8Array | null
      try {
        chunk = await reading
      } finally {
        reading = undefined
      }
      if (cancelled) return
      if (chunk === null) {
        controller.close()
        request?.respond(0)
      } else if (request && view) {
        new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(chunk)
        request.respond(chunk.length)
      } else {
        // A copy that owns its memory (Buffer#slice would be a view): enqueue detaches it.
        controller.enqueue(new Uint8Array(chunk))
      }
    },
    async cancel(reason) {
      cancelled = true
      const request = isCloseRequest(reason) ? reason : undefined
      await closeAndDiscard(stream, request?.code, request ? (request.reason ?? '') : undefined, reading)
    },
  }) as ReadableStream<Uint8Array<ArrayBuffer>>
}

/**
 * A `WritableStream` into the stream. Each chunk must be a `Uint8Array`; its memory may be
 * reused once its write resolved (the stream copies what it still queues). See the module notes for `close` and `abort`.
 *
 * @param stream The stream to write to.
 */
export function createWritableStream(stream: WsStream): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write(chunk) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError('stream.writable takes Uint8Array chunks')
      return stream.write(chunk)
    },
    async close() {
      // Flush first so that bytes that could not be delivered reject close(), not vanish.
      await stream.flush()
      void stream.close()
    },
    abort(reason) {
      if (isCloseRequest(reason)) {
        const text = reason.reason ?? ''
        assertCloseFrame(reason.code, text)
        void stream.close(reason.code, text)
      } else {
        stream.abort(reason)
      }
    },
  })
}
