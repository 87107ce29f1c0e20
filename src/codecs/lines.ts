/**
 * Newline-delimited text: `linesCodec({ maxLength })`.
 *
 * @module
 */
import { MessageTooLargeError } from '../errors.js'
import { invalidArgType, optional, outOfRange, validateNumber, validateObject } from '../validate.js'
import type { Codec, Decoded } from './codec.js'

const LF = 0x0a
const CR = 0x0d
/** The longest `maxLength`: a line, its CR and LF must fit a buffer. */
const MAX_LINE = 2 ** 31

/** Options of {@link linesCodec}. */
export interface LinesCodecOptions {
  /** The longest line in UTF-8 bytes, line ending excluded (default 65536). Applies to both directions. */
  maxLength?: number
}

/**
 * Lines of UTF-8 text ending in LF; a CR before the LF is tolerated and dropped. Items are
 * strings without their line ending. `encode` appends `\n` and refuses a string containing one.
 * A final line without a newline is still delivered at the end of the stream. Invalid UTF-8
 * decodes to U+FFFD.
 *
 * @param options `maxLength`: the longest line.
 */
export function linesCodec(options: LinesCodecOptions = {}): Codec<string> {
  validateObject(options, 'options')
  const maxLength = optional(options.maxLength, (v) => validateNumber(v, 'options.maxLength', { min: 0, integer: true, max: MAX_LINE })) ?? 65536
  const decoder = new TextDecoder()
  const encoder = new TextEncoder()
  const tooLong = (): MessageTooLargeError =>
    new MessageTooLargeError(`A line is longer than ${maxLength} bytes.`, maxLength)
  const text = (bytes: Uint8Array): string => {
    const end = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length
    if (end > maxLength) throw tooLong()
    return decoder.decode(bytes.subarray(0, end))
  }

  return {
    // The longest line, its CR and its LF.
    maxEncodedLength: maxLength + 2,

    encode(line: string): Uint8Array {
      if (typeof line !== 'string') throw invalidArgType('line', 'of type string', line)
      if (line.includes('\n')) throw outOfRange('line', 'a string without "\\n"', line)
      const bytes = encoder.encode(`${line}\n`)
      if (bytes.length - 1 > maxLength) throw tooLong()
      return bytes
    },

    decode(buffer: Uint8Array, scanned: number): Decoded<string> | undefined {
      const at = buffer.indexOf(LF, scanned)
      if (at === -1) {
        // Without its LF a line may still end in the CR of a CRLF: allow that one byte more.
        const longest = buffer[buffer.length - 1] === CR ? maxLength + 1 : maxLength
        if (buffer.length > longest) throw tooLong()
        return undefined
      }
      return { item: text(buffer.subarray(0, at)), consumed: at + 1 }
    },

    decodeEof(rest: Uint8Array): string {
      return text(rest)
    },
  }
}
