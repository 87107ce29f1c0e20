/**
 * A FIFO of byte chunks read as one contiguous byte sequence.
 *
 * Pushing is O(1) and never copies; reading hands out views into the stored
 * chunks where it can and copies only when a read spans chunks.
 *
 * @module
 */

const EMPTY = new Uint8Array(0)

/** Chunks kept as a list with a read offset into the first one. */
export class ByteQueue {
  #chunks: Uint8Array[] = []
  #head = 0 // index of the first live chunk in #chunks
  #offset = 0 // bytes already consumed from #chunks[#head]
  #length = 0

  /** Bytes stored and not yet consumed. */
  get length(): number {
    return this.#length
  }

  /** Appends a chunk without copying it. Empty chunks are ignored. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.#chunks.push(chunk)
    this.#length += chunk.length
  }

  /** The first stored bytes as one view (the rest of the oldest chunk), or an empty array. */
  peek(): Uint8Array {
    if (this.#length === 0) return EMPTY
    const first = this.#chunks[this.#head]!
    return this.#offset === 0 ? first : first.subarray(this.#offset)
  }

  /** Removes and returns up to `max` bytes from the oldest chunk only: a view, never a copy. */
  shift(max = Infinity): Uint8Array {
    const first = this.peek()
    if (first.length <= max) {
      this.#dropHead()
      return first
    }
    const out = first.subarray(0, max)
    this.#offset += max
    this.#length -= max
    return out
  }

  /** Removes and returns exactly `n` bytes (`n` ≤ `length`), copying only if they span chunks. */
  take(n: number): Uint8Array {
    if (n > this.#length) throw new RangeError(`take(${n}) with only ${this.#length} bytes stored`)
    if (n === 0) return EMPTY
    if (this.peek().length >= n) return this.shift(n)
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const part = this.shift(n - filled)
      out.set(part, filled)
      filled += part.length
    }
    return out
  }

  /** Puts chunks back in front of the stored bytes (they become the oldest), in the order given. */
  unshift(chunks: Uint8Array[]): void {
    const live = chunks.filter((c) => c.length > 0)
    if (live.length === 0) return
    const rest = this.#chunks.slice(this.#head)
    if (rest.length > 0 && this.#offset > 0) rest[0] = rest[0]!.subarray(this.#offset)
    this.#chunks = [...live, ...rest]
    this.#head = 0
    this.#offset = 0
    for (const c of live) this.#length += c.length
  }

  /** Discards `n` bytes (at most `length`). */
  drop(n: number): void {
    let left = Math.min(n, this.#length)
    while (left > 0) left -= this.shift(left).length
  }

  /** Removes and returns every stored chunk (views, oldest first). */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = []
    while (this.#length > 0) out.push(this.shift())
    return out
  }

  /**
   * The position of the first occurrence of `needle` at or after `from`, or -1.
   * A multi-byte needle may span chunks.
   */
  indexOf(needle: number | Uint8Array, from = 0): number {
    if (typeof needle === 'number') return this.#indexOfByte(needle, from)
    if (needle.length === 0) return Math.min(from, this.#length)
    if (needle.length === 1) return this.#indexOfByte(needle[0]!, from)
    let at = this.#indexOfByte(needle[0]!, from)
    while (at !== -1 && at + needle.length <= this.#length) {
      if (this.#matchesAt(needle, at)) return at
      at = this.#indexOfByte(needle[0]!, at + 1)
    }
    return -1
  }

  #indexOfByte(byte: number, from: number): number {
    let base = 0 // position of the current chunk's first live byte
    for (let i = this.#head; i < this.#chunks.length; i++) {
      const start = i === this.#head ? this.#offset : 0
      const chunk = this.#chunks[i]!
      const size = chunk.length - start
      if (from < base + size) {
        const found = chunk.indexOf(byte, start + Math.max(0, from - base))
        if (found !== -1) return base + found - start
      }
      base += size
    }
    return -1
  }

  #matchesAt(needle: Uint8Array, at: number): boolean {
    let i = this.#head
    let pos = at + this.#offset
    while (pos >= this.#chunks[i]!.length) pos -= this.#chunks[i++]!.length
    for (let k = 0; k < needle.length; k++) {
      if (this.#chunks[i]![pos] !== needle[k]) return false
      if (++pos === this.#chunks[i]!.length) {
        i++
        pos = 0
      }
    }
    return true
  }

  #dropHead(): void {
    const first = this.#chunks[this.#head]
    if (first === undefined) return
    this.#length -= first.length - this.#offset
    this.#chunks[this.#head] = EMPTY
    this.#head++
    this.#offset = 0
    // Compact once the consumed prefix dominates, so the array does not grow forever.
    if (this.#head >= 1024 && this.#head * 2 >= this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head)
      this.#head = 0
    }
    if (this.#head === this.#chunks.length) {
      this.#chunks.length = 0
      this.#head = 0
    }
  }
}
