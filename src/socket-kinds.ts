/**
 * The kinds of socket `new WsStream(socket)` accepts, and the Node-only pieces of WsStream, kept
 * in a table so that src/stream.ts imports nothing Node-specific. As it is, the table knows the
 * standard WebSocket (all the browser entry needs); the Node entry (src/node.ts) puts ws sockets
 * in front of it and adds the Duplex.
 *
 * @module
 */
import type { ConnectionMachine } from '../machines/connection.js'
import type { DuplexOptions, WsDuplex } from './adapters/duplex.js'
import type { ResolvedOptions } from './options.js'
import { standardConnectionMachine } from './standard-machine.js'
import type { WsStream } from './stream.js'
import { assertStandardWebSocket, isStandardWebSocket } from './transport/standard.js'

/** One kind of socket a WsStream can run over. */
export interface SocketKind {
  /** How error messages name it. */
  name: string
  /** True when `socket` looks like this kind (a cheap shape check). */
  accepts(socket: unknown): boolean
  /** Throws a clear error when this socket or these options cannot be used. */
  check(socket: unknown, options: ResolvedOptions): void
  /** The connection machine whose transport drives this kind. */
  machine: ConnectionMachine
}

/** The standard WebSocket (browsers, Node 22+, Deno). */
export const standardSocketKind: SocketKind = {
  name: 'a standard WebSocket',
  accepts: isStandardWebSocket,
  check(socket, options) {
    assertStandardWebSocket(socket)
    if (options.keepAlive) {
      throw new TypeError('keepAlive needs pings, which the standard WebSocket cannot send (the platform answers pings itself).')
    }
  },
  machine: standardConnectionMachine,
}

/** Tried in order; the first that accepts a socket wins. */
export const socketKinds: SocketKind[] = [standardSocketKind]

/** What only Node provides (set by src/node.ts). */
export const nodeSupport: { createDuplex?: (stream: WsStream, options?: DuplexOptions) => WsDuplex } = {}

/** The kind of `socket`; throws TypeError naming the accepted kinds when none accepts it. */
export function socketKindOf(socket: unknown): SocketKind {
  const kind = socketKinds.find((k) => k.accepts(socket))
  if (kind === undefined) throw new TypeError(`WsStream needs ${socketKinds.map((k) => k.name).join(' or ')}.`)
  return kind
}
