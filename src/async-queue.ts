/**
 * A push/wait/end queue behind an async iterator: a producer pushes items and ends it, a consumer
 * awaits `next()`. One queue for every iterator the package hands out (the server's connections;
 * a bounded one fits `WsStream.events()`). Internal: stripped from the published types.
 *
 * @module
 */

/** Options of an {@link AsyncQueue}. */
export interface AsyncQueueOptions {
  /**
   * Items kept for a consumer that lags (default: no limit). Past it the oldest item is dropped to
   * make room, and counted in {@link AsyncQueue.dropped}.
   */
  bound?: number
  /** Called once, when the queue ends (by {@link AsyncQueue.end} or the consumer's `return()`). */
  onEnd?: () => void
}

/**
 * Items waiting for an async iterator's `next()`. Items pushed before the end are still delivered
 * after it; `return()` (a `break` out of `for await`) drops them and ends the queue.
 * @internal
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  readonly #items: T[] = []
  readonly #bound: number
  readonly #onEnd: (() => void) | undefined
  #waiting: ((result: IteratorResult<T, undefined>) => void) | undefined
  #ended = false
  #dropped = 0

  constructor({ bound = Infinity, onEnd }: AsyncQueueOptions = {}) {
    this.#bound = bound
    this.#onEnd = onEnd
  }

  /** Items dropped because the consumer lagged more than `bound` behind. */
  get dropped(): number {
    return this.#dropped
  }

  /** Items pushed and not yet taken. */
  get length(): number {
    return this.#items.length
  }

  /** True once the queue has ended: no item is taken from then on. */
  get ended(): boolean {
    return this.#ended
  }

  /** Hands `item` to a waiting `next()`, or keeps it; ignored once the queue has ended. */
  push(item: T): void {
    if (this.#ended) return
    const wake = this.#waiting
    if (wake) {
      this.#waiting = undefined
      wake({ value: item, done: false })
      return
    }
    if (this.#items.length >= this.#bound) {
      this.#items.shift()
      this.#dropped++
    }
    this.#items.push(item)
  }

  /** Ends the queue: the items kept are still delivered, then every `next()` is done. */
  end(): void {
    if (this.#ended) return
    this.#ended = true
    this.#onEnd?.()
    const wake = this.#waiting
    this.#waiting = undefined
    wake?.({ value: undefined, done: true })
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift()!, done: false })
    if (this.#ended) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve) => { this.#waiting = resolve })
  }

  /** The consumer is done (`break` out of `for await`): drops what is kept and ends the queue. */
  return(): Promise<IteratorResult<T, undefined>> {
    this.#items.length = 0
    this.end()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
