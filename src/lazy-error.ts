/**
 * Errors made only when someone needs them. Capturing a stack trace costs microseconds, and most
 * connections close with no write, read or ping left to reject: the reasons a close hands to the
 * buffers are built on first use.
 *
 * @module
 */

/** An error, or what makes it on first use. */
export type ErrorSource = Error | (() => Error)

/** A source that makes its error once, on first use, and hands out that same error after. */
export function lazyError(make: () => Error): () => Error {
  let error: Error | undefined
  return () => (error ??= make())
}

/** The error of `source`, made now if it is lazy. */
export function errorOf(source: ErrorSource): Error {
  return typeof source === 'function' ? source() : source
}
