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
  #waiting: { resolve: (result: IteratorResult<T, undefined>) => void; reject: (error: Error) => void } | undefined
  #ended = false
  #error: Error | undefined
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
    const waiting = this.#waiting
    if (waiting) {
      this.#waiting = undefined
      waiting.resolve({ value: item, done: false })
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
    const waiting = this.#waiting
    this.#waiting = undefined
    if (waiting === undefined) return
    const error = this.#takeError()
    if (error) waiting.reject(error)
    else waiting.resolve({ value: undefined, done: true })
  }

  /** Ends the queue with `error`: after the items kept, one `next()` rejects with it; then it is done. */
  fail(error: Error): void {
    if (this.#ended) return
    this.#error = error
    this.end()
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift()!, done: false })
    if (this.#ended) {
      const error = this.#takeError()
      return error ? Promise.reject(error) : Promise.resolve({ value: undefined, done: true })
    }
    return new Promise((resolve, reject) => { this.#waiting = { resolve, reject } })
  }

  #takeError(): Error | undefined {
    const error = this.#error
    this.#error = undefined
    return error
  }

  /** The consumer is done (`break` out of `for await`): drops what is kept and ends the queue. */
  return(): Promise<IteratorResult<T, undefined>> {
    this.#items.length = 0
    this.#error = undefined
    this.end()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
