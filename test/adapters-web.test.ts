import t from 'tap'
import { ConnectionResetError, InvalidCloseCodeError, isCloseRequest, type WsStream } from '../src/index.js'
import { bytes, peerClosed, streamAndPeer, streamPair, text } from './support/helpers.js'
import { flood, floodHeldBack, sha256 } from './support/flood.js'
import { MiB } from './support/memory.js'

// The chunks own ArrayBuffers (createReadableStream's type says so); stream.readable's getter is
// typed with the wider Uint8Array, which DecompressionStream's BufferSource input does not accept.
const readableOf = (stream: WsStream) => stream.readable as ReadableStream<Uint8Array<ArrayBuffer>>
const writableOf = (stream: WsStream) => stream.writable

async function collect(readable: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  const reader = readable.getReader()
  for (let next = await reader.read(); !next.done; next = await reader.read()) parts.push(next.value)
  return Buffer.concat(parts)
}

t.test('a reader that stops reading pauses the socket: a 64 MiB flood leaves memory bounded, then arrives whole', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  let paused = false
  stream.on('paused', () => { paused = true })
  const reader = readableOf(stream).getReader()
  const parts: Uint8Array[] = []
  const sending = await floodHeldBack(t, 'readable', peer, () => paused, async () => {
    const first = await reader.read()
    t.notOk(first.done)
    parts.push(first.value!)
  })

  void sending.done.then(() => peer.close(1000))
  for (let next = await reader.read(); !next.done; next = await reader.read()) parts.push(next.value)
  t.equal(sha256(...parts), await sending.done, 'every byte arrived, in order')
})

t.test('BYOB reads fill the caller\'s buffers, never more than asked', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const data = bytes(100_000, 3)
  peer.send(data.subarray(0, 60_000))
  peer.send(data.subarray(60_000))
  peer.close(1000)
  const reader = readableOf(stream).getReader({ mode: 'byob' })
  const parts: Buffer[] = []
  let buffer = new ArrayBuffer(7777)
  for (;;) {
    const { done, value } = await reader.read(new Uint8Array(buffer))
    if (done) break
    t.ok(value.length <= 7777)
    parts.push(Buffer.from(value))
    buffer = value.buffer // BYOB hands the buffer back: reuse it
  }
  t.equal(Buffer.compare(Buffer.concat(parts), data), 0)
})

t.test('a ReadableStream piped through DecompressionStream gets what the other side sent through CompressionStream', async (t) => {
  const { client, server } = await streamPair(t)
  const data = bytes(4 * MiB, 11)
  const source = new ReadableStream<Uint8Array<ArrayBuffer>>({
    start(controller) {
      for (let i = 0; i < data.length; i += 65536) controller.enqueue(new Uint8Array(data.subarray(i, i + 65536)))
      controller.close()
    },
  })
  const [, received] = await Promise.all([
    source.pipeThrough(new CompressionStream('gzip')).pipeTo(writableOf(client)),
    collect(readableOf(server).pipeThrough(new DecompressionStream('gzip'))),
  ])
  t.equal(sha256(received), sha256(data))
  t.match(await client.closed, { code: 1000, wasClean: true, initiator: 'local' })
  t.match(await server.closed, { code: 1000, wasClean: true, initiator: 'remote' })
})

t.test('cancel() closes with 1000, and drops what the peer still sends so the handshake finishes', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const closing = peerClosed(peer)
  flood(peer, 16 * MiB)
  const reader = readableOf(stream).getReader()
  t.notOk((await reader.read()).done)
  await reader.cancel()
  t.match(await closing, { code: 1000 })
  t.match(await stream.closed, { code: 1000, wasClean: true, initiator: 'local' })
})

t.test('cancel({ code, reason }) closes with that code and reason', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const closing = peerClosed(peer)
  await readableOf(stream).cancel({ code: 4000, reason: 'enough' })
  t.same(await closing, { code: 4000, reason: 'enough' })
  t.match(await stream.closed, { code: 4000, reason: 'enough', wasClean: true, initiator: 'local' })
})

t.test('cancel() with a code that may not be sent rejects and leaves the connection open', async (t) => {
  const { stream } = await streamAndPeer(t)
  await t.rejects(readableOf(stream).cancel({ code: 1005 }), InvalidCloseCodeError)
  t.equal(stream.state, 'open')
})

t.test('the readable stream ends after the peer\'s clean close, and errors with ConnectionResetError on a reset', async (t) => {
  const clean = await streamAndPeer(t)
  clean.peer.send(Buffer.from('bye'))
  clean.peer.close(1000)
  t.equal(text(await collect(readableOf(clean.stream))), 'bye')

  const reset = await streamAndPeer(t)
  reset.peer.send(Buffer.from('cut'), () => reset.peer.terminate())
  const reader = readableOf(reset.stream).getReader()
  t.equal(text((await reader.read()).value ?? null), 'cut')
  await t.rejects(reader.read(), ConnectionResetError)
})

t.test('writable.close() flushes and closes with 1000; the readable side still gets the peer\'s reply', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const got: Buffer[] = []
  peer.on('message', (data: Buffer) => {
    got.push(data)
    peer.send(Buffer.from('reply'))
  })
  const closing = peerClosed(peer)
  const writer = writableOf(stream).getWriter()
  await writer.write(new TextEncoder().encode('request'))
  await writer.close()
  t.equal(text(await collect(readableOf(stream))), 'reply')
  t.equal(Buffer.concat(got).toString(), 'request')
  t.match(await closing, { code: 1000 })
  t.match(await stream.closed, { code: 1000, wasClean: true, initiator: 'local' })
})

t.test('writable.abort() drops the connection (1006); abort({ code, reason }) closes with that code', async (t) => {
  const dropped = await streamAndPeer(t)
  const droppedClose = peerClosed(dropped.peer)
  await writableOf(dropped.stream).abort(new Error('no'))
  t.match(await droppedClose, { code: 1006 })
  t.match(await dropped.stream.closed, { code: 1006, wasClean: false })

  const closed = await streamAndPeer(t)
  const closedClose = peerClosed(closed.peer)
  await writableOf(closed.stream).abort({ code: 4001, reason: 'stop' })
  t.same(await closedClose, { code: 4001, reason: 'stop' })
  t.match(await closed.stream.closed, { code: 4001, wasClean: true, initiator: 'local' })
})

t.test('the writable stream refuses chunks that are not bytes', async (t) => {
  const { stream } = await streamAndPeer(t)
  const writer = writableOf(stream).getWriter()
  await t.rejects(writer.write('text' as unknown as Uint8Array), TypeError)
})

t.test('only an object with a numeric code is a close request (error codes are strings)', async (t) => {
  t.ok(isCloseRequest({ code: 1000 }))
  t.notOk(isCloseRequest(Object.assign(new Error('x'), { code: 'ERR_X' })))
  t.notOk(isCloseRequest('4000'))
  t.notOk(isCloseRequest(null))
})
