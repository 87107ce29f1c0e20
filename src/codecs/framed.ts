/**
 * `framed(stream, codec)`: a byte stream as a stream of items.
 *
 * @module
 */
import type { CloseInfo } from '../../machines/connection.js'
import { closeAndDiscard } from '../adapters/discard.js'
import { MessageTooLargeError, UnexpectedEofError } from '../errors.js'
import { readAhead, type CloseOptions, type WsStream } from '../stream.js'
import { invalidArgType, optional, outOfRange, validateFunction, validateNumber, validateObject } from '../validate.js'
import type { Codec, Decoded } from './codec.js'

/** Items over a stream: what {@link framed} returns. */
export interface Framed<T> extends AsyncIterable<T> {
  /** The byte stream underneath. */
  readonly stream: WsStream
  /** Encodes `item` and writes it; resolves like `stream.write()` (once accepted). */
  send(item: T): Promise<void>
  /** Closes the connection, after every sent item: `stream.close(code, reason, options)`. */
  close(code?: number, reason?: string, options?: CloseOptions): Promise<CloseInfo>
  /**
   * The received items until the end of the stream. One reader at a time; breaking out leaves
   * the connection open and a later loop continues with the next item.
   */
  [Symbol.asyncIterator](): AsyncIterator<T>
}

/**
 * Reads and writes `stream` as items of `codec`.
 *
 * Items that arrive within one received chunk are decoded in place (zero copy, as far as the
 * codec allows); an item spread over chunks is gathered in a buffer that never grows past
 * `codec.maxEncodedLength`. When an item is over the codec's limit the iterator throws
 * `MessageTooLargeError` and the connection is closed with 1009; any other decoding error is
 * thrown as it is and closes with 1007. Either way the peer's remaining bytes are dropped so the
 * close handshake can finish, and the iterator ends for good. At the end of the stream an
 * incomplete item goes to `codec.decodeEof`, or is an `UnexpectedEofError`.
 *
 * @param stream The stream to frame; `framed` becomes its only reader.
 * @param codec How items are encoded and decoded.
 */
export function framed<T>(stream: WsStream, codec: Codec<T>): Framed<T> {
  // Both arguments are checked here, not at the first item.
  const s = validateObject<Partial<WsStream>>(stream, 'stream')
  if (typeof s.fill !== 'function' || typeof s.consume !== 'function' || typeof s.write !== 'function' || typeof s.close !== 'function') {
    throw invalidArgType('stream', 'a WsStream', stream)
  }
  validateObject(codec, 'codec')
  validateFunction(codec.encode, 'codec.encode')
  validateFunction(codec.decode, 'codec.decode')
  optional(codec.decodeEof, (v) => validateFunction(v, 'codec.decodeEof'))
  const limit = validateNumber(codec.maxEncodedLength, 'codec.maxEncodedLength', { min: 1, integer: true })
  const pending = new Gather(limit)
  let finished = false
  // Items are decoded ahead of the consumer: once it iterates, the end of input counts as taken
  // when its loop ends.
  let tookEnd: (() => void) | undefined

  /** The peer sent what the codec refuses: close with a code that says why, drop the rest, throw. */
  function refuse(error: unknown): never {
    if (!(error instanceof UnexpectedEofError)) {
      const [code, reason] = error instanceof MessageTooLargeError ? [1009, 'Frame too large.'] : [1007, 'Invalid frame.']
      void closeAndDiscard(stream, code, reason)
    }
    throw error
  }

  function decode(buffer: Uint8Array, scanned: number): Decoded<T> | undefined {
    let decoded: Decoded<T> | undefined
    try {
      decoded = codec.decode(buffer, scanned)
      if (decoded === undefined && buffer.length >= limit) {
        throw new MessageTooLargeError(`An item is longer than ${limit} bytes.`, limit)
      }
    } catch (error) {
      refuse(error)
    }
    if (decoded !== undefined && !(Number.isInteger(decoded.consumed) && decoded.consumed > 0 && decoded.consumed <= buffer.length)) {
      throw outOfRange('codec.decode().consumed', `an integer from 1 to the ${buffer.length} bytes it was given`, decoded.consumed)
    }
    return decoded
  }

  function decodeEof(rest: Uint8Array): T {
    if (!codec.decodeEof) throw new UnexpectedEofError(rest.length + 1, rest)
    try {
      return codec.decodeEof(rest)
    } catch (error) {
      refuse(error)
    }
  }

  async function* items(): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (pending.length > pending.scanned) {
        const decoded = decode(pending.bytes, pending.scanned)
        if (decoded) {
          pending.drop(decoded.consumed)
          yield decoded.item
          continue
        }
        pending.scanned = pending.length
      }
      const view = await stream.fill()
      if (view === null) {
        if (pending.length === 0) return
        const rest = pending.bytes
        pending.drop(rest.length)
        yield decodeEof(rest)
        return
      }
      if (pending.length === 0) {
        // The common case: the item lies within one received chunk and is decoded in place.
        const decoded = decode(view, 0)
        if (decoded) {
          stream.consume(decoded.consumed)
          yield decoded.item
          continue
        }
      }
      const take = Math.min(view.length, limit - pending.length)
      const examined = pending.length === 0 ? take : pending.scanned
      pending.append(view.subarray(0, take))
      pending.scanned = examined
      stream.consume(take)
    }
  }

  async function* guarded(): AsyncGenerator<T, void, undefined> {
    if (finished) return
    tookEnd ??= readAhead(stream)
    try {
      yield* items()
      finished = true
      tookEnd()
    } catch (error) {
      // After an error the position in the byte stream is lost: no later loop may resume.
      finished = true
      if (error instanceof UnexpectedEofError) tookEnd()
      throw error
    }
  }

  return {
    stream,
    async send(item: T): Promise<void> {
      return stream.write(codec.encode(item))
    },
    close(code?: number, reason?: string, options?: CloseOptions): Promise<CloseInfo> {
      return stream.close(code, reason, options)
    },
    [Symbol.asyncIterator]: guarded,
  }
}

const EMPTY = new Uint8Array(0)

/**
 * Bytes of one incomplete item, gathered from several chunks, at most `limit` of them.
 * Memory behind a handed-out view is never written again: appends go past it or to a new buffer.
 */
class Gather {
  /** Leading bytes already examined by the codec without finding a whole item. */
  scanned = 0
  readonly #limit: number
  #buffer = EMPTY
  #start = 0
  #end = 0

  constructor(limit: number) {
    this.#limit = limit
  }

  get length(): number {
    return this.#end - this.#start
  }

  /** The gathered bytes (a view). */
  get bytes(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#end)
  }

  /** Copies `chunk` in; the total stays within the limit (the caller makes sure). */
  append(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buffer.length) {
      const needed = this.length + chunk.length
      const grown = new Uint8Array(Math.min(this.#limit, Math.max(needed, 2 * this.#buffer.length, 256)))
      grown.set(this.bytes)
      this.#buffer = grown
      this.#end = this.length
      this.#start = 0
    }
    this.#buffer.set(chunk, this.#end)
    this.#end += chunk.length
  }

  /** Drops `n` leading bytes (an item was decoded from them); the next item starts unscanned. */
  drop(n: number): void {
    this.#start += n
    this.scanned = 0
    if (this.#start === this.#end) {
      // Items may be views into the old buffer: start afresh rather than write over them.
      this.#buffer = EMPTY
      this.#start = this.#end = 0
    }
  }
}
