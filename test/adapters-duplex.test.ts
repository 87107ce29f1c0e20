import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import t from 'tap'
import { ConnectionResetError, type DuplexOptions, type WsStream } from '../src/index.js'
import { bytes, peerClosed, streamAndPeer, streamPair, waitFor } from './support/helpers.js'
import { flood, floodHeldBack, sha256 } from './support/flood.js'
import { MiB } from './support/memory.js'

const toDuplex = (stream: WsStream, options?: DuplexOptions) => stream.toDuplex(options)

t.test('a pipeline into a slow writable pauses the socket: a 64 MiB flood leaves memory bounded, then arrives whole', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  let paused = false
  stream.on('paused', () => { paused = true })
  const duplex = toDuplex(stream)
  let release: (() => void) | undefined
  const hash = (await import('node:crypto')).createHash('sha256')
  let received = 0
  const slow = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      received += chunk.length
      if (release === null) callback()
      else release = () => callback()
    },
  })
  let piping: Promise<void> | undefined
  const sending = await floodHeldBack(t, 'duplex', peer, () => paused, () => { piping = pipeline(duplex, slow) })

  // Let the writable go: everything arrives, in order.
  const pending = release as (() => void) | undefined
  release = null as unknown as undefined
  pending?.()
  const sent = await sending.done
  peer.close(1000)
  await piping
  t.equal(received, 64 * MiB)
  t.equal(hash.digest('hex'), sent, 'the bytes are the peer\'s, in order')
})

t.test('readline reads the peer\'s lines over the duplex, lines split across messages included', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const lines = createInterface({ input: toDuplex(stream), crlfDelay: Infinity })
  peer.send(Buffer.from('first line\nsec'))
  peer.send(Buffer.from('ond line\r\nthird'))
  peer.send(Buffer.from(' line\n'))
  peer.close(1000)
  const got: string[] = []
  for await (const line of lines) got.push(line)
  t.same(got, ['first line', 'second line', 'third line'])
})

t.test('gzip on one side and gunzip on the other carry 10 MiB intact through pipeline()', async (t) => {
  const { client, server } = await streamPair(t)
  const data = bytes(10 * MiB, 7)
  const chunks = function* () {
    for (let i = 0; i < data.length; i += 100_000) yield data.subarray(i, i + 100_000)
  }
  const hash = (await import('node:crypto')).createHash('sha256')
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      callback()
    },
  })
  await Promise.all([
    pipeline(Readable.from(chunks()), createGzip(), toDuplex(client)),
    pipeline(toDuplex(server), createGunzip(), sink),
  ])
  t.equal(hash.digest('hex'), sha256(data))
  const [clientInfo, serverInfo] = await Promise.all([client.closed, server.closed])
  t.match(clientInfo, { code: 1000, wasClean: true, initiator: 'local' })
  t.match(serverInfo, { code: 1000, wasClean: true, initiator: 'remote' })
})

t.test('end() flushes, closes with 1000, and the readable side delivers the peer\'s bytes until its Close', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const duplex = toDuplex(stream)
  const peerGot: Buffer[] = []
  peer.on('message', (data: Buffer) => {
    peerGot.push(data)
    // Sent after our Close left, before ws has read it: it must still reach our reader.
    peer.send(Buffer.from('late reply'))
  })
  const closing = peerClosed(peer)
  duplex.end('last words')
  const got: Buffer[] = []
  for await (const chunk of duplex) got.push(chunk as Buffer)
  t.equal(Buffer.concat(peerGot).toString(), 'last words', 'the written bytes went out before the Close')
  t.equal(Buffer.concat(got).toString(), 'late reply', 'the reply after our Close was delivered')
  t.match(await closing, { code: 1000 }, 'the peer saw 1000')
  t.match(await duplex.closeInfo, { code: 1000, wasClean: true, initiator: 'local' })
})

t.test('breaking out of for await closes cleanly with 1000 even while the peer keeps sending', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const duplex = toDuplex(stream)
  const closing = peerClosed(peer)
  flood(peer, 16 * MiB)
  for await (const chunk of duplex) {
    t.ok((chunk as Buffer).length > 0)
    break
  }
  t.match(await closing, { code: 1000 }, 'the peer saw 1000, not 1006')
  t.match(await duplex.closeInfo, { code: 1000, wasClean: true, initiator: 'local' })
  t.ok(duplex.destroyed)
})

t.test('destroy(err) aborts the connection: the peer sees 1006 and the duplex emits err', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const duplex = toDuplex(stream)
  const closing = peerClosed(peer)
  const failure = new Error('giving up')
  const errored = once(duplex, 'error')
  duplex.destroy(failure)
  t.equal((await errored)[0], failure)
  t.match(await closing, { code: 1006 })
  t.match(await duplex.closeInfo, { code: 1006, wasClean: false })
})

t.test('a clean close by the peer ends the readable side without an error, and the close info says why', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const duplex = toDuplex(stream)
  let errors = 0
  duplex.on('error', () => errors++)
  peer.send(Buffer.from('all of it'))
  peer.close(4000, 'bye')
  const got: Buffer[] = []
  duplex.on('data', (chunk: Buffer) => got.push(chunk))
  await once(duplex, 'close')
  t.equal(Buffer.concat(got).toString(), 'all of it')
  t.equal(errors, 0, 'no error event')
  t.ok(duplex.writableFinished, 'the writable side ended with the readable one (no half-open WebSocket)')
  t.match(await duplex.closeInfo, { code: 4000, reason: 'bye', wasClean: true, initiator: 'remote' })
})

t.test('a connection reset is an error event carrying ConnectionResetError, after the bytes that arrived', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const duplex = toDuplex(stream)
  peer.send(Buffer.from('before'), () => peer.terminate())
  const got: Buffer[] = []
  const error = await (async () => {
    try {
      for await (const chunk of duplex) got.push(chunk as Buffer)
    } catch (e) {
      return e
    }
  })()
  t.type(error, ConnectionResetError)
  t.equal(Buffer.concat(got).toString(), 'before')
})

t.test('a write after the peer closed is an error (the bytes were not delivered)', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const duplex = toDuplex(stream)
  peer.close(1000)
  await waitFor(() => stream.state === 'closed')
  const errored = once(duplex, 'error')
  duplex.write('too late')
  const [error] = await errored
  t.equal((error as { code?: string }).code, 'ERR_WS_CONNECTION_CLOSED')
})

t.test('readableHighWaterMark bounds every chunk the duplex pulls', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const duplex = toDuplex(stream, { readableHighWaterMark: 1000 })
  peer.send(bytes(10_000))
  peer.close()
  let total = 0
  for await (const chunk of duplex) {
    t.ok((chunk as Buffer).length <= 1000)
    total += (chunk as Buffer).length
  }
  t.equal(total, 10_000)
})
