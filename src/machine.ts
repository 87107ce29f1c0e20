/**
 * The connection machine with its transport provided for `ws` sockets: the one users spawn.
 *
 * @module
 */
import { fromCallback } from 'xstate'
import { connectionMachine as pureConnectionMachine, runTransport, type ConnectionEvent, type TransportActorInput } from '../machines/connection.js'
import { wsTransport } from './transport/ws.js'
import type { WebSocket } from 'ws'

/** The `transport` actor for a ws WebSocket given as `input.socket`. */
export const wsTransportLogic = fromCallback<ConnectionEvent, TransportActorInput>(({ input, sendBack }) =>
  runTransport(wsTransport(input.socket as WebSocket), input, sendBack),
)

/**
 * The connection machine for ws sockets. Spawn it (always with an `id`) with
 * `input: { socket, options }`, where `socket` is a ws WebSocket, CONNECTING or OPEN.
 */
export const connectionMachine = pureConnectionMachine.provide({
  actors: { transport: wsTransportLogic },
})
