import { once } from 'node:events'
import t from 'tap'
import { ConnectionClosedError } from '../src/index.js'
import { bytes, readAll, streamAndPeer, streamPair, waitFor } from './support/helpers.js'
import type { WebSocket } from 'ws'

function collect(peer: WebSocket): Buffer[] {
  const messages: Buffer[] = []
  peer.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) throw new Error('a text message was sent')
    messages.push(data)
  })
  return messages
}

t.test('an idle connection sends one binary message per write', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const messages = collect(peer)
  await stream.write(Buffer.from('one'))
  await stream.flush()
  await stream.write(Buffer.from('two'))
  await stream.flush()
  await waitFor(() => messages.length === 2)
  t.same(messages.map(String), ['one', 'two'])
  t.equal(stream.stats.messagesOut, 2)
  t.equal(stream.stats.bytesWritten, 6)
})

t.test('strings go out as their UTF-8 bytes in binary messages', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const messages = collect(peer)
  await stream.write('héllo ✓')
  await waitFor(() => messages.length === 1)
  t.equal(messages[0]!.toString('utf8'), 'héllo ✓')
  await t.rejects(stream.write(42 as unknown as string), TypeError)
})

t.test('writes queued while a send is in flight are coalesced into one message', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const messages = collect(peer)
  const writes = []
  for (let i = 0; i < 100; i++) writes.push(stream.write(Buffer.from(`${i % 10}`)))
  await Promise.all(writes)
  await stream.flush()
  await waitFor(() => Buffer.concat(messages).length === 100)
  t.equal(Buffer.concat(messages).toString(), '0123456789'.repeat(10), 'order kept')
  t.ok(messages.length <= 3, `100 writes left as ${messages.length} messages`)
})

t.test('with coalesce off every write is its own message', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { coalesce: false } })
  const messages = collect(peer)
  const writes = []
  for (let i = 0; i < 100; i++) writes.push(stream.write(Buffer.from(`${i % 10}`)))
  await Promise.all(writes)
  await stream.flush()
  await waitFor(() => messages.length === 100)
  t.equal(Buffer.concat(messages).toString(), '0123456789'.repeat(10))
})

t.test('writes larger than maxMessageSize are split', async (t) => {
  for (const coalesce of [true, false]) {
    const { stream, peer } = await streamAndPeer(t, { options: { maxMessageSize: 1000, coalesce } })
    const messages = collect(peer)
    const data = bytes(4500)
    await stream.write(data)
    await stream.flush()
    await waitFor(() => Buffer.concat(messages).length === 4500)
    t.same(messages.map((m) => m.length), [1000, 1000, 1000, 1000, 500], `coalesce ${coalesce}`)
    t.equal(Buffer.compare(Buffer.concat(messages), data), 0)
  }
})

t.test('write resolves at once under writeHighWaterMark and waits above it', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { writeHighWaterMark: 64 * 1024 } })
  // The peer stops reading, so the kernel buffers fill and bytes stay in flight.
  peer.pause()
  let resolved = 0
  let pending: Promise<void> | undefined
  const chunk = bytes(16 * 1024)
  for (let i = 0; i < 2000; i++) {
    let done = false
    const p = stream.write(chunk).then(() => { done = true })
    await new Promise((resolve) => setImmediate(resolve))
    if (!done) {
      pending = p
      break
    }
    resolved++
  }
  t.ok(pending, `a write waited after ${resolved} resolved writes`)
  t.ok(resolved > 0, 'the first writes resolved at once')
  peer.resume()
  await pending
  t.pass('the waiting write resolved once the peer read again')
})

t.test('write rejects with ConnectionClosedError and the unsent byte count after close', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const closing = stream.close()
  const error = await stream.write(Buffer.alloc(7)).catch((e: unknown) => e)
  t.type(error, ConnectionClosedError)
  t.equal((error as ConnectionClosedError).code, 'ERR_WS_CONNECTION_CLOSED')
  t.equal((error as ConnectionClosedError).unsentBytes, 7)
  await closing
  await t.rejects(stream.write('late'), ConnectionClosedError)
  void peer
})

t.test('flush resolves once every accepted byte is in the socket', async (t) => {
  const { client, server } = await streamPair(t)
  const data = bytes(3 * 1024 * 1024)
  const writing = (async () => {
    for (let i = 0; i < data.length; i += 100_000) await client.write(data.subarray(i, i + 100_000))
    await client.flush()
    t.equal(client.stats.bytesWritten, data.length, 'everything was handed to the socket when flush resolved')
    await client.close()
  })()
  const got = await readAll(server)
  await writing
  t.equal(Buffer.compare(got, data), 0)
  await t.rejects(client.flush(), { name: 'ConnectionClosedError', message: /closed/ }, 'after closed there is nothing to flush into: ConnectionClosedError')
})

t.test('flush rejects if the connection dies with bytes not yet in the socket', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { writeHighWaterMark: 1 << 30 } })
  peer.pause()
  const big = bytes(32 * 1024 * 1024)
  void stream.write(big)
  const flushed = stream.flush()
  stream.abort()
  const error = await flushed.catch((e: unknown) => e)
  t.type(error, ConnectionClosedError)
  t.ok((error as ConnectionClosedError).unsentBytes > 0, 'it says how many bytes did not make it')
})

t.test('writes waiting above the high-water mark reject when the connection is aborted', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { writeHighWaterMark: 1024 } })
  peer.pause()
  const writes: Array<Promise<unknown>> = []
  for (let i = 0; i < 200; i++) writes.push(stream.write(bytes(64 * 1024)).then(() => 'ok', (e: unknown) => e))
  stream.abort()
  const results = await Promise.all(writes)
  const rejected = results.filter((r) => r instanceof ConnectionClosedError)
  t.ok(rejected.length > 0, `${rejected.length} waiting writes rejected`)
  peer.resume()
  await once(peer, 'close')
})

t.test('a buffer may be reused as soon as its write resolved', async (t) => {
  for (const [size, coalesce] of [[10, true], [10, false], [100_000, true], [100_000, false]] as const) {
    const { client, server } = await streamPair(t, { coalesce })
    for (const [from, to] of [[client, server], [server, client]] as const) {
      const buf = Buffer.alloc(size)
      for (let i = 0; i < 3; i++) {
        buf.fill(65 + i)
        await from.write(buf)
      }
      const got = Buffer.from(await to.readExactly(3 * size)).toString('latin1')
      // Compare run lengths, not the strings: a diff of two 300 kB strings takes tap minutes to print.
      const runs = got.match(/(.)\1*/g)!.map((run) => `${run[0]}x${run.length}`)
      t.same(runs, [`Ax${size}`, `Bx${size}`, `Cx${size}`], `${size}-byte writes, coalesce ${coalesce}`)
    }
  }
})

t.test('a reused buffer is safe while its bytes still wait behind a slow reader', async (t) => {
  for (const coalesce of [true, false]) {
    const { client, server } = await streamPair(t, { coalesce, writeHighWaterMark: 1 << 30, readHighWaterMark: 16 * 1024 })
    for (const [from, to] of [[client, server], [server, client]] as const) {
      const size = 3 * 1024 * 1024 // more than the kernel's loopback buffers take at once
      const buf = Buffer.alloc(size)
      for (let i = 0; i < 3; i++) {
        buf.fill(65 + i)
        await from.write(buf)
      }
      buf.fill(0)
      const got = Buffer.from(await to.readExactly(3 * size)).toString('latin1')
      const runs = got.match(/(.)\1*/g)!.map((run) => `${run[0]}x${run.length}`)
      t.same(runs, [`Ax${size}`, `Bx${size}`, `Cx${size}`], `${from === client ? 'client' : 'server'} writes, coalesce ${coalesce}`)
    }
  }
})
