// The demo behind `npm start`: an in-process server and client exchange lines over a real
// loopback WebSocket, the client pings, then closes with a timeout; every out-of-band event of
// both connections is printed as it happens.
import { WebSocket } from 'ws'
import { WsStream, WsStreamServer } from 'ws-stream-actor'

const decoder = new TextDecoder()
const show = (who) => (event) => {
  const detail = {
    state: () => `${event.from} → ${event.to}`,
    closeFrame: () => `code ${event.code} "${event.reason}"`,
    ping: () => `${event.data.length} bytes`,
    pong: () => `${event.data.length} bytes`,
    error: () => `${event.error.code}: ${event.error.message}`,
    closed: () => JSON.stringify({ ...event.info, error: event.info.error?.code }),
  }[event.type]?.() ?? ''
  console.log(`[${who}] event ${event.type}${detail ? ': ' + detail : ''}`)
}

const server = new WsStreamServer({ host: '127.0.0.1', port: 0, handler: serve })  // serve: below; its failures are contained
await server.listening
const { port } = server.address()
console.log(`server listening on ws://127.0.0.1:${port}`)

// Server side: answer each line in upper case until the client closes.
async function serve(stream) {
  stream.on('*', show('server'))
  for (let line; (line = await stream.readUntil(0x0a)) !== null;) {
    await stream.write(decoder.decode(line).toUpperCase())
  }
}

// A stream over a still-CONNECTING socket, so the demo shows its connecting → open transition too.
// (`await connect(url)` is the short way when you need the stream only once it is open.)
const client = new WsStream(new WebSocket(`ws://127.0.0.1:${port}`))
client.on('*', show('client'))
await new Promise((resolve) => client.on('state', (e) => e.to === 'open' && resolve()))

for (const line of ['hello over a byte stream', 'message boundaries are invisible']) {
  await client.write(line + '\n')
  const answer = await client.readUntil(0x0a)
  console.log(`[client] sent "${line}", got back "${decoder.decode(answer).trim()}"`)
}

console.log(`[client] ping round trip: ${(await client.ping()).toFixed(2)} ms`)
const info = await client.close(1000, 'demo done', { timeout: 1000 })
console.log(`[client] closed: code ${info.code}, reason "${info.reason}", clean ${info.wasClean}, initiator ${info.initiator}`)

const report = await server.close({ timeout: 1000 })
console.log(`server drained: ${JSON.stringify(report)}`)
