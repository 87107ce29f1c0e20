/**
 * The write side of one connection: accepted bytes on their way to the socket, write
 * backpressure, coalescing, message splitting and `flush()`.
 *
 * @module
 */
import { allocUnsafe } from './bytes.js'
import { copyPool } from './copy-pool.js'
import { ConnectionClosedError } from './errors.js'
import { errorOf, type ErrorSource } from './lazy-error.js'

/** How the queue hands one message to the socket; `done` fires once it is in the kernel (or failed). */
export type SendFunction = (message: Uint8Array, done: (error?: Error | null) => void) => void

/** What the queue sends through: a transport. */
export interface MessageSender {
  send: SendFunction
  /**
   * True when the sender keeps every message it sent until the peer acknowledges it (a resumable
   * session): the queue then neither hands back pooled memory nor lends the caller's bytes, and
   * counts the unacknowledged bytes against `writeHighWaterMark` until `acknowledged()`.
   */
  readonly retainsSent?: boolean
}

interface Waiter {
  end: number // stream position just past this write's last byte
  length: number
  resolve: () => void
  reject: (error: Error) => void
}

interface FlushWaiter {
  resolve: () => void
  reject: (error: Error) => void
}

/** Limits of the write side. */
export interface WriteQueueOptions {
  writeHighWaterMark: number
  maxMessageSize: number
  coalesce: boolean
}

/**
 * Accepted bytes wait here until a socket is bound, then go out in order. With `coalesce`, at most
 * one message is in flight and everything queued meanwhile leaves as the next message.
 */
export class WriteQueue {
  bytesOut = 0
  messagesOut = 0

  readonly #options: WriteQueueOptions
  #socket: MessageSender | undefined
  #pending: Uint8Array[] = []
  #pendingHead = 0
  #pendingBytes = 0
  #inFlightBytes = 0
  #sendsInFlight = 0
  #accepted = 0 // bytes ever accepted: positions for waiters
  #handed = 0 // bytes ever handed to the socket
  #waiters: Waiter[] = []
  #flushWaiters: FlushWaiter[] = []
  #refusal: ErrorSource | undefined // set once writes are no longer accepted
  #failure: ErrorSource | undefined // set once the connection died
  #lost = 0 // accepted bytes that never reached the kernel
  #staging: Uint8Array | undefined // where small writes are copied, back to back
  #sendCopies = false
  #stagingUsed = 0
  #retaining = false
  #unacknowledged = 0 // sent bytes the sender keeps until the peer confirms them (resume)

  constructor(options: WriteQueueOptions) {
    this.#options = options
  }

  /** Accepted bytes not yet in the kernel: queued here plus handed to the socket and unconfirmed. */
  get buffered(): number {
    return this.#pendingBytes + this.#inFlightBytes
  }

  /**
   * Connects the queue to an open socket and starts sending what waited. `sendCopies`: the socket
   * copies a message during `send()` (a masking ws client, a standard WebSocket), so bytes handed
   * over at once need no copy of ours.
   */
  bind(socket: MessageSender, sendCopies = false): void {
    this.#socket = socket
    this.#retaining = socket.retainsSent === true
    // A retained message is resent later: it must stay ours, whatever the caller does with its buffer.
    this.#sendCopies = sendCopies && !this.#retaining
    this.#pump()
  }

  /**
   * Accepts `data`; the caller may reuse its buffer as soon as the promise resolves. Resolves while
   * buffered bytes stay within the high-water mark, otherwise once they drop to it.
   *
   * Bytes are copied at most once: small writes into the staging buffer (where coalescing joins
   * them); a large write is taken by reference when the socket copies it during `send()` (a masking
   * client: only a still-queued tail is copied), else copied into memory from the `copyPool`,
   * which gets it back when the send is confirmed. The socket of a ws server sends the caller's
   * bytes themselves and may hold them until the peer reads: resolving only after that would tie
   * `write()` to the peer's reading, which the high-water mark exists to decouple.
   */
  write(data: Uint8Array): Promise<void> {
    return this.accept(data) ?? Promise.resolve()
  }

  /**
   * {@link write}, but `undefined` rather than a resolved promise when the bytes were accepted within
   * the high-water mark: a caller with a callback (the Duplex) can call it at once, in the same job.
   */
  accept(data: Uint8Array): Promise<void> | undefined {
    if (this.#refusal) {
      const refusal = this.#refusalError()
      return Promise.reject(new ConnectionClosedError(refusal.message, data.length, { cause: refusal }))
    }
    if (data.length === 0) return undefined
    const byReference = this.#sendCopies && data.length > STAGING_SIZE / 4
    if (byReference) this.#pending.push(data)
    else this.#enqueueCopy(data)
    this.#pendingBytes += data.length
    this.#accepted += data.length
    this.#pump()
    if (byReference) this.#copyQueuedTail(data)
    if (this.#withinMarks()) return undefined
    return new Promise((resolve, reject) => {
      this.#waiters.push({ end: this.#accepted, length: data.length, resolve, reject })
    })
  }

  /**
   * Bytes on their way to the kernel, and (for a resumable sender) sent bytes the peer has not yet
   * acknowledged, each within `writeHighWaterMark`. Two marks, not one sum: a write as large as the
   * mark would otherwise wait for the whole previous one to be acknowledged, a round trip per write.
   */
  #withinMarks(): boolean {
    const mark = this.#options.writeHighWaterMark
    return this.buffered <= mark && this.#unacknowledged <= mark
  }

  /** A resumable sender's peer confirmed `bytes` more: they no longer count against the window. */
  acknowledged(bytes: number): void {
    // May dip below zero for a moment: an acknowledgement can overtake the send's own callback.
    this.#unacknowledged -= bytes
    this.#settleWaiters()
  }

  /** Resolves once every accepted byte is in the kernel; rejects if the connection dies first. */
  flush(): Promise<void> {
    if (this.#lost > 0) return Promise.reject(this.#unsentError(this.#lost))
    if (this.buffered === 0) return Promise.resolve()
    if (this.#failure) return Promise.reject(this.#unsentError(this.buffered))
    return new Promise((resolve, reject) => this.#flushWaiters.push({ resolve, reject }))
  }

  /**
   * Closing: hands every queued byte to the socket now (so it precedes the Close frame) and
   * refuses later writes with `reason`.
   */
  handAllAndRefuse(reason: ErrorSource): void {
    this.#refusal ??= reason
    if (this.#socket) {
      while (this.#pendingBytes > 0) this.#sendOne(this.#options.maxMessageSize)
    }
    this.#settleWaiters()
  }

  /** The connection is gone: later writes reject, and so does whatever was not yet sent. */
  fail(reason: ErrorSource): void {
    this.#refusal ??= reason
    this.#failure ??= reason
    const unsent = this.buffered
    this.#lost += this.#pendingBytes
    this.#pending = []
    this.#pendingHead = 0
    this.#pendingBytes = 0
    for (const w of this.#waiters.splice(0)) {
      const unsentOfWrite = Math.min(w.length, w.end - this.#handed)
      const cause = errorOf(reason)
      w.reject(new ConnectionClosedError(cause.message, Math.max(0, unsentOfWrite), { cause }))
    }
    if (unsent > 0) {
      for (const f of this.#flushWaiters.splice(0)) f.reject(this.#unsentError(unsent))
    }
  }

  /**
   * Small writes are copied into a shared staging buffer, right after the previous one, so a run of
   * them is already one contiguous message when it leaves (coalescing costs no second copy).
   */
  #enqueueCopy(data: Uint8Array): void {
    if (data.length > STAGING_SIZE / 4) {
      this.#pending.push(copyPool.copy(data))
      return
    }
    let staging = this.#staging
    if (staging === undefined || staging.length - this.#stagingUsed < data.length) {
      staging = this.#staging = allocUnsafe(STAGING_SIZE)
      this.#stagingUsed = 0
    }
    const start = this.#stagingUsed
    staging.set(data, start)
    this.#stagingUsed += data.length
    const last = this.#pendingHead < this.#pending.length ? this.#pending[this.#pending.length - 1]! : undefined
    if (last !== undefined && last.buffer === staging.buffer && last.byteOffset + last.length === start) {
      this.#pending[this.#pending.length - 1] = staging.subarray(last.byteOffset, this.#stagingUsed)
    } else {
      this.#pending.push(staging.subarray(start, this.#stagingUsed))
    }
  }

  /** After a by-reference write: whatever of `data` is still queued becomes our own copy. */
  #copyQueuedTail(data: Uint8Array): void {
    const last = this.#pending.length - 1
    if (last >= this.#pendingHead && this.#pending[last]!.buffer === data.buffer) {
      this.#pending[last] = copyPool.copy(this.#pending[last]!)
    }
  }

  #refusalError(): Error {
    this.#refusal = errorOf(this.#refusal!)
    return this.#refusal
  }

  #unsentError(unsent: number): ConnectionClosedError {
    const cause = this.#failure === undefined ? undefined : (this.#failure = errorOf(this.#failure))
    return new ConnectionClosedError(
      `The connection closed with ${unsent} accepted bytes not delivered to the socket.`,
      unsent,
      { cause },
    )
  }

  #pump(): void {
    if (!this.#socket) return
    const limit = this.#options.maxMessageSize
    if (this.#options.coalesce) {
      // Only small writes wait for the send in flight to be coalesced; a large one gains nothing by waiting.
      while (this.#pendingBytes > 0 && (this.#sendsInFlight === 0 || this.#pending[this.#pendingHead]!.length >= STAGING_SIZE)) {
        this.#sendOne(limit)
      }
    } else {
      while (this.#pendingBytes > 0) this.#sendOne(limit, true)
    }
  }

  /** Sends up to `limit` queued bytes as one message (one write's bytes only, if `single`). */
  #sendOne(limit: number, single = false): void {
    const first = this.#pending[this.#pendingHead]!
    let message: Uint8Array
    if (first.length >= limit || first.length >= STAGING_SIZE || single || this.#pendingHead === this.#pending.length - 1) {
      message = this.#takeFromFirst(limit)
    } else {
      const size = Math.min(limit, this.#pendingBytes)
      message = allocUnsafe(size)
      let filled = 0
      while (filled < size) {
        const part = this.#takeFromFirst(size - filled)
        message.set(part, filled)
        filled += part.length
      }
    }
    this.#pendingBytes -= message.length
    this.#inFlightBytes += message.length
    this.#handed += message.length
    this.#sendsInFlight++
    this.bytesOut += message.length
    this.messagesOut++
    const size = message.length
    this.#socket!.send(message, (error) => {
      // In the kernel: a pooled copy's memory may serve the next copy (unless the sender keeps it to resend).
      if (!error && !this.#retaining) copyPool.release(message)
      this.#sent(size, error ?? undefined)
    })
  }

  #takeFromFirst(max: number): Uint8Array {
    const first = this.#pending[this.#pendingHead]!
    if (first.length <= max) {
      this.#pending[this.#pendingHead++] = EMPTY
      if (this.#pendingHead === this.#pending.length) {
        this.#pending.length = 0
        this.#pendingHead = 0
      } else if (this.#pendingHead >= 1024 && this.#pendingHead * 2 >= this.#pending.length) {
        this.#pending = this.#pending.slice(this.#pendingHead)
        this.#pendingHead = 0
      }
      return first
    }
    this.#pending[this.#pendingHead] = first.subarray(max)
    return first.subarray(0, max)
  }

  #sent(size: number, error: Error | undefined): void {
    this.#inFlightBytes -= size
    this.#sendsInFlight--
    if (error) {
      this.#failure ??= error
      this.#lost += size
      const unsent = size + this.buffered
      for (const f of this.#flushWaiters.splice(0)) f.reject(this.#unsentError(unsent))
      this.fail(error)
      return
    }
    if (this.#retaining) this.#unacknowledged += size
    if (this.buffered === 0) this.#staging = undefined // an idle connection keeps no staging memory
    this.#pump()
    this.#settleWaiters()
  }

  #settleWaiters(): void {
    const allHanded = this.#refusal !== undefined && this.#pendingBytes === 0
    if (this.#waiters.length > 0 && (this.#withinMarks() || allHanded)) {
      for (const w of this.#waiters.splice(0)) w.resolve()
    }
    if (this.buffered === 0 && this.#flushWaiters.length > 0) {
      for (const f of this.#flushWaiters.splice(0)) f.resolve()
    }
  }
}

const EMPTY = new Uint8Array(0)
const STAGING_SIZE = 16 * 1024
