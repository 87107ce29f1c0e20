import { once } from 'node:events'
import t from 'tap'
import { ConnectionResetError, MessageTooLargeError, UnexpectedEofError, WsStream } from '../src/index.js'
import { bytes, rawServer, readAll, streamAndPeer, text } from './support/helpers.js'
import { WebSocket } from 'ws'


for (const side of ['client', 'server'] as const) {
  t.test(`as ${side}: the peer sends two lines then closes, the reader gets both lines then null`, async (t) => {
    const { stream, peer } = await streamAndPeer(t, { side })
    peer.send(Buffer.from('one\n'))
    peer.send(Buffer.from('two\n'))
    peer.close(1000)
    t.equal(text(await stream.readUntil(10)), 'one\n')
    t.equal(text(await stream.readUntil(10)), 'two\n')
    t.equal(await stream.readUntil(10), null)
    t.equal(await stream.read(), null)
    t.equal((await stream.closed).code, 1000)
  })
}

t.test('a line split over two messages is read whole by readUntil(10)', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.from('hel'))
  const line = stream.readUntil(10)
  await new Promise((resolve) => setTimeout(resolve, 20))
  peer.send(Buffer.from('lo\nrest'))
  t.equal(text(await line), 'hello\n')
  t.equal(text(await stream.read()), 'rest', 'the rest of a message is kept for the next read')
})

t.test('read(max) returns at most max bytes and keeps the rest', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.from('abcdef'))
  t.equal(text(await stream.read(4)), 'abcd')
  t.equal(text(await stream.read(4)), 'ef')
  await t.rejects(stream.read(0), RangeError)
})

t.test('empty messages are skipped', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.alloc(0))
  peer.send(Buffer.from('x'))
  t.equal(text(await stream.read()), 'x')
  t.equal(stream.stats.messagesIn, 2, 'both messages counted')
})

t.test('the end is sticky: null forever', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.close()
  t.equal(await stream.read(), null)
  t.equal(await stream.read(), null)
  t.equal(await stream.fill(), null)
  t.equal(await stream.readUntil(10), null)
  await t.rejects(stream.readExactly(1), UnexpectedEofError)
})

t.test('readExactly waits for bytes spread over messages and reports a short end', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.from('ab'))
  peer.send(Buffer.from('cd'))
  peer.send(Buffer.from('e'))
  t.equal(text(await stream.readExactly(3)), 'abc')
  t.equal(text(await stream.readExactly(0)), '')
  peer.close()
  const error = await stream.readExactly(5).catch((e: unknown) => e)
  t.type(error, UnexpectedEofError)
  t.equal((error as UnexpectedEofError).code, 'ERR_WS_UNEXPECTED_EOF')
  t.equal(text((error as UnexpectedEofError).partial), 'de', 'the bytes that came are handed back')
  await t.rejects(stream.readExactly(-1), RangeError)
})

t.test('readExactly larger than the read high-water mark does not stall', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { readHighWaterMark: 1024 } })
  const data = bytes(64 * 1024)
  for (let i = 0; i < data.length; i += 4096) peer.send(data.subarray(i, i + 4096))
  const got = await stream.readExactly(data.length)
  t.equal(Buffer.compare(got, data), 0)
})

t.test('readUntil: multi-byte delimiters across chunks, the end without one, and maxLength', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.from('a\r'))
  peer.send(Buffer.from('\nbcdefgh'))
  t.equal(text(await stream.readUntil(Buffer.from('\r\n'))), 'a\r\n')
  const error = await stream.readUntil(10, { maxLength: 4 }).catch((e: unknown) => e)
  t.type(error, MessageTooLargeError)
  t.equal((error as MessageTooLargeError).code, 'ERR_WS_MESSAGE_TOO_LARGE')
  t.equal(text(await stream.read(3)), 'bcd', 'the over-long bytes stay readable')
  peer.close()
  t.equal(text(await stream.readUntil(10)), 'efgh', 'at the end, what is left without a delimiter')
  t.equal(await stream.readUntil(10), null)
  await t.rejects(stream.readUntil(new Uint8Array(0)), RangeError)
  await t.rejects(stream.readUntil(300), RangeError)
})

t.test('readUntil finds a line longer than the high-water mark when maxLength allows it', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { readHighWaterMark: 1000 } })
  const line = Buffer.concat([Buffer.alloc(50_000, 'x'), Buffer.from('\r\n')])
  for (let i = 0; i < line.length; i += 999) peer.send(line.subarray(i, i + 999))
  peer.send(Buffer.from('next'))
  const got = await stream.readUntil(Buffer.from('\r\n'), { maxLength: 60_000 })
  t.equal(Buffer.compare(got!, line), 0)
  t.equal(text(await stream.read()), 'next')
})

t.test('readUntil rejects a line over maxLength beyond the high-water mark and keeps its bytes', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { readHighWaterMark: 1000 } })
  const data = Buffer.alloc(5000, 'y')
  for (let i = 0; i < data.length; i += 500) peer.send(data.subarray(i, i + 500))
  await t.rejects(stream.readUntil(10, { maxLength: 3000 }), MessageTooLargeError)
  peer.close()
  const rest = await readAll(stream)
  t.equal(rest.length, 5000, 'nothing was lost')
})

t.test('fill shows buffered bytes without consuming them; consume drops them', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.from('abc'))
  t.equal(text(await stream.fill()), 'abc')
  t.equal(text(await stream.fill()), 'abc', 'still there')
  stream.consume(2)
  t.equal(text(await stream.fill()), 'c')
  t.throws(() => stream.consume(2), RangeError)
  stream.consume(1)
  peer.close()
  t.equal(await stream.fill(), null)
})

t.test('async iteration yields chunks until the end', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const data = bytes(100_000)
  for (let i = 0; i < data.length; i += 7000) peer.send(data.subarray(i, i + 7000))
  peer.close()
  t.equal(Buffer.compare(await readAll(stream), data), 0)
})

t.test('a read while another is pending is a ConcurrentReadError, and the pending one gets the bytes', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const first = stream.read()
  const second = stream.read()
  await t.rejects(second, { name: 'ConcurrentReadError', code: 'ERR_WS_CONCURRENT_READ' })
  peer.send(Buffer.from('abc'))
  t.equal(text((await first)!), 'abc')
  peer.send(Buffer.from('d'))
  t.equal(text((await stream.read())!), 'd', 'once the first settled, the next read is fine')
})

t.test('the peer destroyed mid-stream: read rejects with ConnectionResetError after the buffered bytes, then null', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.from('kept'))
  await new Promise<void>((resolve) => peer.once('close', () => resolve()).send(Buffer.alloc(0), () => {
    ;(peer as unknown as { _socket: import('node:net').Socket })._socket.destroy()
  }))
  const info = await stream.closed
  t.equal(info.code, 1006)
  t.equal(info.wasClean, false)
  t.type(info.error, ConnectionResetError)
  t.equal(text(await stream.read()), 'kept')
  const error = await stream.read().catch((e: unknown) => e)
  t.type(error, ConnectionResetError)
  t.equal((error as ConnectionResetError).code, 'ERR_WS_CONNECTION_RESET')
  t.equal(await stream.read(), null, 'the error is reported once, then the end')
})

t.test('a stream can start over a CONNECTING client socket', async (t) => {
  const server = await rawServer(t)
  const socket = new WebSocket(server.url)
  t.teardown(() => socket.terminate())
  const stream = new WsStream(socket)
  t.equal(stream.state, 'connecting')
  const peer = await server.accept()
  peer.send(Buffer.from('hi'))
  t.equal(text(await stream.read()), 'hi')
  t.equal(stream.state, 'open')
  await stream.close()
})

t.test('writes made while connecting go out once open', async (t) => {
  const server = await rawServer(t)
  const socket = new WebSocket(server.url)
  t.teardown(() => socket.terminate())
  const stream = new WsStream(socket)
  const written = stream.write('early')
  const peer = await server.accept()
  const [message] = (await once(peer, 'message')) as [Buffer]
  t.equal(message.toString(), 'early')
  await written
  await stream.close()
})
