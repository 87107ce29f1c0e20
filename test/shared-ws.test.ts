/** The shared behaviour suite (test/shared-behaviour.ts) over the ws transport. */
import t from 'tap'
import { WebSocket } from 'ws'
import { WsStream } from '../src/index.js'
import { rawServer, waitFor } from './helpers.js'
import { sharedBehaviour } from './shared-behaviour.js'

sharedBehaviour(t, { textCloseCode: 1003 }, async (t, options = {}, peerOptions = {}) => {
  const server = await rawServer(t)
  const socket = new WebSocket(server.url)
  t.teardown(() => socket.terminate())
  const stream = new WsStream(socket, options)
  const peerSocket = await server.accept()
  const peer = new WsStream(peerSocket, peerOptions)
  t.teardown(() => { stream.abort(); peer.abort() })
  await waitFor(() => stream.state === 'open', 5000, 'open')
  return { stream, peer, peerSocket }
})
