/**
 * Byte helpers that run wherever the library does (Node, browsers, Deno): no `Buffer` required.
 * On Node, `allocUnsafe` still uses `Buffer`'s uninitialised (and, when small, pooled) memory, so
 * the hot path costs what it did before.
 *
 * @module
 */

const encoder = new TextEncoder()

interface BufferLike {
  allocUnsafe(size: number): Uint8Array
}
const NodeBuffer = (globalThis as { Buffer?: BufferLike }).Buffer

/** A new byte array of `size` whose contents are unspecified (zeroed where the platform has no cheaper way). */
export const allocUnsafe: (size: number) => Uint8Array = NodeBuffer
  ? (size) => NodeBuffer.allocUnsafe(size)
  : (size) => new Uint8Array(size)

/** The UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text)
}

/** How many bytes `text` takes in UTF-8, without encoding it (lone surrogates count 3, as U+FFFD). */
export function utf8Length(text: string): number {
  let length = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) length += 1
    else if (c < 0x800) length += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length += 4
      i++
    } else length += 3
  }
  return length
}

/** The bytes of `parts` back to back in one new array (one copy). */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0
  for (const part of parts) size += part.length
  const out = allocUnsafe(size)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lower-case hex of `bytes` (for map keys of small payloads such as ping data). */
export function hex(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!]
  return out
}
