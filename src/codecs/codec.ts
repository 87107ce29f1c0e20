/**
 * The `Codec` interface: how items of one type become bytes on a stream and back.
 *
 * @module
 */

/** One decoded item and how many bytes of the input it took. */
export interface Decoded<T> {
  /** The item. It may be a view into the input: see {@link Codec.decode}. */
  item: T
  /** Bytes consumed from the start of the input, framing included (at least 1). */
  consumed: number
}

/**
 * Turns items into bytes and bytes back into items. Codecs are stateless: every call sees the
 * bytes it needs, so one codec object can serve any number of streams.
 */
export interface Codec<T> {
  /**
   * The most bytes one encoded item may take, framing included. `framed()` never buffers more
   * than this while waiting for an item to complete; a longer one is a `MessageTooLargeError`
   * and the connection is closed with 1009.
   */
  readonly maxEncodedLength: number

  /** The bytes of one item, framing included. Throws if the item cannot be encoded. */
  encode(item: T): Uint8Array

  /**
   * Decodes the first item in `buffer`, or returns `undefined` if the bytes so far are only the
   * start of one. Throws `MessageTooLargeError` as soon as the bytes show an item over the limit.
   *
   * `buffer` is owned by the caller and never changed afterwards, so an item may be a view into
   * it (zero copy). It always starts at an item boundary.
   *
   * @param buffer The buffered bytes, starting at an item boundary.
   * @param scanned How many leading bytes of `buffer` an earlier call already examined and
   *   answered `undefined` for: a delimiter search can start there instead of at 0.
   */
  decode(buffer: Uint8Array, scanned: number): Decoded<T> | undefined

  /**
   * Called at the end of the stream with the bytes of an incomplete item (never empty). Returns
   * the last item (e.g. a final line without its newline) or throws. When a codec has no
   * `decodeEof`, leftover bytes are an `UnexpectedEofError`.
   */
  decodeEof?(rest: Uint8Array): T
}
