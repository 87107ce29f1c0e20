// An echo server: every byte a client sends comes back, until the client closes.
// Run: node examples/echo-server.js  (it serves one demo client of its own, then drains and exits)
import { WsStreamServer, connect } from 'ws-stream-actor'

const server = new WsStreamServer({ host: '127.0.0.1', port: 0, handler: echo })  // a failing connection fails alone
await server.listening
const url = `ws://127.0.0.1:${server.address().port}`
console.log(`[server] listening on ${url}`)

async function echo(stream) {
  // read() returns null once the client's Close has arrived; the echo ends with a close of our own.
  for (let chunk; (chunk = await stream.read()) !== null;) await stream.write(chunk)
  const info = await stream.closed
  console.log(`[server] connection closed: code ${info.code}, clean ${info.wasClean}, initiator ${info.initiator}`)
}

const client = await connect(url, { timeout: 5000 })
const sent = new Uint8Array(100_000).map((_, i) => i % 251)
await client.write(sent)
const back = await client.readExactly(sent.length)   // message boundaries are invisible: however it was split
console.log(`[client] ${back.length} bytes echoed, equal: ${Buffer.compare(back, sent) === 0}`)
const info = await client.close(1000, 'done', { timeout: 2000 })
console.log(`[client] closed: code ${info.code}, clean ${info.wasClean}`)

console.log(`[server] drained: ${JSON.stringify(await server.close({ timeout: 1000 }))}`)
