// A WebSocket as WHATWG streams: the client pipes text through TextEncoderStream and
// CompressionStream into `stream.writable`; the server reads `stream.readable` through
// DecompressionStream and TextDecoderStream. Closing the writable flushes and closes with 1000.
// Then a BYOB reader, and `cancel({ code, reason })` closing with a code of our choosing.
import { connect, WsStreamServer } from 'ws-stream-actor'

const server = new WsStreamServer({ host: '127.0.0.1', port: 0 })
await server.listening
const url = `ws://127.0.0.1:${server.address().port}`
console.log(`server listening on ${url}`)

const connections = []
server.on('connection', (stream) => connections.push(stream))
const nextConnection = async () => {
  while (connections.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  return connections.shift()
}

// 1. Compressed text, client to server.
const paragraphs = Array.from({ length: 1000 }, (_, i) => `Paragraph ${i}: streams all the way down.\n`)
const client = await connect(url)
const serverSide = await nextConnection()
const reading = (async () => {
  let text = ''
  const reader = serverSide.readable.pipeThrough(new DecompressionStream('gzip')).pipeThrough(new TextDecoderStream()).getReader()
  for (let next = await reader.read(); !next.done; next = await reader.read()) text += next.value
  return text
})()
await ReadableStream.from(paragraphs)
  .pipeThrough(new TextEncoderStream())
  .pipeThrough(new CompressionStream('gzip'))
  .pipeTo(client.writable)
const text = await reading
console.log(`server decompressed ${text.length} characters from ${serverSide.stats.bytesRead} bytes on the wire`)
console.log(`text equal: ${text === paragraphs.join('')}`)
const first = await client.closed
console.log(`first connection closed: code ${first.code}, clean ${first.wasClean}, initiator ${first.initiator}`)

// 2. BYOB reads into one reused buffer, then cancel with a code.
const second = await connect(url)
const peer = await nextConnection()
await peer.write('0123456789abcdefghij')
const byob = second.readable.getReader({ mode: 'byob' })
let buffer = new ArrayBuffer(8)
const pieces = []
while (pieces.join('').length < 20) {
  const { value } = await byob.read(new Uint8Array(buffer))
  pieces.push(new TextDecoder().decode(value))
  buffer = value.buffer
}
console.log(`BYOB read 20 bytes as ${pieces.map((p) => JSON.stringify(p)).join(' + ')}`)
await byob.cancel({ code: 4000, reason: 'seen enough' })
const info = await peer.closed
console.log(`the server saw the cancel as: code ${info.code}, reason "${info.reason}", clean ${info.wasClean}`)

await server.close({ timeout: 1000 })
