/**
 * The shared behaviour suite (test/shared-behaviour.ts) over the standard-WebSocket transport. Node 20
 * has no global WebSocket, so the client socket is ws's seen through the standard API only
 * (test/standard-stand-in.ts); the real thing runs in Chromium (test/browser-chromium.test.ts).
 */
import t from 'tap'
import { pairOver, sharedBehaviour } from './shared-behaviour.js'
import { StandardOnly } from './standard-stand-in.js'

sharedBehaviour(t, { textCloseCode: 4003 }, pairOver((url) => {
  const socket = new StandardOnly(url)
  return { socket, drop: () => socket.raw.terminate() }
}))
