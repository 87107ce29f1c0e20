import t from 'tap'
import { framed, linesCodec, MessageTooLargeError } from '../src/index.js'
import { peerClosed, streamAndPeer, streamPair } from './support/helpers.js'
import { liveMemory, MiB } from './support/memory.js'

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}

t.test('two lines then end: both lines arrive, then the iteration ends', async (t) => {
  const { client, server } = await streamPair(t)
  const sender = framed(client, linesCodec())
  await sender.send('A line')
  await sender.send('A second line')
  const closing = sender.close()
  t.same(await all(framed(server, linesCodec())), ['A line', 'A second line'])
  t.match(await closing, { code: 1000, wasClean: true })
})

t.test('a line split over two messages is one item', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const lines = framed(stream, linesCodec())[Symbol.asyncIterator]()
  peer.send(Buffer.from('hel'))
  const first = lines.next()
  await new Promise((resolve) => setTimeout(resolve, 20))
  peer.send(Buffer.from('lo\nworld\n'))
  t.same(await first, { value: 'hello', done: false })
  t.same(await lines.next(), { value: 'world', done: false })
})

t.test('lines sent one byte per message are reassembled, CRLF tolerated', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  for (const byte of Buffer.from('one\r\ntwo\n\nthree\n')) peer.send(Buffer.of(byte))
  peer.close(1000)
  t.same(await all(framed(stream, linesCodec())), ['one', 'two', '', 'three'])
})

t.test('a last line without a newline is delivered at the end of the stream', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.from('complete\nunterminated'))
  peer.close(1000)
  t.same(await all(framed(stream, linesCodec())), ['complete', 'unterminated'])
})

t.test('many lines in one message are decoded in place, multi-byte UTF-8 across messages included', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const euro = Buffer.from('€\n') // three bytes, then LF
  peer.send(Buffer.from('a\nb\nc\n'))
  peer.send(euro.subarray(0, 1))
  peer.send(euro.subarray(1))
  peer.close(1000)
  t.same(await all(framed(stream, linesCodec())), ['a', 'b', 'c', '€'])
})

t.test('a line over maxLength throws MessageTooLargeError and closes with 1009, even arriving in pieces', async (t) => {
  for (const pieces of [1, 10]) {
    const { stream, peer } = await streamAndPeer(t)
    const closing = peerClosed(peer)
    const line = Buffer.alloc(101, 'x')
    for (let i = 0; i < pieces; i++) peer.send(line.subarray((i * 101) / pieces, ((i + 1) * 101) / pieces))
    const lines = framed(stream, linesCodec({ maxLength: 100 }))
    const error = await all(lines).catch((e: unknown) => e)
    t.type(error, MessageTooLargeError, `${pieces} piece(s)`)
    t.equal((error as MessageTooLargeError).limit, 100)
    t.match(await closing, { code: 1009 })
    t.match(await stream.closed, { code: 1009, initiator: 'local' })
    t.same(await all(lines), [], 'the iteration stays ended')
  }
})

t.test('a line of exactly maxLength with CRLF is accepted', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.from(`${'y'.repeat(100)}\r`))
  peer.send(Buffer.from('\n'))
  peer.close(1000)
  t.same(await all(framed(stream, linesCodec({ maxLength: 100 }))), ['y'.repeat(100)])
})

t.test('a peer streaming a newline-free flood is cut at maxLength, never buffered', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const closing = peerClosed(peer)
  const before = liveMemory()
  const chunk = Buffer.alloc(64 * 1024, 'z')
  let sent = 0
  const send = (): void => {
    if (sent >= 64 * MiB || peer.readyState !== peer.OPEN) return
    sent += chunk.length
    peer.send(chunk, send)
  }
  send()
  const error = await all(framed(stream, linesCodec({ maxLength: MiB }))).catch((e: unknown) => e)
  const growth = liveMemory() - before
  t.type(error, MessageTooLargeError)
  t.match(await closing, { code: 1009 })
  t.comment(`lines flood: cut after ${(sent / MiB).toFixed(1)} MiB sent, memory grew ${(growth / MiB).toFixed(1)} MiB`)
  t.ok(growth < 16 * MiB, `memory grew ${growth} bytes, under 16 MiB`)
})

t.test('send() refuses a line with a newline in it, or over maxLength', async (t) => {
  const { client } = await streamPair(t)
  const lines = framed(client, linesCodec({ maxLength: 3 }))
  await t.rejects(lines.send('a\nb'), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  await t.rejects(lines.send('four'), MessageTooLargeError)
  await t.resolves(lines.send('€')) // three UTF-8 bytes
  t.throws(() => linesCodec({ maxLength: -1 }), RangeError)
})

t.test('breaking out of the loop leaves the connection open and a later loop continues', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const lines = framed(stream, linesCodec())
  peer.send(Buffer.from('1\n2\n3\n'))
  for await (const line of lines) {
    t.equal(line, '1')
    break
  }
  t.equal(stream.state, 'open')
  peer.close(1000)
  t.same(await all(lines), ['2', '3'])
})
