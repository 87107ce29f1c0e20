/**
 * Which close codes and reasons a user may send (RFC 6455 section 7.4).
 *
 * @module
 */
import { utf8Length } from './bytes.js'
import { InvalidCloseCodeError } from './errors.js'

/** True for the codes RFC 6455 allows in a Close frame an endpoint sends. */
export function isSendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  )
}

/** Throws {@link InvalidCloseCodeError} for a code or reason that may not go on the wire. */
export function assertCloseFrame(code: number, reason: string): void {
  if (!isSendableCloseCode(code)) {
    throw new InvalidCloseCodeError(
      `Close code ${String(code)} may not be sent: use 1000-1003, 1007-1014 or 3000-4999.`,
    )
  }
  if (typeof reason !== 'string') throw new InvalidCloseCodeError('The close reason must be a string.')
  const size = utf8Length(reason)
  if (size > 123) throw new InvalidCloseCodeError(`The close reason is ${size} UTF-8 bytes; at most 123 fit in a Close frame.`)
}
