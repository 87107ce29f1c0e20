/**
 * What both connect() flavours share: wait for a socket to open under a deadline and an
 * AbortSignal, and leave no socket behind when it does not. Portable (the browser entry uses it).
 *
 * @module
 */
import pTimeout from 'p-timeout'
import { TimeoutError, WsStreamError } from './errors.js'

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

/** The error of an attempt its AbortSignal ended. */
export function abortError(signal: AbortSignal): WsStreamError {
  return new WsStreamError('The connection attempt was aborted.', 'ERR_WS_ABORTED', { cause: signal.reason })
}

/** Resolves with `adopt()` once the socket opens; rejects (after discarding it) on failure, timeout or abort. */
export async function awaitOpening<T>({ listen, adopt, discard, timeout, signal }: Opening<T>): Promise<T> {
  let stop = (): void => {}
  const opening = new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal!))
    const unlisten = listen({
      opened() {
        stop()
        resolve(adopt())
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
    return await pTimeout(opening, {
      milliseconds: timeout,
      // Made only when the deadline passes: a stack trace per connect() is not free.
      fallback: () => {
        throw new TimeoutError(`The WebSocket connection did not open within ${timeout} ms.`)
      },
    })
  } catch (error) {
    stop()
    await discard()
    throw error
  }
}
