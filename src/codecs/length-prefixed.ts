/**
 * Length-prefixed binary frames: `lengthPrefixedCodec({ maxFrameLength })`.
 *
 * @module
 */
import { MessageTooLargeError, UnexpectedEofError } from '../errors.js'
import { optional, validateNumber, validateObject, validateUint8Array } from '../validate.js'
import type { Codec, Decoded } from './codec.js'

const HEADER = 4
const U32_MAX = 0xffff_ffff

/** Options of {@link lengthPrefixedCodec}. */
export interface LengthPrefixedCodecOptions {
  /** The largest payload in bytes, header excluded (default 8 MiB, at most 2^32 - 1). Applies to both directions. */
  maxFrameLength?: number
}

/**
 * Frames of a 4-byte big-endian unsigned length followed by that many payload bytes. Items are
 * the payloads as `Uint8Array`; a decoded payload is a view into the received bytes when it
 * arrived in one piece (no copy). A header announcing more than `maxFrameLength` is rejected at
 * once, before any of its payload is buffered. A frame cut short by the end of the stream is an
 * `UnexpectedEofError` saying how many bytes the frame needed.
 *
 * @param options `maxFrameLength`: the largest payload.
 */
export function lengthPrefixedCodec(options: LengthPrefixedCodecOptions = {}): Codec<Uint8Array> {
  validateObject(options, 'options')
  const maxFrameLength =
    optional(options.maxFrameLength, (v) => validateNumber(v, 'options.maxFrameLength', { min: 0, max: U32_MAX, integer: true })) ?? 8 * 1024 * 1024
  const tooLarge = (length: number): MessageTooLargeError =>
    new MessageTooLargeError(`A frame of ${length} bytes is over the limit of ${maxFrameLength}.`, maxFrameLength)

  return {
    maxEncodedLength: HEADER + maxFrameLength,

    encode(payload: Uint8Array): Uint8Array {
      validateUint8Array(payload, 'payload')
      if (payload.length > maxFrameLength) throw tooLarge(payload.length)
      const frame = new Uint8Array(HEADER + payload.length)
      new DataView(frame.buffer).setUint32(0, payload.length)
      frame.set(payload, HEADER)
      return frame
    },

    decode(buffer: Uint8Array): Decoded<Uint8Array> | undefined {
      if (buffer.length < HEADER) return undefined
      const length = new DataView(buffer.buffer, buffer.byteOffset, HEADER).getUint32(0)
      if (length > maxFrameLength) throw tooLarge(length)
      if (buffer.length < HEADER + length) return undefined
      return { item: buffer.subarray(HEADER, HEADER + length), consumed: HEADER + length }
    },

    decodeEof(rest: Uint8Array): never {
      const expected = rest.length < HEADER ? HEADER : HEADER + new DataView(rest.buffer, rest.byteOffset, HEADER).getUint32(0)
      throw new UnexpectedEofError(expected, rest)
    },
  }
}
