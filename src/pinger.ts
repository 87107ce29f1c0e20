/**
 * Pings that wait for their pong, matched by payload.
 *
 * @module
 */
import { hex } from './bytes.js'
import { ConnectionClosedError } from './errors.js'
import { errorOf, type ErrorSource } from './lazy-error.js'

interface PendingPing {
  started: number
  resolve: (ms: number) => void
  reject: (error: Error) => void
}

/** What pings go through: a transport. */
export interface PingSender {
  ping(data: Uint8Array): void
}

/** Sends pings through a bound function and resolves each with its round trip when its pong arrives. */
export class Pinger {
  /** Told each round trip in ms as its pong arrives (the server's metrics observe keep-alive RTT here). */
  roundTripListener: ((ms: number) => void) | undefined
  #socket: PingSender | undefined
  #pending = new Map<string, PendingPing[]>()
  #failure: ErrorSource | undefined
  #counter = 0

  /** Connects the pinger to a socket; before that, pings reject. */
  bind(socket: PingSender): void {
    this.#socket = socket
  }

  /** Pings with `data` (8 unique bytes by default) and resolves with the round trip in ms. */
  ping(data?: Uint8Array): Promise<number> {
    if (this.#failure) return Promise.reject(this.#failure = errorOf(this.#failure))
    if (!this.#socket) return Promise.reject(new ConnectionClosedError('The connection is not open yet.'))
    if (data !== undefined && data.length > 125) {
      return Promise.reject(new RangeError(`A ping carries at most 125 bytes, got ${data.length}`))
    }
    const payload = data ?? uniquePayload(++this.#counter)
    const key = hex(payload)
    return new Promise<number>((resolve, reject) => {
      const list = this.#pending.get(key) ?? []
      const entry = { started: performance.now(), resolve, reject }
      list.push(entry)
      this.#pending.set(key, list)
      try {
        this.#socket!.ping(payload)
      } catch (error) {
        // A transport that cannot ping (the standard WebSocket) must not leave the entry behind.
        list.splice(list.indexOf(entry), 1)
        if (list.length === 0) this.#pending.delete(key)
        reject(error)
      }
    })
  }

  /** A pong arrived: resolves the oldest ping with the same payload. */
  pong(data: Uint8Array): void {
    const key = hex(data)
    const list = this.#pending.get(key)
    const first = list?.shift()
    if (list?.length === 0) this.#pending.delete(key)
    if (first === undefined) return
    const ms = performance.now() - first.started
    this.roundTripListener?.(ms)
    first.resolve(ms)
  }

  /** The connection is gone: every pending and later ping rejects with `error`. */
  fail(error: ErrorSource): void {
    this.#failure ??= error
    for (const list of this.#pending.values()) for (const p of list) p.reject(this.#failure = errorOf(this.#failure))
    this.#pending.clear()
  }
}

function uniquePayload(n: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setFloat64(0, n)
  return out
}
