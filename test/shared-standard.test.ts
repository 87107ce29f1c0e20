/**
 * The shared behaviour suite (test/shared-behaviour.ts) over the standard-WebSocket transport. Node 20
 * has no global WebSocket, so the client socket is ws's seen through the standard API only
 * (test/standard-stand-in.ts); the real thing runs in Chromium (test/browser-chromium.test.ts).
 */
import t from 'tap'
import { WsStream } from '../src/index.js'
import { rawServer, waitFor } from './helpers.js'
import { sharedBehaviour } from './shared-behaviour.js'
import { StandardOnly } from './standard-stand-in.js'

sharedBehaviour(t, { textCloseCode: 4003 }, async (t, options = {}, peerOptions = {}) => {
  const server = await rawServer(t)
  const socket = new StandardOnly(server.url)
  t.teardown(() => socket.raw.terminate())
  const stream = new WsStream(socket, options)
  const peerSocket = await server.accept()
  const peer = new WsStream(peerSocket, peerOptions)
  t.teardown(() => { stream.abort(); peer.abort() })
  await waitFor(() => stream.state === 'open', 5000, 'open')
  return { stream, peer, peerSocket }
})
