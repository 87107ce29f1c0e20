/** The shared behaviour suite (test/support/shared-behaviour.ts) over the ws transport. */
import t from 'tap'
import { WebSocket } from 'ws'
import { pairOver, sharedBehaviour } from './support/shared-behaviour.js'

sharedBehaviour(t, { textCloseCode: 1003 }, pairOver((url) => {
  const socket = new WebSocket(url)
  return { socket, drop: () => socket.terminate() }
}))
