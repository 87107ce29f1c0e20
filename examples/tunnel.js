// A TCP tunnel over a WebSocket, both ends in one script:
//   TCP client → [entry: TCP listener → connect()] ⇒ WebSocket ⇒ [exit: WsStreamServer → TCP] → TCP service
// Each end joins a TCP socket to stream.toDuplex() with stream.pipeline; the TCP service here
// answers each line in upper case. (`ws-stream listen --to` and `ws-stream connect` are the same thing as a command.)
import net from 'node:net'
import { pipeline } from 'node:stream/promises'
import { WsStreamServer, connect } from 'ws-stream-actor'

const listening = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))

// The TCP service.
const service = net.createServer((socket) => {
  socket.setEncoding('utf8')
  socket.on('data', (text) => socket.write(text.toUpperCase()))
  socket.on('end', () => socket.end())
  socket.on('error', () => {})   // a tunnel cut by a reset WebSocket resets its TCP connection too
})
await listening(service)

// The exit: every WebSocket connection becomes a TCP connection to the service.
const tunnels = []
// The handler's failures stay its connection's: the exit keeps serving the others.
const exit = new WsStreamServer({ host: '127.0.0.1', port: 0, handler: (stream) => { const tunnel = bridge(stream); tunnels.push(tunnel); return tunnel } })
await exit.listening
async function bridge(stream) {
  const upstream = net.connect(service.address().port, '127.0.0.1')
  const duplex = stream.toDuplex()
  await Promise.allSettled([pipeline(duplex, upstream), pipeline(upstream, duplex)])
  const info = await stream.closed
  console.log(`[exit] tunnel closed: code ${info.code}, clean ${info.wasClean}, initiator ${info.initiator}`)
}

// The entry: every TCP connection becomes a WebSocket connection to the exit.
const entry = net.createServer(async (socket) => {
  const duplex = (await connect(`ws://127.0.0.1:${exit.address().port}`, { timeout: 5000 })).toDuplex()
  await Promise.allSettled([pipeline(socket, duplex), pipeline(duplex, socket)])
})
await listening(entry)

// A TCP client that only knows the entry's port.
const client = net.connect(entry.address().port, '127.0.0.1')
client.setEncoding('utf8')
let answer = ''
client.on('data', (text) => { answer += text })
for (const line of ['hello through the tunnel\n', 'bytes in, bytes out\n']) client.write(line)
while (answer.split('\n').length < 3) await new Promise((resolve) => setTimeout(resolve, 5))
console.log(`[client] got back:\n${answer.trimEnd()}`)
client.end()
await new Promise((resolve) => client.on('close', resolve))
await Promise.all(tunnels)

console.log(`[exit] drained: ${JSON.stringify(await exit.close({ timeout: 1000 }))}`)
await new Promise((resolve) => entry.close(resolve))
await new Promise((resolve) => service.close(resolve))
