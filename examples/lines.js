// Lines over a WebSocket with framed(stream, linesCodec()): the server answers each line in
// upper case; the client sends a few, reads the answers, and closes. A line over the server's
// maxLength ends the connection with 1009 and a MessageTooLargeError on the server's side.
import { connect, framed, linesCodec, WsStreamServer } from 'ws-stream-actor'

const server = new WsStreamServer({ host: '127.0.0.1', port: 0, handler: shout })
await server.listening
const url = `ws://127.0.0.1:${server.address().port}`
console.log(`server listening on ${url}`)

async function shout(stream) {
  const lines = framed(stream, linesCodec({ maxLength: 80 }))
  try {
    for await (const line of lines) await lines.send(line.toUpperCase())
  } catch (error) {
    console.log(`[server] ${error.code}: ${error.message}`)
  }
}

const client = framed(await connect(url), linesCodec())
const answers = client[Symbol.asyncIterator]()
for (const line of ['hello', 'framed lines']) await client.send(line)
await client.stream.write('ended by CRLF\r\nand split ') // raw bytes: CRLF is tolerated
await client.stream.write('over two writes\n') //            and a line may span writes
for (let i = 0; i < 4; i++) console.log(`[client] got "${(await answers.next()).value}"`)
const info = await client.close()
console.log(`[client] closed: code ${info.code}, clean ${info.wasClean}`)

const rude = framed(await connect(url), linesCodec())
await rude.send('x'.repeat(100))
const cut = await rude.stream.closed
console.log(`[rude client] a 100-byte line against maxLength 80: closed with ${cut.code} "${cut.reason}"`)

await server.close({ timeout: 1000 })
