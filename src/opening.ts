/**
 * What both connect() flavours share: wait for a socket to open under a deadline and an
 * AbortSignal, and leave no socket behind when it does not. Portable (the browser entry uses it).
 *
 * @module
 */
import pTimeout from 'p-timeout'
import { AbortedError, TimeoutError } from './errors.js'
import { invalidArgType, optional, validateNumber, validateObject } from './validate.js'

/** How a socket reports the end of its opening; `listen` returns a function that stops listening. */
export interface Opening<T> {
  /** Subscribes to the socket: call `opened()` synchronously inside its open event, `failed(error)` otherwise. */
  listen(outcome: { opened(): void; failed(error: Error): void }): () => void
  /** Builds the result, synchronously inside the open event (so no message can slip past it). */
  adopt(): T
  /** Gets rid of a socket that did not open; resolves once it is closed. */
  discard(): Promise<void>
  timeout: number
  signal: AbortSignal | undefined
}

/**
 * Subscribes each of `handlers` (by event type) with `on`; returns what unsubscribes them all with
 * `off`. One shape for ws's `on`/`off` and the standard `addEventListener`/`removeEventListener`.
 */
export function listenAll<L>(
  on: (type: string, listener: L) => void,
  off: (type: string, listener: L) => void,
  handlers: Record<string, L>,
): () => void {
  for (const [type, listener] of Object.entries(handlers)) on(type, listener)
  return () => {
    for (const [type, listener] of Object.entries(handlers)) off(type, listener)
  }
}

/** The error of an attempt its AbortSignal ended. */
export function abortError(signal: AbortSignal): AbortedError {
  return new AbortedError('The connection attempt was aborted.', { cause: signal.reason })
}

/** Resolves with `adopt()` once the socket opens; rejects (after discarding it) on failure, timeout or abort. */
export async function awaitOpening<T>({ listen, adopt, discard, timeout, signal }: Opening<T>): Promise<T> {
  let stop = (): void => {}
  const opening = new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal!))
    const unlisten = listen({
      opened() {
        stop()
        try {
          resolve(adopt())
        } catch (error) {
          reject(error)
        }
      },
      failed: reject,
    })
    signal?.addEventListener('abort', onAbort, { once: true })
    stop = () => {
      unlisten()
      signal?.removeEventListener('abort', onAbort)
    }
  })
  try {
    return await withoutStack(() => pTimeout(opening, {
      milliseconds: timeout,
      // Made only when the deadline passes: a stack trace per connect() is not free.
      fallback: () => {
        throw new TimeoutError(`The WebSocket connection did not open within ${timeout} ms.`)
      },
    }))
  } catch (error) {
    stop()
    await discard()
    throw error
  }
}

/**
 * Calls `f` with V8's stack traces turned off, for p-timeout: it builds its own `TimeoutError`
 * eagerly on every call (p-timeout 7, index.js: "We create the error outside of `setTimeout` to
 * preserve the stack trace"), which we never throw (our `fallback` throws ours), and capturing that
 * stack was 2-4 % of a client's CPU per connection (docs/performance.md, "Round 2"). `f` must be
 * synchronous up to its return; the limit is back before anything else runs.
 */
function withoutStack<T>(f: () => T): T {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return f()
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** A `TypeError` with `code: 'ERR_INVALID_URL'` and the `input`, as Node's `new URL()` throws. */
function invalidUrl(message: string, input: string, cause?: unknown): TypeError & { code: 'ERR_INVALID_URL'; input: string } {
  return Object.assign(new TypeError(message, { cause }), { code: 'ERR_INVALID_URL' as const, input })
}

/**
 * Checks `connect()`'s URL before any socket exists: a string or `URL` (else `ERR_INVALID_ARG_TYPE`)
 * that parses, has one of `protocols` and no fragment (else a `TypeError` with code `ERR_INVALID_URL`).
 */
export function checkUrl(url: unknown, protocols: readonly string[]): void {
  if (typeof url !== 'string' && !(url instanceof URL)) throw invalidArgType('url', 'of type string or an instance of URL', url)
  const input = String(url)
  let parsed: URL
  try {
    parsed = new URL(input)
  } catch (cause) {
    throw invalidUrl(`Invalid URL: '${input}'`, input, cause)
  }
  if (!protocols.includes(parsed.protocol)) {
    throw invalidUrl(`Invalid URL: '${input}': the protocol must be one of ${protocols.join(', ')}`, input)
  }
  if (parsed.hash !== '') throw invalidUrl(`Invalid URL: '${input}': a WebSocket URL has no fragment`, input)
}

/** Checks the options both `connect()` flavours share (`timeout`, `signal`, `protocols`, `stream` is resolveOptions'). */
export function checkOpeningOptions(options: unknown): void {
  const o = validateObject<{ timeout?: unknown; signal?: unknown; protocols?: unknown; stream?: unknown }>(options, 'options')
  optional(o.timeout, (v) => validateNumber(v, 'options.timeout', { min: 0, minExclusive: true, allowInfinity: true }))
  optional(o.signal, (v) => {
    if (typeof AbortSignal === 'undefined' || !(v instanceof AbortSignal)) throw invalidArgType('options.signal', 'an instance of AbortSignal', v)
  })
  optional(o.protocols, (v) => {
    if (typeof v !== 'string' && !(Array.isArray(v) && v.every((p) => typeof p === 'string'))) {
      throw invalidArgType('options.protocols', 'of type string or an array of strings', v)
    }
  })
}
