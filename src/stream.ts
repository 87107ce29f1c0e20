/**
 * WsStream: a byte stream over one WebSocket connection, a façade over its connection actor.
 *
 * @module
 */
import type { WebSocket } from 'ws'
import { createActor, type Actor, type ActorRefFrom } from 'xstate'
import type { CloseInfo, ConnectionIO, pureConnectionMachine, State, WsEvent } from '../machines/connection.js'
import type { DuplexOptions, WsDuplex } from './adapters/duplex.js'
import { createReadableStream, createWritableStream } from './adapters/web.js'
import { AsyncQueue } from './async-queue.js'
import { concat, utf8 } from './bytes.js'
import { assertCloseFrame } from './close-code.js'
import { ConcurrentReadError, ConnectionClosedError, ConnectionResetError, MessageTooLargeError, UnexpectedEofError, UnsupportedError } from './errors.js'
import { resolveOptions, type WsStreamOptions } from './options.js'
import { nodeSupport, socketKindOf, standardSocketKind, type SocketKind } from './socket-kinds.js'
import type { StandardWebSocket } from './transport/standard.js'
import { invalidArgType, optional, validateFunction, validateNumber, validateObject, validateString, validateUint8Array } from './validate.js'

// Runtime imports here stay portable (no ws, no node:*): the browser entry loads this module.
// ws sockets and toDuplex() come from src/node.ts through src/socket-kinds.ts.

/** A running connection actor: the one a WsStream creates, or a spawned child of another machine. */
export type ConnectionActor = Actor<typeof pureConnectionMachine> | ActorRefFrom<typeof pureConnectionMachine>

/** Byte and message counters of one connection. */
export interface WsStreamStats {
  /** Bytes received from the peer (read or still buffered). */
  bytesRead: number
  /** Bytes handed to the socket. */
  bytesWritten: number
  /** Messages received. */
  messagesIn: number
  /** Messages sent. */
  messagesOut: number
}

/** Options of {@link WsStream.close}. */
export interface CloseOptions {
  /** Milliseconds the handshake may take before the socket is terminated (default: the stream's `closeTimeout`). */
  timeout?: number
}

/** Options of {@link WsStream.readUntil}. */
export interface ReadUntilOptions {
  /** The longest result, delimiter included, before `MessageTooLargeError` (default: `readHighWaterMark`). */
  maxLength?: number
}

/** Options of {@link WsStream.events}. */
export interface EventsOptions {
  /**
   * Events kept for a consumer that lags (default 1024). On overflow the oldest events are dropped
   * (counted in the iterator's `dropped`); the final `closed` event is always delivered.
   */
  bufferSize?: number
}

/** The iterator {@link WsStream.events} returns. */
export interface WsEventIterator extends AsyncIterableIterator<WsEvent> {
  /** Events dropped because the consumer lagged more than `bufferSize` behind. */
  readonly dropped: number
}

/** A handler of one type of {@link WsEvent}. */
export type EventHandler<T extends WsEvent['type']> = (event: Extract<WsEvent, { type: T }>) => void

/**
 * @internal For adapters that read on the application's behalf and ahead of it (a Duplex, a codec):
 * marks `stream` as read that way, so its own reads reaching the end do not count as the application
 * taking the end of input (ordered close). Returns what the adapter calls once its consumer has.
 */
export let readAhead: (stream: WsStream) => () => void

/**
 * @internal For the Duplex: `stream.write(data)`, but `undefined` rather than a resolved promise when
 * the bytes were accepted within `writeHighWaterMark`, so that its callback can be called in the same
 * job (and the next chunk written in the same turn, leaving in the same writev).
 */
export let writeNow: (stream: WsStream, data: Uint8Array) => Promise<void> | undefined

/**
 * @internal For the Duplex: up to `max` buffered bytes as `read(max)` would return them, or
 * `undefined` when none are buffered (or another read is waiting): no promise per chunk.
 */
export let readNow: (stream: WsStream, max: number) => Uint8Array | undefined

/**
 * How {@link WsStream.fromActor} and {@link WsStream.fromStandard} reach the constructor: in place of
 * the socket, an object only this module can make.
 */
class Construction {
  constructor(
    readonly socket: unknown,
    /** An actor already running, to wrap as it is. */
    readonly actor?: ConnectionActor,
    /** The socket kind to use, whatever the socket looks like. */
    readonly kind?: SocketKind,
  ) {}
}

/**
 * An ordered byte stream over a WebSocket. Message boundaries are invisible: reads return
 * whatever bytes have arrived, writes go out as binary messages. The lifecycle is an XState
 * actor (`stream.actor`) whose transitions and protocol happenings are out-of-band events.
 */
export class WsStream implements AsyncIterable<Uint8Array> {
  static {
    readAhead = (stream) => {
      const buffer = stream.#io.readBuffer
      buffer.readAhead = true
      return () => buffer.consumerTookEnd()
    }
    readNow = (stream, max) => {
      const buffer = stream.#io.readBuffer
      if (stream.#reader !== undefined || buffer.queue.length === 0) return undefined
      const bytes = buffer.queue.shift(max)
      buffer.consumed()
      return bytes
    }
    writeNow = (stream, data) => {
      const refused = stream.#closedError(data.length)
      return refused === undefined ? stream.#io.writeQueue.accept(data) : handled(refused)
    }
  }

  /** The connection actor: subscribe to it, inspect it, or embed its machine in your own. */
  readonly actor: ConnectionActor
  /** Resolves with how the connection ended; never rejects. */
  readonly closed: Promise<CloseInfo>
  readonly #io: ConnectionIO
  readonly #highWaterMark: number
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined
  #writable: WritableStream<Uint8Array> | undefined
  /** Who reads now (a pending read, or a `for await` loop between its reads): one reader at a time. */
  #reader: string | undefined

  /**
   * @param socket A ws WebSocket (Node entry) or a standard WebSocket (browser entry; in Node use
   *   {@link WsStream.fromStandard}), CONNECTING or OPEN. The stream takes it over: do not read from it elsewhere.
   * @param options Limits and policies of this connection ({@link WsStreamOptions}).
   */
  constructor(socket: WebSocket | StandardWebSocket, options: WsStreamOptions = {}) {
    const how = socket instanceof Construction ? socket : new Construction(socket)
    let actor = how.actor
    if (actor === undefined) {
      const kind = how.kind ?? socketKindOf(how.socket)
      // Both throw here, in the caller's stack, rather than inside the actor. The machine takes the
      // resolved options as they are (resolving them again would be a copy per connection).
      const resolved = resolveOptions(options)
      kind.check(how.socket, resolved)
      actor = createActor(kind.machine, {
        input: { socket: how.socket, options: resolved },
        ...(options.inspect ? { inspect: options.inspect } : {}),
        ...(options.id !== undefined ? { id: options.id, systemId: options.id } : {}),
      })
    }
    this.actor = actor
    this.closed = settledClose(actor)
    if (how.actor === undefined) (actor as Actor<typeof pureConnectionMachine>).start()
    const { context } = actor.getSnapshot()
    this.#io = context.io
    this.#highWaterMark = context.options.readHighWaterMark
  }

  /** Wraps a running connection actor (e.g. a child spawned from `connectionMachine` by your machine). */
  static fromActor(actor: ConnectionActor): WsStream {
    return new WsStream(new Construction(undefined, actor) as never)
  }

  /**
   * A stream over a standard `WebSocket` (browsers, Node 22+'s global one, Deno), CONNECTING or
   * OPEN, even where the socket would also pass for a ws one. See docs/browser.md for what differs.
   */
  static fromStandard(socket: StandardWebSocket, options: WsStreamOptions = {}): WsStream {
    return new WsStream(new Construction(socket, undefined, standardSocketKind) as never, options)
  }

  /** The connection's state: `connecting`, `open`, `interrupted` (a resumable stream waiting to resume), `closingSent`, `closingReceived` or `closed`. */
  get state(): State {
    const snapshot = this.actor.getSnapshot()
    return snapshot.status === 'active' ? topState(snapshot.value) : 'closed'
  }

  /** Counters of bytes and messages. */
  get stats(): WsStreamStats {
    const { readBuffer, writeQueue } = this.#io
    return {
      bytesRead: readBuffer.bytesIn,
      bytesWritten: writeQueue.bytesOut,
      messagesIn: readBuffer.messagesIn,
      messagesOut: writeQueue.messagesOut,
    }
  }

  /**
   * Reads up to `max` bytes: whatever is buffered (a view, no copy), waiting if nothing is.
   * Resolves `null` at the end of the stream, forever after. After a reset it rejects once with
   * `ConnectionResetError`, after the buffered bytes.
   */
  async read(max = Infinity): Promise<Uint8Array | null> {
    validateNumber(max, 'max', { min: 1, integer: true, allowInfinity: true })
    const buffer = this.#io.readBuffer
    if (this.#reader === undefined && buffer.queue.length > 0) {
      // The hot path: bytes are there, the read cannot overlap another one.
      const bytes = buffer.queue.shift(max)
      buffer.consumed()
      return bytes
    }
    const release = this.#acquireReader('read()')
    try {
      return await this.#read(max)
    } finally {
      release()
    }
  }

  /**
   * Takes the reader's place for `what` until the returned function is called; rejects a second
   * reader with `ConcurrentReadError` rather than split the bytes between two.
   */
  #acquireReader(what: string): () => void {
    if (this.#reader !== undefined) {
      throw new ConcurrentReadError(`${what} while ${this.#reader} is reading this stream: a stream has one reader at a time.`)
    }
    this.#reader = what
    return () => { this.#reader = undefined }
  }

  async #read(max: number): Promise<Uint8Array | null> {
    const buffer = this.#io.readBuffer
    for (;;) {
      if (buffer.queue.length > 0) {
        const bytes = buffer.queue.shift(max)
        buffer.consumed()
        return bytes
      }
      if (buffer.ended) return buffer.takeEnd()
      await buffer.wait()
    }
  }

  /** Reads exactly `n` bytes; rejects with `UnexpectedEofError` (holding what came) if the stream ends first. */
  async readExactly(n: number): Promise<Uint8Array> {
    validateNumber(n, 'n', { min: 0, integer: true, max: Number.MAX_SAFE_INTEGER })
    const release = this.#acquireReader('readExactly()')
    try {
      return await this.#readExactly(n)
    } finally {
      release()
    }
  }

  async #readExactly(n: number): Promise<Uint8Array> {
    const buffer = this.#io.readBuffer
    if (n <= this.#highWaterMark) {
      // Small enough to wait for whole: the socket keeps filling the buffer up to the mark.
      while (buffer.queue.length < n && !buffer.ended) await buffer.next()
      if (buffer.queue.length >= n) {
        const bytes = buffer.queue.take(n)
        buffer.consumed()
        return bytes
      }
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = await this.#read(n - filled)
      if (chunk === null) throw new UnexpectedEofError(n, out.subarray(0, filled))
      out.set(chunk, filled)
      filled += chunk.length
    }
    return out
  }

  /**
   * Reads through the first `delim` (a byte or a byte sequence), delimiter included. At the end of the
   * stream returns what is left without a delimiter, then `null`. Rejects with `MessageTooLargeError`
   * when `maxLength` bytes pass without one; those bytes stay readable.
   */
  async readUntil(delim: number | Uint8Array, options: ReadUntilOptions = {}): Promise<Uint8Array | null> {
    if (typeof delim === 'number') validateNumber(delim, 'delim', { min: 0, max: 255, integer: true })
    else if (!(delim instanceof Uint8Array)) throw invalidArgType('delim', 'of type number or an instance of Uint8Array', delim)
    else if (delim.length === 0) throw Object.assign(new RangeError('The value of "delim" is out of range. It must be a non-empty Uint8Array. Received an empty Uint8Array'), { code: 'ERR_OUT_OF_RANGE' })
    validateObject(options, 'options')
    const needleLength = typeof delim === 'number' ? 1 : delim.length
    const maxLength = optional(options.maxLength, (v) => validateNumber(v, 'options.maxLength', { min: needleLength, integer: true, allowInfinity: true })) ?? this.#highWaterMark
    const release = this.#acquireReader('readUntil()')
    try {
      return await this.#readUntil(delim, needleLength, maxLength)
    } finally {
      release()
    }
  }

  async #readUntil(needle: number | Uint8Array, needleLength: number, maxLength: number): Promise<Uint8Array | null> {
    const buffer = this.#io.readBuffer
    const queue = buffer.queue
    // Bytes moved out of the queue so that a line longer than the high-water mark cannot stall the socket.
    const parts: Uint8Array[] = []
    let partsLength = 0
    let scanFrom = 0
    for (;;) {
      const at = queue.indexOf(needle, scanFrom)
      const tooLong = at === -1 ? partsLength + queue.length >= maxLength : partsLength + at + needleLength > maxLength
      if (tooLong) {
        queue.unshift(parts)
        throw new MessageTooLargeError(`No delimiter within ${maxLength} bytes.`, maxLength)
      }
      if (at !== -1) {
        const tail = queue.take(at + needleLength)
        buffer.consumed()
        return parts.length === 0 ? tail : concat([...parts, tail])
      }
      if (buffer.ended) {
        const rest = [...parts, ...queue.drain()]
        buffer.consumed()
        if (rest.length > 0) return rest.length === 1 ? rest[0]! : concat(rest)
        return buffer.takeEnd()
      }
      // A delimiter may straddle the last needleLength-1 bytes and the next chunk: rescan from there.
      const keep = needleLength - 1
      if (queue.length >= this.#highWaterMark) {
        const moved = queue.take(queue.length - keep)
        parts.push(moved)
        partsLength += moved.length
        buffer.consumed()
      }
      scanFrom = Math.max(0, queue.length - keep)
      await buffer.next()
    }
  }

  /**
   * The next buffered bytes without consuming them (a view of one received chunk), waiting if none;
   * `null` at the end. Pair with {@link consume}.
   */
  async fill(): Promise<Uint8Array | null> {
    const buffer = this.#io.readBuffer
    if (this.#reader === undefined && buffer.queue.length > 0) return buffer.queue.peek()
    const release = this.#acquireReader('fill()')
    try {
      for (;;) {
        if (buffer.queue.length > 0) return buffer.queue.peek()
        if (buffer.ended) return buffer.takeEnd()
        await buffer.wait()
      }
    } finally {
      release()
    }
  }

  /** Marks `n` buffered bytes as read (after {@link fill}). */
  consume(n: number): void {
    const buffer = this.#io.readBuffer
    validateNumber(n, 'n', { min: 0, max: buffer.queue.length, integer: true })
    buffer.queue.drop(n)
    buffer.consumed()
  }

  /**
   * Queues bytes (a string goes out as its UTF-8 bytes) for sending as binary messages. Resolves
   * at once while accepted-but-unsent bytes stay within `writeHighWaterMark`, else once they drop
   * to it. Rejects with `ConnectionClosedError` if the connection is closing or closed.
   * `data` may be reused once the promise resolved: bytes still queued by then are a copy.
   */
  write(data: Uint8Array | string): Promise<void> {
    let bytes: Uint8Array
    if (typeof data === 'string') bytes = utf8(data)
    else if (data instanceof Uint8Array) bytes = data
    else return Promise.reject(invalidArgType('data', 'of type string or an instance of Uint8Array', data))
    return handled(this.#closedError(bytes.length) ?? this.#io.writeQueue.write(bytes))
  }

  /**
   * Resolves once every accepted byte is in the kernel; rejects if the connection died first, and
   * with `ConnectionClosedError` once it is closed (there is nothing left to flush into).
   */
  flush(): Promise<void> {
    return handled(this.#closedError(0) ?? this.#io.writeQueue.flush())
  }

  /** After `closed`: the rejection of a write, flush or ping (with the write's `unsent` bytes). */
  #closedError(unsent: number): Promise<never> | undefined {
    if (this.actor.getSnapshot().status === 'active') return undefined
    const error = new ConnectionClosedError('The connection is closed.', unsent)
    return Promise.reject(error)
  }

  /**
   * Sends our Close frame after every accepted byte and resolves with how the connection ended,
   * within `timeout` (default `closeTimeout`) at the latest. Rejects only for an invalid code or
   * reason (`InvalidCloseCodeError`; over a standard WebSocket only 1000 and 3000–4999 may be sent),
   * and then the stream stays open.
   *
   * After the peer's Close (state `closingReceived`) this is our answer: it goes after every accepted
   * byte, with `code` and `reason` when given, else echoing the peer's.
   *
   * @param code The close code (default 1000; the peer's own when answering its Close).
   * @param reason The close reason, at most 123 UTF-8 bytes.
   */
  async close(code?: number, reason?: string, options: CloseOptions = {}): Promise<CloseInfo> {
    validateObject(options, 'options')
    const timeout = optional(options.timeout, (v) => validateNumber(v, 'options.timeout', { min: 0 }))
    assertCloseFrame(code ?? 1000, reason ?? '')
    this.#io.transport?.assertCloseFrame?.(code ?? 1000, reason ?? '')
    this.actor.send({
      type: 'close',
      ...(code !== undefined ? { code, reason: reason ?? '' } : reason !== undefined ? { code: 1000, reason } : {}),
      ...(timeout !== undefined ? { timeout } : {}),
    })
    return this.closed
  }

  /** Drops the TCP connection now, without a handshake (1006). Pending writes and pings reject; reads end. */
  abort(reason?: unknown): void {
    this.actor.send({ type: 'abort', reason })
  }

  /** Pings the peer and resolves with the round trip in milliseconds. */
  ping(data?: Uint8Array): Promise<number> {
    if (data !== undefined) {
      try {
        validateUint8Array(data, 'data')
        validateNumber(data.length, 'data.length', { max: 125 })
      } catch (error) {
        return Promise.reject(error)
      }
    }
    return handled(this.#closedError(0) ?? this.#io.pinger.ping(data))
  }

  /** Listens to one type of out-of-band event (or `'*'` for all); returns the unsubscribe function. */
  on<T extends WsEvent['type']>(type: T, handler: EventHandler<T>): () => void
  on(type: '*', handler: (event: WsEvent) => void): () => void
  on(type: string, handler: (event: never) => void): () => void {
    validateString(type, 'type')
    validateFunction(handler, 'handler')
    const subscription = this.actor.on(type as '*', handler as (event: WsEvent) => void)
    return () => subscription.unsubscribe()
  }

  /** The out-of-band events as an async iterator that ends after `closed`. */
  events(options: EventsOptions = {}): WsEventIterator {
    validateObject(options, 'options')
    const bufferSize = optional(options.bufferSize, (v) => validateNumber(v, 'options.bufferSize', { min: 1, integer: true })) ?? 1024
    return eventIterator(this, bufferSize)
  }

  /**
   * A Node `Duplex` over this stream: `end()` flushes and closes with 1000 while the readable side
   * keeps delivering until the peer's Close; `destroy(err)` aborts. See docs/adapters-and-codecs.md.
   */
  toDuplex(options?: DuplexOptions): WsDuplex {
    if (nodeSupport.createDuplex === undefined) {
      throw new UnsupportedError('toDuplex() needs Node streams; use stream.readable and stream.writable here.')
    }
    if (options !== undefined) {
      validateObject(options, 'options')
      for (const key of ['readableHighWaterMark', 'writableHighWaterMark'] as const) {
        optional(options[key], (v) => validateNumber(v, `options.${key}`, { min: 0, integer: true }))
      }
    }
    return nodeSupport.createDuplex(this, options)
  }

  /** This stream as a WHATWG `ReadableStream` (type `bytes`, BYOB reads supported); the same one on every access. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return (this.#readable ??= createReadableStream(this))
  }

  /** This stream as a WHATWG `WritableStream`; the same one on every access. */
  get writable(): WritableStream<Uint8Array> {
    return (this.#writable ??= createWritableStream(this))
  }

  /** Iterates received chunks until the end of the stream. Breaking out does not close the stream. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    // The loop is the reader from its first read until it ends or is left: a second loop (or a
    // read() between two iterations) would otherwise take every other chunk.
    const release = this.#acquireReader('a for await loop')
    try {
      for (let chunk = await this.#read(Infinity); chunk !== null; chunk = await this.#read(Infinity)) yield chunk
    } finally {
      release()
    }
  }
}

/** The top-level state of a machine state value (`{ closingReceived: 'flushing' }` is `closingReceived`). */
function topState(value: string | Record<string, unknown>): State {
  return (typeof value === 'string' ? value : Object.keys(value)[0]) as State
}

/**
 * Marks `promise` handled and returns it: a write, flush or ping nobody awaits never becomes an
 * unhandled rejection (its failure stays on `closed`, the `error` event and the next awaited call),
 * while a caller that awaits it still sees the rejection.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(noop)
  return promise
}

function noop(): void {}

function settledClose(actor: ConnectionActor): Promise<CloseInfo> {
  return new Promise((resolve) => {
    const settle = (): boolean => {
      const snapshot = actor.getSnapshot()
      if (snapshot.status === 'done') resolve(snapshot.output!)
      else if (snapshot.status === 'error' || snapshot.status === 'stopped') {
        const error = new ConnectionResetError('The connection actor stopped before the connection closed.', { cause: snapshot.error })
        resolve({ code: 1006, reason: '', wasClean: false, initiator: 'none', error })
      } else return false
      return true
    }
    if (settle()) return
    const subscription = actor.subscribe({
      next: () => settle() && subscription.unsubscribe(),
      error: () => settle() && subscription.unsubscribe(),
      complete: () => settle() && subscription.unsubscribe(),
    })
  })
}

function eventIterator(stream: WsStream, bufferSize: number): WsEventIterator {
  // Past bufferSize the oldest events are dropped; `closed` is the newest when it comes, so it stays.
  const queue: AsyncQueue<WsEvent> = new AsyncQueue({ bound: bufferSize, onEnd: () => unsubscribe() })
  const unsubscribe = stream.on('*', (event: WsEvent) => {
    queue.push(event)
    if (event.type === 'closed') queue.end()
  })
  if (stream.state === 'closed') {
    // Closed before we subscribed: the closed event itself, unless a buffered one is on its way.
    void stream.closed.then((info) => {
      if (queue.length === 0 && !queue.ended) {
        queue.push({ type: 'closed', info })
        queue.end()
      }
    })
  }
  return queue
}
