// Live inspection: the server's whole actor system — the server machine and every connection
// child — streamed to @statelyai/inspect's relay (a local WebSocket server), which a browser tab
// (http://localhost:PORT) bridges to the Stately inspector UI. The relay itself needs no internet;
// the UI page it frames does.
//
//   npm install -D @statelyai/inspect && npm run build
//   node examples/inspector.js            # keeps the relay up; open the printed URL, Ctrl-C to stop
//   node examples/inspector.js --exit     # one session, prints what the relay carried, exits
//   INSPECT_PORT=9000 node examples/inspector.js
import { createWebSocketInspector } from '@statelyai/inspect'
import { createInspectorServer } from '@statelyai/inspect/server'
import { WebSocket } from 'ws'
import { WsStreamServer, connect } from 'ws-stream-actor'

const port = Number(process.env.INSPECT_PORT ?? 8080)
const once = process.argv.includes('--exit')

const relay = createInspectorServer({ port, autoOpen: false })
const inspector = createWebSocketInspector({
  url: `ws://localhost:${port}`,
  // A connection's context holds its socket and buffers; show what a person wants to see.
  sanitizeContext: (context) =>
    context && 'io' in context
      ? { state: context.state, initiator: context.initiator, buffered: context.io.readBuffered }
      : context,
})

// Another relay client, like the browser bridge: it prints each actor's states as they pass.
const watcher = new WebSocket(`ws://localhost:${port}`)
const names = new Map()
let lastServerState
watcher.on('message', (data) => {
  const event = JSON.parse(data.toString())
  if (event.type === '@xstate.actor') names.set(event.sessionId, event.name)
  if (event.type === '@xstate.snapshot') {
    const value = typeof event.snapshot.value === 'string' ? event.snapshot.value : JSON.stringify(event.snapshot.value)
    const name = names.get(event.sessionId) ?? event.sessionId
    // Callback actors (the transport, the keep-alive) have no state value: skip them.
    if (event.snapshot.value !== undefined) console.log(`[relay] ${name}: ${value} (after ${event.event.type})`)
    if (name === 'server') lastServerState = value
  }
})
await new Promise((resolve, reject) => { watcher.once('open', resolve); watcher.once('error', reject) })

const server = new WsStreamServer({ host: '127.0.0.1', port: 0, inspect: inspector.inspect })
await server.listening
server.on('connection', async (stream) => {
  for await (const chunk of stream) await stream.write(chunk)
})

const url = `ws://127.0.0.1:${server.address().port}`
const clients = await Promise.all([connect(url), connect(url)])
for (const [i, client] of clients.entries()) {
  await client.write(`client ${i} says hi`)
  console.log(`[client ${i}] echo: ${Buffer.from(await client.read())}`)
}
const report = await server.close({ timeout: 2000 })
console.log(`[server] drained: ${JSON.stringify(report)}`)

if (once) {
  // Inspection events are sent on the next tick; wait for the server's last one to come through.
  while (lastServerState !== 'stopped') await new Promise((resolve) => setTimeout(resolve, 10))
  inspector.stop()
  watcher.close()
  relay.stop()
} else {
  console.log(`Inspector relay on ws://localhost:${port}; open http://localhost:${port} to see the session. Ctrl-C to stop.`)
}
