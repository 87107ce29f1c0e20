// A WebSocket as a Node Duplex: the client gzips 4 MiB of text into `stream.toDuplex()` with
// `pipeline()`, the server gunzips what it reads from its own duplex and hashes it. `end()` of
// the client's duplex (done by pipeline) flushes and closes with 1000; the server's readable
// side ends at the client's Close.
import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import { connect, WsStreamServer } from 'ws-stream-actor'

// The handler hashes what each connection sends; a connection that fails (a reset, bytes that are
// not gzip) fails alone. The first connection is this demo's own client.
let first
const received = new Promise((resolve, reject) => { first = { resolve, reject } })
const server = new WsStreamServer({ host: '127.0.0.1', port: 0, handler: receive })
server.on('connectionError', (error, { id }) => console.log(`[server] ${id}: ${error.message}`))
await server.listening
const url = `ws://127.0.0.1:${server.address().port}`
console.log(`server listening on ${url}`)

async function receive(stream) {
  const report = first
  first = undefined
  const hash = createHash('sha256')
  let bytes = 0
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      hash.update(chunk)
      bytes += chunk.length
      callback()
    },
  })
  try {
    await pipeline(stream.toDuplex(), createGunzip(), sink)
    report?.resolve({ bytes, sha256: hash.digest('hex'), wire: stream.stats.bytesRead })
  } catch (error) {
    report?.reject(error)
    throw error
  }
}

// 4 MiB of numbered lines, hashed on the way out.
const sent = createHash('sha256')
function* lines() {
  for (let i = 0; i < 65536; i++) {
    const line = Buffer.from(`line ${String(i).padStart(5, '0')} of a text that compresses well\n`.padEnd(64, '.'))
    sent.update(line)
    yield line
  }
}

const client = await connect(url)
const duplex = client.toDuplex()
await pipeline(Readable.from(lines()), createGzip(), duplex)
const result = await received
console.log(`server gunzipped ${result.bytes} bytes from ${result.wire} bytes on the wire`)
console.log(`sha256 equal: ${result.sha256 === sent.digest('hex')}`)

const info = await duplex.closeInfo
console.log(`client closed: code ${info.code}, clean ${info.wasClean}, initiator ${info.initiator}`)
await server.close({ timeout: 1000 })
