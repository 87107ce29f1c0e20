/**
 * Node's half of WsStream, installed when the Node entry (src/index.ts) loads: ws sockets (tried
 * before the standard shape, which ws sockets also have) and `toDuplex()`. The browser entry never
 * loads this module, so nothing on its path imports `ws` or `node:*`.
 *
 * @module
 */
import { createDuplex } from './adapters/duplex.js'
import { connectionMachine } from './machine.js'
import { nodeSupport, socketKinds, type SocketKind } from './socket-kinds.js'
import { ResumeSession } from './transport/resume.js'
import { assertWsSocket } from './transport/ws.js'

/** A ws WebSocket: an EventEmitter with ws's `terminate()`. */
const wsSocketKind: SocketKind = {
  name: 'a WebSocket from the ws package (ws >= 8)',
  accepts: (socket) => {
    const s = socket as { on?: unknown; terminate?: unknown } | null
    return typeof s === 'object' && s !== null && typeof s.on === 'function' && typeof s.terminate === 'function'
  },
  check: (socket) => assertWsSocket(socket),
  machine: connectionMachine,
}

/** A resumable session over ws sockets (made by `connect()` and `WsStreamServer` with `resume`). */
const resumeSessionKind: SocketKind = {
  name: 'a resumable session',
  accepts: (socket) => socket instanceof ResumeSession,
  check: () => {},
  machine: connectionMachine,
}

socketKinds.unshift(resumeSessionKind, wsSocketKind)
nodeSupport.createDuplex = createDuplex
