/**
 * The connection machine with its transport provided for standard `WebSocket`s (browsers, Node 22+,
 * Deno): the browser entry's `connectionMachine`.
 *
 * @module
 */
import { fromCallback } from 'xstate'
import { connectionMachine as pureConnectionMachine, runTransport, type ConnectionEvent, type TransportActorInput } from '../machines/connection.js'
import { standardTransport, type StandardWebSocket } from './transport/standard.js'

/** The `transport` actor for a standard WebSocket given as `input.socket`. */
export const standardTransportLogic = fromCallback<ConnectionEvent, TransportActorInput>(({ input, sendBack }) =>
  runTransport(standardTransport(input.socket as StandardWebSocket), input, sendBack),
)

/**
 * The connection machine for standard WebSockets. Spawn it (always with an `id`) with
 * `input: { socket, options }`, where `socket` is a standard WebSocket, CONNECTING or OPEN.
 * The `keepAlive` option needs pings, which the standard API cannot send: leave it off.
 */
export const standardConnectionMachine = pureConnectionMachine.provide({
  actors: { transport: standardTransportLogic },
})
