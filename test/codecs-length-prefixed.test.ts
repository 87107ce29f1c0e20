import t from 'tap'
import { framed, lengthPrefixedCodec, MessageTooLargeError, UnexpectedEofError, type Codec } from '../src/index.js'
import { bytes, peerClosed, streamAndPeer, streamPair } from './support/helpers.js'

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}

const header = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

t.test('frames sent with send() arrive as the same payloads, empty ones included', async (t) => {
  const { client, server } = await streamPair(t)
  const payloads = [bytes(10, 1), new Uint8Array(0), bytes(300_000, 2), bytes(1, 3)]
  const sender = framed(client, lengthPrefixedCodec())
  for (const payload of payloads) await sender.send(payload)
  void sender.close()
  const got = await all(framed(server, lengthPrefixedCodec()))
  t.equal(got.length, payloads.length)
  for (const [i, payload] of payloads.entries()) t.equal(Buffer.compare(got[i]!, payload), 0, `frame ${i}`)
})

t.test('a frame split byte by byte (one byte per message) is reassembled', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const payload = bytes(1000, 5)
  for (const byte of Buffer.concat([header(payload.length), payload, header(2), Buffer.from('ok')])) peer.send(Buffer.of(byte))
  peer.close(1000)
  const got = await all(framed(stream, lengthPrefixedCodec()))
  t.equal(got.length, 2)
  t.equal(Buffer.compare(got[0]!, payload), 0)
  t.equal(Buffer.from(got[1]!).toString(), 'ok')
})

t.test('several frames in one message are all decoded; a payload within one message is a view, not a copy', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.concat([header(3), Buffer.from('abc'), header(2), Buffer.from('de')]))
  peer.close(1000)
  const got = await all(framed(stream, lengthPrefixedCodec()))
  t.same(got.map((b) => Buffer.from(b).toString()), ['abc', 'de'])
  t.equal(got[0]!.buffer, got[1]!.buffer, 'both payloads share the received message\'s memory')
})

t.test('a header over maxFrameLength is refused at once with MessageTooLargeError and Close 1009', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const closing = peerClosed(peer)
  peer.send(header(1001)) // no payload follows: the header alone must be enough
  const error = await all(framed(stream, lengthPrefixedCodec({ maxFrameLength: 1000 }))).catch((e: unknown) => e)
  t.type(error, MessageTooLargeError)
  t.equal((error as MessageTooLargeError).code, 'ERR_WS_MESSAGE_TOO_LARGE')
  t.match(await closing, { code: 1009 })
  t.match(await stream.closed, { code: 1009, initiator: 'local' })
})

t.test('a frame cut short by the end of the stream is an UnexpectedEofError saying what was expected', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  peer.send(Buffer.concat([header(10), Buffer.from('12345')]))
  peer.close(1000)
  const error = await all(framed(stream, lengthPrefixedCodec())).catch((e: unknown) => e)
  t.type(error, UnexpectedEofError)
  t.equal((error as UnexpectedEofError).expected, 14)
  t.equal((error as UnexpectedEofError).partial.length, 9)
})

t.test('send() refuses a payload over maxFrameLength; the option is checked', async (t) => {
  const { client } = await streamPair(t)
  await t.rejects(framed(client, lengthPrefixedCodec({ maxFrameLength: 4 })).send(bytes(5)), MessageTooLargeError)
  t.throws(() => lengthPrefixedCodec({ maxFrameLength: 2 ** 32 }), RangeError)
})

// A codec nobody here shipped: JSON values, one per line, through the same Codec interface.
const jsonLines: Codec<unknown> = {
  maxEncodedLength: 1024,
  encode: (value) => new TextEncoder().encode(`${JSON.stringify(value)}\n`),
  decode(buffer, scanned) {
    const at = buffer.indexOf(10, scanned)
    if (at === -1) return undefined
    return { item: JSON.parse(new TextDecoder().decode(buffer.subarray(0, at))), consumed: at + 1 }
  },
}

t.test('a custom codec works through framed(), and a decoding error closes with 1007', async (t) => {
  const { client, server } = await streamPair(t)
  const sender = framed(client, jsonLines)
  await sender.send({ a: 1 })
  await sender.send([2, 3])
  const items = framed(server, jsonLines)[Symbol.asyncIterator]()
  t.same((await items.next()).value, { a: 1 })
  t.same((await items.next()).value, [2, 3])
  await client.write('{not json}\n')
  await t.rejects(items.next(), SyntaxError)
  t.match(await server.closed, { code: 1007, initiator: 'local' })
  t.match(await client.closed, { code: 1007, initiator: 'remote' })
})

t.test('a codec that never completes an item is cut at maxEncodedLength (1009)', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const never: Codec<never> = { maxEncodedLength: 16, encode: () => new Uint8Array(0), decode: () => undefined }
  for (let i = 0; i < 4; i++) peer.send(bytes(5))
  const error = await all(framed(stream, never)).catch((e: unknown) => e)
  t.type(error, MessageTooLargeError)
  t.match(await stream.closed, { code: 1009 })
})

t.test('a codec that claims more bytes than it was given is a RangeError', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const greedy: Codec<number> = { maxEncodedLength: 16, encode: () => new Uint8Array(0), decode: (b) => ({ item: 1, consumed: b.length + 1 }) }
  peer.send(bytes(3))
  await t.rejects(all(framed(stream, greedy)), RangeError)
  t.throws(() => framed(stream, { ...greedy, maxEncodedLength: 0 }), RangeError)
})
