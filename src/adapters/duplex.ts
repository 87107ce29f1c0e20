/**
 * A Node.js `Duplex` over a {@link WsStream}: `stream.toDuplex()`.
 *
 * - `end()` flushes, then sends Close 1000 (or, after the peer's Close, our answer to it); the
 *   readable side keeps delivering the peer's bytes until its Close arrives, then ends.
 * - The peer's Close is the readable side's end, in stream order, like a TCP FIN. With
 *   `allowHalfOpen: false` (Node's default, and the stream's) the writable side is ended once the
 *   consumer has taken that end, so what was written before goes out, then our answer. With
 *   `allowHalfOpen: true` it stays open until you `end()` it (the stream's `closeTimeout` still caps it).
 * - `destroy()` without an error, or with Node's `AbortError` (what leaving a `for await` loop
 *   does), closes cleanly with 1000 and drops whatever the peer still sends; `destroy(err)` with
 *   any other error aborts the connection (1006) and emits `err`.
 * - `'error'` is emitted for real faults only (a reset, a protocol error, a write that could not be
 *   delivered), never for a clean close by either side. `closeInfo` says how the connection ended.
 * - Bytes are pulled from the stream only while the Duplex's own readable buffer is below its
 *   `readableHighWaterMark`, so a slow consumer pauses the socket.
 *
 * @module
 */
import { Duplex } from 'node:stream'
import type { CloseInfo } from '../../machines/connection.js'
import { readAhead, readNow, writeNow, type WsStream } from '../stream.js'
import { closeAndDiscard } from './discard.js'

/** Options of {@link WsStream.toDuplex} (`stream.toDuplex(options)`). */
export interface DuplexOptions {
  /**
   * Bytes the readable side buffers before it stops pulling from the stream (Node's default when
   * not given). Each pull takes at most this many bytes, so the Duplex never holds much more.
   */
  readableHighWaterMark?: number
  /** Bytes the writable side buffers before `write()` returns false (Node's default when not given). */
  writableHighWaterMark?: number
  /**
   * Keep the writable side open after the readable side ended (the peer's Close), until `end()`
   * (default: the stream's `allowHalfOpen` option, false unless set).
   */
  allowHalfOpen?: boolean
}

/** The Duplex that {@link WsStream.toDuplex} returns: a Node `Duplex` plus the stream and its close info. */
export class WsDuplex extends Duplex {
  /** The byte stream underneath. */
  readonly stream: WsStream
  /** How the connection ended; resolves once it has, never rejects (the same as `stream.closed`). */
  readonly closeInfo: Promise<CloseInfo>
  /** The read in flight on the stream, if any: only one at a time, and only while Node asks for data. */
  #reading: Promise<Uint8Array | null> | undefined
  /** True while {@link #pull} runs: a `_read()` from inside one of its pushes starts no second one. */
  #pulling = false
  /** Tells the stream our consumer took the end of input; set once the Duplex starts reading ahead. */
  #tookEnd: (() => void) | undefined

  /**
   * @param stream The stream to wrap. Do not read from it elsewhere while the Duplex is in use.
   * @param options Buffer sizes of the two sides.
   */
  constructor(stream: WsStream, options: DuplexOptions = {}) {
    const allowHalfOpen = options.allowHalfOpen ?? stream.actor.getSnapshot().context.options.allowHalfOpen
    super({
      allowHalfOpen,
      ...(options.readableHighWaterMark !== undefined ? { readableHighWaterMark: options.readableHighWaterMark } : {}),
      ...(options.writableHighWaterMark !== undefined ? { writableHighWaterMark: options.writableHighWaterMark } : {}),
    })
    this.stream = stream
    this.closeInfo = stream.closed
    // Once it pulls, the Duplex reads ahead of its consumer: the end counts as taken when the
    // consumer saw 'end'. A Duplex nobody reads from is no reader at all.
    if (!allowHalfOpen) this.once('end', () => this.#tookEnd?.())
  }

  override _read(): void {
    this.#tookEnd ??= readAhead(this.stream)
    if (!this.#pulling) void this.#pull()
  }

  /** Pulls chunks while Node's buffer has room; stops when `push` says it is full. */
  async #pull(): Promise<void> {
    this.#pulling = true
    try {
      // Not inside _read(): a chunk pushed there joins what read() is about to return, and a
      // consumer calling read() would get more than readableHighWaterMark at once.
      await undefined
      for (;;) {
        // What is buffered already goes without a promise per chunk.
        const max = Math.max(1, this.readableHighWaterMark)
        for (let chunk = readNow(this.stream, max); chunk !== undefined; chunk = readNow(this.stream, max)) {
          if (this.destroyed || !this.push(chunk)) return
        }
        const reading = this.stream.read(max)
        this.#reading = reading
        let chunk: Uint8Array | null
        try {
          chunk = await reading
        } catch (error) {
          this.destroy(error as Error)
          return
        } finally {
          this.#reading = undefined
        }
        if (this.destroyed) return
        if (chunk === null) {
          this.push(null)
          return
        }
        if (!this.push(chunk)) return
      }
    } finally {
      // Synchronously at the return: a _read() right after a full push must start the next pull.
      this.#pulling = false
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Accepted within the stream's writeHighWaterMark: called back at once, so that a writer ahead
    // of the kernel fills the write queue in one turn (one writev) rather than a chunk per turn.
    const waiting = writeNow(this.stream, chunk)
    if (waiting === undefined) callback()
    else waiting.then(() => callback(), callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    // Ended after a clean close (the readable side ended, so Node ends this side): nothing to flush
    // into, and nothing was lost. flush() after `closed` rejects by contract.
    if (this.stream.state === 'closed') {
      void this.closeInfo.then((info) => (info.wasClean ? callback() : this.stream.flush().then(() => callback(), callback)))
      return
    }
    // Flush first so that bytes that could not be delivered are an error here, not silence.
    this.stream.flush().then(() => {
      void this.stream.close()
      callback()
    }, callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error && !isAbortError(error)) {
      this.stream.abort(error)
      callback(error)
      return
    }
    // A consumer that stops reading still gets a clean close. Node destroys with an AbortError
    // when a `for await` loop is left early (or ends while the writable side is open): not a fault.
    closeAndDiscard(this.stream, undefined, undefined, this.#reading).then(() => callback(), callback)
  }
}

function isAbortError(error: Error): boolean {
  return error.name === 'AbortError' && (error as { code?: unknown }).code === 'ABORT_ERR'
}

/**
 * Wraps `stream` in a Node `Duplex` (see the module notes for `end`, `destroy` and errors).
 *
 * @param stream The stream to wrap; the Duplex becomes its only reader.
 * @param options Buffer sizes of the two sides.
 */
export function createDuplex(stream: WsStream, options?: DuplexOptions): WsDuplex {
  return new WsDuplex(stream, options)
}
