/**
 * The connection machine with its transport provided for standard `WebSocket`s (browsers, Node 22+,
 * Deno): the browser entry's `connectionMachine`.
 *
 * @module
 */
import { pureConnectionMachine } from '../machines/connection.js'
import { transportAttacher } from './transport/wiring.js'
import { standardTransport, type StandardWebSocket } from './transport/standard.js'

/**
 * The connection machine for standard WebSockets. Spawn it (always with an `id`) with
 * `input: { socket, options }`, where `socket` is a standard WebSocket, CONNECTING or OPEN.
 * The `keepAlive` option needs pings, which the standard API cannot send: leave it off.
 */
export const standardConnectionMachine = pureConnectionMachine.provide({
  actions: { attachTransport: transportAttacher((socket) => standardTransport(socket as StandardWebSocket)) },
})
