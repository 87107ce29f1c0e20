// Binary frames with framed(stream, lengthPrefixedCodec()): a u32 big-endian length, then the
// payload. Frames of any size cross message boundaries intact; the server answers each with a
// frame holding its size and first byte. A header over maxFrameLength ends the connection with
// 1009 before the payload is buffered.
import { connect, framed, lengthPrefixedCodec, WsStreamServer } from 'ws-stream-actor'

const server = new WsStreamServer({ host: '127.0.0.1', port: 0, stream: { maxMessageSize: 16 * 1024 }, handler: describe })
await server.listening
const url = `ws://127.0.0.1:${server.address().port}`
console.log(`server listening on ${url}`)

async function describe(stream) {
  const frames = framed(stream, lengthPrefixedCodec({ maxFrameLength: 1024 * 1024 }))
  try {
    for await (const frame of frames) {
      await frames.send(new TextEncoder().encode(`${frame.length} bytes starting with ${frame[0] ?? 'nothing'}`))
    }
  } catch (error) {
    console.log(`[server] ${error.code}: ${error.message}`)
  }
}

// The client splits its writes into small messages: frames span many of them.
const client = framed(await connect(url, { stream: { maxMessageSize: 1000 } }), lengthPrefixedCodec())
const answers = client[Symbol.asyncIterator]()
for (const size of [0, 5, 70_000, 1024 * 1024]) {
  await client.send(new Uint8Array(size).fill(size % 251))
  console.log(`[client] sent ${size}, got "${new TextDecoder().decode((await answers.next()).value)}"`)
}
const info = await client.close()
console.log(`[client] closed: code ${info.code}, clean ${info.wasClean}`)

const big = await connect(url)
await big.write(new Uint8Array([0x7f, 0xff, 0xff, 0xff])) // announces a 2 GiB frame
const cut = await big.closed
console.log(`[big client] a header announcing 2 GiB: closed with ${cut.code} "${cut.reason}"`)

await server.close({ timeout: 1000 })
