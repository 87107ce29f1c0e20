/**
 * Argument checks, in Node's own convention: a wrong type is a `TypeError` with
 * `code: 'ERR_INVALID_ARG_TYPE'`, a bad value a `RangeError` with `code: 'ERR_OUT_OF_RANGE'`; the
 * message names the argument (`"code" argument`, `"options.maxPayload" property`) and quotes the
 * value it received. Portable: the browser entry uses it too.
 *
 * @module
 */

/** An argument error: Node's `TypeError`/`RangeError` with its `code`. */
export type ArgumentError = (TypeError | RangeError) & { code: 'ERR_INVALID_ARG_TYPE' | 'ERR_OUT_OF_RANGE' }

/** How Node names what it checks: an argument, or an option's property (`options.x`). */
function subject(name: string): string {
  return `"${name}" ${name.includes('.') ? 'property' : 'argument'}`
}

/** `Received …` as Node writes it: the type and the quoted value, an instance's class, null or undefined. */
export function describeReceived(value: unknown): string {
  if (value === null || value === undefined) return `Received ${String(value)}`
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name
    return name ? `Received an instance of ${name}` : 'Received an object with a null prototype'
  }
  return `Received type ${typeof value} (${quote(value)})`
}

function quote(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > 28 ? `${value.slice(0, 25)}...` : value
    return `'${shown}'`
  }
  if (typeof value === 'bigint') return `${value}n`
  return String(value)
}

/** A `TypeError` with `code: 'ERR_INVALID_ARG_TYPE'`: `name` must be of type `expected`. */
export function invalidArgType(name: string, expected: string, value: unknown): ArgumentError {
  const error = new TypeError(`The ${subject(name)} must be ${expected}. ${describeReceived(value)}`)
  return Object.assign(error, { code: 'ERR_INVALID_ARG_TYPE' as const })
}

/** A `RangeError` with `code: 'ERR_OUT_OF_RANGE'`: `name` must be `range`. */
export function outOfRange(name: string, range: string, value: unknown): ArgumentError {
  const error = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${quote(value)}`)
  return Object.assign(error, { code: 'ERR_OUT_OF_RANGE' as const })
}

/** What a number must be: at least `min` (or above it), at most `max`, whole, finite. */
export interface NumberRule {
  /** The smallest value allowed (default: no bound). */
  min?: number
  /** `min` itself is not allowed (default false). */
  minExclusive?: boolean
  /** The largest value allowed (default: no bound). */
  max?: number
  /** Only whole numbers (default false). `Infinity` passes when `allowInfinity` does. */
  integer?: boolean
  /** `Infinity` is allowed, meaning "no limit" (default false). */
  allowInfinity?: boolean
}

function describeRule({ min, minExclusive, max, integer, allowInfinity }: NumberRule): string {
  const kind = integer ? 'an integer' : 'a finite number'
  const parts: string[] = []
  if (min !== undefined) parts.push(`${minExclusive ? '>' : '>='} ${min}`)
  if (max !== undefined) parts.push(`<= ${max}`)
  const bound = parts.length > 0 ? ` ${parts.join(' and ')}` : ''
  return `${kind}${bound}${allowInfinity ? ', or Infinity' : ''}`
}

/** Checks that `value` is a number obeying `rule`; returns it. */
export function validateNumber(value: unknown, name: string, rule: NumberRule = {}): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  const { min, minExclusive = false, max, integer = false, allowInfinity = false } = rule
  const infinite = value === Infinity && allowInfinity
  const ok =
    !Number.isNaN(value) &&
    (infinite || (Number.isFinite(value) && (!integer || Number.isInteger(value)))) &&
    (min === undefined || (minExclusive ? value > min : value >= min)) &&
    (max === undefined || value <= max)
  if (!ok) throw outOfRange(name, describeRule(rule), value)
  return value
}

/** Checks that `value` is a string; returns it. */
export function validateString(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  return value
}

/** Checks that `value` is a boolean; returns it. */
export function validateBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value)
  return value
}

/** Checks that `value` is a function; returns it. */
export function validateFunction<F extends (...args: never[]) => unknown>(value: unknown, name: string): F {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value)
  return value as F
}

/** Checks that `value` is an object (not null, not an array); returns it. */
export function validateObject<T extends object>(value: unknown, name: string): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgType(name, 'of type object', value)
  return value as T
}

/** Checks that `value` is a string among `allowed` (a string of another value is out of range). */
export function validateOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  if (!(allowed as readonly string[]).includes(value)) throw outOfRange(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value)
  return value as T
}

/** Checks that `value` is a `Uint8Array` (a Buffer is one); returns it. */
export function validateUint8Array(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidArgType(name, 'an instance of Uint8Array', value)
  return value
}

/** Checks `value` only when it is not undefined (an optional argument or option). */
export function optional<T>(value: unknown, check: (value: unknown) => T): T | undefined {
  return value === undefined ? undefined : check(value)
}
