/**
 * Options of one connection, their defaults and their validation.
 *
 * @module
 */
import type { InspectionEvent } from 'xstate'
import { optional, validateBoolean, validateFunction, validateNumber, validateObject, validateOneOf, validateString } from './validate.js'

/** What happens to a text message from the peer. */
export type TextPolicy = 'reject' | 'bytes'

/** When the peer's Close is answered: once the application is done (`'ordered'`), or on arrival. */
export type PeerClosePolicy = 'ordered' | 'immediate'

/**
 * Ping the peer every `interval` ms; terminate the connection if no pong comes within `timeout` ms
 * (default {@link defaultKeepAliveTimeout}, 10000).
 */
export interface KeepAliveOptions {
  interval: number
  timeout?: number
}

/** The keep-alive's `timeout` when only its `interval` is given. */
export const defaultKeepAliveTimeout = 10_000

/** Options of one connection. Every default is safe for a public server. */
export interface WsStreamOptions {
  /**
   * `'reject'` (default): a text message is an `error` event (`ReceivedTextError`) and the
   * connection is closed with 1003; binary data received before it stays readable.
   * `'bytes'`: the text's UTF-8 bytes join the stream.
   */
  text?: TextPolicy
  /** Unread bytes above which the socket is paused (default 1 MiB). */
  readHighWaterMark?: number
  /** Bytes accepted but not yet in the kernel above which `write()` waits (default 1 MiB). */
  writeHighWaterMark?: number
  /** Largest outgoing message in bytes; bigger writes are split (default 1 MiB). */
  maxMessageSize?: number
  /** Writes queued while a send is in flight go out together as one message (default true). */
  coalesce?: boolean
  /**
   * Milliseconds the close handshake may take before the socket is terminated and `closed`
   * resolves unclean (default 5000). ws's own close timer (30 s) caps it.
   */
  closeTimeout?: number
  /** Ping the peer and terminate it when it stops answering (default false: off). */
  keepAlive?: KeepAliveOptions | false
  /**
   * `'ordered'` (default): the peer's Close is the end of input, in stream order (like a TCP FIN):
   * reads return every byte that came before it, then `null`; writes are still accepted, and our
   * answering Close goes after them once the application is done — it calls `close()`, ends an
   * adapter, or takes the end of input (a read returns `null`) with its writes flushed; at once if it
   * never reads. `'immediate'`: answered on arrival, and writes are refused from then on.
   * `closeTimeout` caps both. A standard WebSocket answers by itself: `'immediate'` only.
   */
  peerClose?: PeerClosePolicy
  /**
   * After the peer's Close, taking the end of input does not count as done (as `allowHalfOpen` on a
   * `net.Socket`): the application answers with `close()` or by ending an adapter, whenever it has
   * finished writing (`closeTimeout` still caps it). For request/answer programs that compute their
   * answer asynchronously after the end of input. Default false.
   */
  allowHalfOpen?: boolean
  /** Passed to XState's `createActor`: sees every event and snapshot of the connection actor. */
  inspect?: (event: InspectionEvent) => void
  /** The actor's id (and system id); a random one when not given. */
  id?: string
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  text: TextPolicy
  readHighWaterMark: number
  writeHighWaterMark: number
  maxMessageSize: number
  coalesce: boolean
  closeTimeout: number
  keepAlive: Required<KeepAliveOptions> | false
  peerClose: PeerClosePolicy
  allowHalfOpen: boolean
}

/** The defaults, exported so docs and tests can name them. */
export const defaultOptions: Readonly<ResolvedOptions> = Object.freeze({
  text: 'reject',
  readHighWaterMark: 1024 * 1024,
  writeHighWaterMark: 1024 * 1024,
  maxMessageSize: 1024 * 1024,
  coalesce: true,
  closeTimeout: 5000,
  keepAlive: false,
  peerClose: 'ordered',
  allowHalfOpen: false,
})

const positive = { min: 0, minExclusive: true } as const
const nonNegative = { min: 0 } as const

/**
 * Fills in defaults and rejects nonsense early, at the edge: every option is checked, in Node's
 * argument-error convention (src/validate.ts). `name` is how the options are called in messages.
 */
export function resolveOptions(options: WsStreamOptions = {}, name = 'options'): ResolvedOptions {
  if (resolved.has(options)) return options as ResolvedOptions
  validateObject(options, name)
  const o = { ...defaultOptions, ...stripUndefined(options) }
  optional(o.inspect, (v) => validateFunction(v, `${name}.inspect`))
  optional(o.id, (v) => validateString(v, `${name}.id`))
  let keepAlive: Required<KeepAliveOptions> | false = false
  if (o.keepAlive !== false) {
    const k = validateObject<KeepAliveOptions>(o.keepAlive, `${name}.keepAlive`)
    keepAlive = {
      interval: validateNumber(k.interval, `${name}.keepAlive.interval`, positive),
      timeout: validateNumber(k.timeout ?? defaultKeepAliveTimeout, `${name}.keepAlive.timeout`, positive),
    }
  }
  const result: ResolvedOptions = {
    text: validateOneOf(o.text, `${name}.text`, ['reject', 'bytes'] as const),
    readHighWaterMark: validateNumber(o.readHighWaterMark, `${name}.readHighWaterMark`, positive),
    writeHighWaterMark: validateNumber(o.writeHighWaterMark, `${name}.writeHighWaterMark`, nonNegative),
    maxMessageSize: validateNumber(o.maxMessageSize, `${name}.maxMessageSize`, { min: 1, integer: true }),
    coalesce: validateBoolean(o.coalesce, `${name}.coalesce`),
    closeTimeout: validateNumber(o.closeTimeout, `${name}.closeTimeout`, nonNegative),
    keepAlive,
    peerClose: validateOneOf(o.peerClose, `${name}.peerClose`, ['ordered', 'immediate'] as const),
    allowHalfOpen: validateBoolean(o.allowHalfOpen, `${name}.allowHalfOpen`),
  }
  if (keepAlive) Object.freeze(keepAlive)
  resolved.add(Object.freeze(result))
  return result
}

/**
 * What {@link resolveOptions} returned: frozen, so resolving one again is returning it. A server
 * resolves its per-connection options once and hands the result to every connection, instead of
 * validating and copying them per accepted socket (docs/performance.md, "Round 2").
 */
const resolved = new WeakSet<object>()

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
