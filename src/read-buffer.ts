/**
 * The read side of one connection: received bytes waiting for a reader, the end of input,
 * and the high-water mark that pauses the socket.
 *
 * @module
 */
import { ByteQueue } from './byte-queue.js'

/** Who hears about a {@link ReadBuffer}: the connection's transport wiring. */
export interface ReadBufferListener {
  backpressure(full: boolean): void
  inputTaken(): void
}

/** Received bytes, shared by the transport (which pushes) and the stream façade (which reads). */
export class ReadBuffer {
  /** The unread bytes. Readers take from it directly and then call {@link consumed}. */
  readonly queue = new ByteQueue()
  /** Unread bytes above which the socket is paused. */
  readonly highWaterMark: number
  /**
   * Told when the buffer crosses its marks (`true` to pause the socket, `false` to resume it) and when
   * the application took the end of input.
   */
  listener: ReadBufferListener | undefined
  /**
   * An adapter reads on the application's behalf and ahead of it (a Duplex, a codec): a read that
   * returns `null` then is not the application taking the end; the adapter reports that itself.
   */
  readAhead = false
  bytesIn = 0
  messagesIn = 0
  /** How many times the buffer has paused the socket. */
  pauses = 0

  #ended = false
  #endTaken = false
  #error: Error | undefined
  #paused = false
  #waiters: Array<() => void> = []

  constructor(highWaterMark: number) {
    this.highWaterMark = highWaterMark
  }

  /** True once no more input will arrive (buffered bytes may still be unread). */
  get ended(): boolean {
    return this.#ended
  }

  /**
   * Nothing is left to read and nobody is reading: no bytes buffered, no read waiting, and no
   * adapter reading ahead on the application's behalf.
   */
  get idle(): boolean {
    return this.queue.length === 0 && this.#waiters.length === 0 && !this.readAhead
  }

  /** True while the buffer has asked for the socket to be paused. */
  get paused(): boolean {
    return this.#paused
  }

  /** Stores one received message; ignored once input has ended. */
  push(chunk: Uint8Array): void {
    if (this.#ended) return
    this.messagesIn++
    this.bytesIn += chunk.length
    if (chunk.length === 0) return
    this.queue.push(chunk)
    this.#wake()
    // Strictly above: a message of exactly the mark must not pause and resume every time.
    if (!this.#paused && this.queue.length > this.highWaterMark) {
      this.#paused = true
      this.pauses++
      this.listener?.backpressure(true)
    }
  }

  /**
   * No more input: readers get the buffered bytes, then `error` once (if given), then `null`.
   * Only the first call counts.
   */
  end(error?: Error): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = error
    this.#wake()
  }

  /** Hands out the end-of-stream error once; later calls return undefined. */
  takeError(): Error | undefined {
    const error = this.#error
    this.#error = undefined
    return error
  }

  /**
   * A reader reached the end (nothing buffered, input ended): throws the end's error once if there
   * is one, else returns `null`, and tells the listener the application took the end (unless an
   * adapter reads ahead, see {@link readAhead}).
   */
  takeEnd(): null {
    if (!this.readAhead) this.consumerTookEnd()
    const error = this.takeError()
    if (error) throw error
    return null
  }

  /** The application (or, behind an adapter, the adapter's own consumer) took the end of input. */
  consumerTookEnd(): void {
    if (this.#endTaken || !this.#ended) return
    this.#endTaken = true
    this.listener?.inputTaken()
  }

  /** Readers call this after taking bytes: below half the mark the socket is resumed. */
  consumed(): void {
    if (this.#paused && this.queue.length <= this.highWaterMark / 2) {
      this.#paused = false
      this.listener?.backpressure(false)
    }
  }

  /** Resolves when there are bytes to read or input has ended. */
  wait(): Promise<void> {
    if (this.queue.length > 0 || this.#ended) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Resolves at the next push or at the end of input (at once if input has ended). */
  next(): Promise<void> {
    if (this.#ended) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  #wake(): void {
    if (this.#waiters.length === 0) return
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}
