/**
 * The shared behaviour suite (test/support/shared-behaviour.ts) over the standard-WebSocket transport. Node 20
 * has no global WebSocket, so the client socket is ws's seen through the standard API only
 * (test/support/standard-stand-in.ts); the real thing runs in Chromium (test/browser-chromium.test.ts).
 */
import t from 'tap'
import { pairOver, sharedBehaviour } from './support/shared-behaviour.js'
import { StandardOnly } from './support/standard-stand-in.js'

sharedBehaviour(t, { textCloseCode: 4003 }, pairOver((url) => {
  const socket = new StandardOnly(url)
  return { socket, drop: () => socket.raw.terminate() }
}))
