/**
 * Which close codes and reasons a user may send (RFC 6455 section 7.4).
 *
 * @module
 */
import { utf8Length } from './bytes.js'
import { InvalidCloseCodeError } from './errors.js'
import { invalidArgType } from './validate.js'

/** True for the codes RFC 6455 allows in a Close frame an endpoint sends. */
export function isSendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  )
}

/**
 * Throws {@link InvalidCloseCodeError} for a code or reason that may not go on the wire, and a
 * `TypeError` (`ERR_INVALID_ARG_TYPE`) for a code that is not a number or a reason that is not a string.
 */
export function assertCloseFrame(code: number, reason: string): void {
  if (typeof code !== 'number') throw invalidArgType('code', 'of type number', code)
  if (typeof reason !== 'string') throw invalidArgType('reason', 'of type string', reason)
  if (!isSendableCloseCode(code)) {
    throw new InvalidCloseCodeError(
      `Close code ${String(code)} may not be sent: use 1000-1003, 1007-1014 or 3000-4999.`,
    )
  }
  const size = utf8Length(reason)
  if (size > 123) throw new InvalidCloseCodeError(`The close reason is ${size} UTF-8 bytes; at most 123 fit in a Close frame.`)
}
