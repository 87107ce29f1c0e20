/**
 * The keep-alive of one open connection: a ping every `interval`, and a `keepAliveTimeout` for the
 * connection actor when the answer is overdue.
 *
 * @module
 */
import type { KeepAliveOptions } from './options.js'
import type { Pinger } from './pinger.js'
import type { ReadBuffer } from './read-buffer.js'

/** The parts of a connection's I/O that keep-alive watches and pings through. */
type KeepAliveIO = { readBuffer: ReadBuffer; pinger: Pinger }

/** Who hears that the peer stopped answering: the connection actor. */
export interface KeepAliveTarget {
  send(event: { type: 'keepAliveTimeout' }): void
}

/**
 * Pings every `interval`; tells `target` when a pong is overdue. Any sign of life in the window
 * counts as an answer: received bytes (a pong can queue behind them), or a pause by our own read
 * backpressure (while paused, the pong cannot be read at all). Plain timers rather than an actor:
 * a server holds one per connection.
 */
export class KeepAlive {
  readonly #timeout: number
  readonly #io: KeepAliveIO
  readonly #target: KeepAliveTarget
  readonly #tick: ReturnType<typeof setInterval>
  #deadline: ReturnType<typeof setTimeout> | undefined

  constructor({ interval, timeout }: Required<KeepAliveOptions>, io: KeepAliveIO, target: KeepAliveTarget) {
    this.#timeout = timeout
    this.#io = io
    this.#target = target
    this.#tick = setInterval(() => this.#ping(), interval)
  }

  #ping(): void {
    const { readBuffer, pinger } = this.#io
    if (this.#deadline !== undefined || readBuffer.paused) return
    let answered = false
    const bytesBefore = readBuffer.bytesIn
    const pausesBefore = readBuffer.pauses
    pinger.ping().then(() => {
      answered = true
      clearTimeout(this.#deadline)
      this.#deadline = undefined
    }, () => {})
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined
      const alive = answered || readBuffer.paused || readBuffer.bytesIn !== bytesBefore || readBuffer.pauses !== pausesBefore
      if (!alive) this.#target.send({ type: 'keepAliveTimeout' })
    }, this.#timeout)
  }

  /** Stops pinging; idempotent. */
  stop(): void {
    clearInterval(this.#tick)
    clearTimeout(this.#deadline)
    this.#deadline = undefined
  }
}
