/**
 * The connection machine with its transport provided for `ws` sockets: the one users spawn.
 *
 * @module
 */
import { pureConnectionMachine } from '../machines/connection.js'
import { transportAttacher } from './transport/wiring.js'
import { ResumeSession } from './transport/resume.js'
import { wsTransport } from './transport/ws.js'
import type { WebSocket } from 'ws'

/**
 * The connection machine for ws sockets. Spawn it (always with an `id`) with
 * `input: { socket, options }`, where `socket` is a ws WebSocket, CONNECTING or OPEN (or a resumable
 * session, which `connect()` and `WsStreamServer` make when `resume` is on).
 */
export const connectionMachine = pureConnectionMachine.provide({
  actions: {
    attachTransport: transportAttacher((socket) => (socket instanceof ResumeSession ? socket : wsTransport(socket as WebSocket))),
  },
})
