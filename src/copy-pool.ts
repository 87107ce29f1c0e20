/**
 * Memory for the copies of large writes, used again once the socket is done with it.
 *
 * A ws server sends the caller's bytes themselves, so `write()` copies what it accepts (see
 * WriteQueue). Fresh memory for such a copy costs several times the copy itself: a 64 KiB copy into
 * a new buffer took 12 µs against 3 µs into a used one, a 1 MiB copy 175 µs against 34 µs (page
 * faults and garbage collection; node on the bench machine). The pool keeps a few buffers per
 * power-of-two size, process-wide and bounded, and hands them out again.
 *
 * @module
 */
import { allocUnsafe } from './bytes.js'

/** Copies up to this size come from the pool; larger ones are allocated exactly. */
const MAX_POOLED = 1024 * 1024
/** Smaller copies are not worth pooling (Node's own pool serves them). */
const MIN_POOLED = 4 * 1024

/** A bounded, process-wide free list of copy buffers by capacity. */
export class CopyPool {
  readonly #free = new Map<number, ArrayBuffer[]>()
  /** Buffers handed out, with the length of the copy each holds: only a whole copy comes back. */
  readonly #issued = new WeakMap<ArrayBufferLike, number>()
  readonly #maxBytes: number
  readonly #maxPerSize: number
  #bytes = 0

  /** @param maxBytes Most bytes kept free at once. @param maxPerSize Most buffers kept per size. */
  constructor(maxBytes: number, maxPerSize: number) {
    this.#maxBytes = maxBytes
    this.#maxPerSize = maxPerSize
  }

  /** Bytes kept free for reuse now. */
  get freeBytes(): number {
    return this.#bytes
  }

  /** A copy of `data` that nobody else references. */
  copy(data: Uint8Array): Uint8Array {
    const length = data.length
    if (length < MIN_POOLED || length > MAX_POOLED) {
      const copy = allocUnsafe(length)
      copy.set(data)
      return copy
    }
    const capacity = 2 ** Math.ceil(Math.log2(length))
    let buffer = this.#free.get(capacity)?.pop()
    if (buffer === undefined) buffer = allocUnsafe(capacity).buffer as ArrayBuffer
    else this.#bytes -= capacity
    const copy = new Uint8Array(buffer, 0, length)
    copy.set(data)
    this.#issued.set(buffer, length)
    return copy
  }

  /**
   * The socket is done with `message` (its send callback fired without error): if it is a whole
   * copy from {@link copy}, its memory may serve again. Anything else is ignored.
   */
  release(message: Uint8Array): void {
    const buffer = message.buffer
    if (message.byteOffset !== 0 || this.#issued.get(buffer) !== message.length) return
    this.#issued.delete(buffer)
    const capacity = buffer.byteLength
    const list = this.#free.get(capacity)
    if (this.#bytes + capacity > this.#maxBytes || (list !== undefined && list.length >= this.#maxPerSize)) return
    if (list === undefined) this.#free.set(capacity, [buffer as ArrayBuffer])
    else list.push(buffer as ArrayBuffer)
    this.#bytes += capacity
  }
}

/** The pool every connection's write queue shares: at most 8 MiB kept free, 16 buffers per size. */
export const copyPool = new CopyPool(8 * 1024 * 1024, 16)
