/**
 * Ordered close (docs/close-handshake.md): the peer's Close is our end of input, in stream order.
 * An echo server built on any of our APIs returns every byte a client wrote before closing at once;
 * the answer to the Close goes only when the application is done, within closeTimeout.
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream/promises'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import {
  connect,
  ConnectionClosedError,
  framed,
  lengthPrefixedCodec,
  linesCodec,
  WsStreamServer,
  type CloseInfo,
  type WsStream,
  type WsStreamOptions,
} from '../src/index.js'
import { bytes, readAll, streamPair, waitFor, type Teardown } from './support/helpers.js'

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

/** How a server echoes: each of the library's reading and writing APIs. */
const echoes: Record<string, (stream: WsStream) => Promise<unknown>> = {
  'read() loop': async (s) => {
    for (let chunk; (chunk = await s.read()) !== null;) await s.write(chunk)
  },
  'for await': async (s) => {
    for await (const chunk of s) await s.write(chunk)
  },
  'toDuplex() + pipeline()': async (s) => {
    const duplex = s.toDuplex()
    await pipeline(duplex, duplex)
  },
  'duplex.pipe(duplex)': async (s) => {
    const duplex = s.toDuplex()
    duplex.pipe(duplex)
    await s.closed
  },
  'readable.pipeTo(writable)': (s) => s.readable.pipeTo(s.writable),
  'framed(linesCodec)': async (s) => {
    const lines = framed(s, linesCodec({ maxLength: 1 << 20 }))
    for await (const line of lines) await lines.send(line)
  },
  'framed(lengthPrefixedCodec)': async (s) => {
    const frames = framed(s, lengthPrefixedCodec({ maxFrameLength: 1 << 20 }))
    for await (const frame of frames) await frames.send(frame)
  },
}

/** What a client sends for `n` bytes: raw bytes, or bytes that the codec's echo reproduces exactly. */
function payloadFor(api: string, n: number): Uint8Array {
  if (api === 'framed(linesCodec)') {
    // Lines of up to 1,000 characters, each ending in \n.
    const out = Buffer.alloc(n, 'a')
    for (let i = 999; i < n; i += 1000) out[i] = 0x0a
    if (n > 0) out[n - 1] = 0x0a
    return out
  }
  if (api === 'framed(lengthPrefixedCodec)') {
    const frames: Buffer[] = []
    let left = n
    while (left > 0) {
      const size = Math.min(left > 4 ? left - 4 : left, 60_000)
      const header = Buffer.alloc(4)
      header.writeUInt32BE(size)
      frames.push(header, Buffer.from(bytes(size, left)))
      left -= size + 4
    }
    return Buffer.concat(frames)
  }
  return bytes(n, n + 1)
}

/** A WsStreamServer on loopback that echoes every connection with `echo`, recording each CloseInfo. */
async function echoServer(t: Teardown, echo: (stream: WsStream) => Promise<unknown>, stream: WsStreamOptions = {}) {
  const server = new WsStreamServer({ host: '127.0.0.1', port: 0, maxPayload: 4 << 20, stream })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening
  const closed: CloseInfo[] = []
  const failures: unknown[] = []
  server.on('connection', (s) => {
    echo(s).catch((error: unknown) => failures.push(error))
    void s.closed.then((info) => closed.push(info))
  })
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, closed, failures }
}

/** Our client: writes `data` and closes at once, reading everything until the end. */
async function sendAndCloseWithOurClient(url: string, data: Uint8Array) {
  const client = await connect(url)
  const reading = readAll(client)
  await client.write(data)
  const info = await client.close()
  return { received: await reading, info }
}

/** A raw ws client: sends `data` in one message and its Close in the same turn. */
async function sendAndCloseWithRawWs(url: string, data: Uint8Array) {
  const ws = new WebSocket(url)
  await once(ws, 'open')
  const parts: Buffer[] = []
  ws.on('message', (message: Buffer) => parts.push(message))
  if (data.length > 0) ws.send(data)
  ws.close(1000)
  const [code] = (await once(ws, 'close')) as [number]
  return { received: Buffer.concat(parts), info: { code, wasClean: true } }
}

const sizes = [0, 1, 1000, 100_000, 3_000_000]

for (const [api, echo] of Object.entries(echoes)) {
  t.test(`an echo server on ${api} returns every byte of a client that writes and closes at once`, async (t) => {
    const server = await echoServer(t, echo)
    for (const [clientName, run] of [['our connect()', sendAndCloseWithOurClient], ['a raw ws client', sendAndCloseWithRawWs]] as const) {
      for (const n of sizes) {
        const data = payloadFor(api, n)
        const before = server.closed.length
        const { received, info } = await run(server.url, data)
        t.equal(received.length, data.length, `${clientName}, ${n} bytes: all came back`)
        if (received.length === data.length) t.equal(sha256(received), sha256(data), `${clientName}, ${n} bytes: the same bytes`)
        t.match(info, { code: 1000, wasClean: true }, `${clientName}, ${n} bytes: closed cleanly with 1000`)
        await waitFor(() => server.closed.length > before, 5000, 'the server side to close')
        t.match(server.closed.at(-1), { code: 1000, wasClean: true, initiator: 'remote' }, `${clientName}, ${n} bytes: the server's CloseInfo`)
      }
    }
    t.same(server.failures, [], 'no echo failed')
  })
}

t.test('an application that starts reading 400 ms after the Close arrived still answers everything', async (t) => {
  const data = bytes(200_000, 9)
  let closeFrameAt = 0
  let readFrom = 0
  const server = await echoServer(t, async (s) => {
    s.on('closeFrame', () => { closeFrameAt = performance.now() })
    await waitFor(() => closeFrameAt > 0, 5000, 'the Close')
    await new Promise((resolve) => setTimeout(resolve, 400))
    t.equal(s.state, 'closingReceived', 'still half closed while the application has not finished')
    readFrom = performance.now()
    for await (const chunk of s) await s.write(chunk)
  })
  const { received, info } = await sendAndCloseWithOurClient(server.url, data)
  t.ok(readFrom - closeFrameAt >= 390, 'the reading began 400 ms after the Close arrived')
  t.equal(sha256(received), sha256(data), 'every byte came back')
  t.match(info, { code: 1000, wasClean: true })
})

t.test('a write-only application answers the Close at once, not at closeTimeout, and cleanly on both ends', async (t) => {
  const server = await echoServer(t, async (s) => {
    await s.write('hello\n')
  }, { closeTimeout: 20_000 })
  const client = await connect(server.url)
  t.equal(Buffer.from((await client.read())!).toString(), 'hello\n')
  const started = performance.now()
  const info = await client.close()
  const took = performance.now() - started
  t.comment(`the write-only server answered in ${took.toFixed(1)} ms`)
  t.ok(took < 2000, `answered long before its closeTimeout of 20 s (${took.toFixed(0)} ms)`)
  t.match(info, { code: 1000, wasClean: true, initiator: 'local' })
  await waitFor(() => server.closed.length === 1)
  t.match(server.closed[0], { code: 1000, wasClean: true, initiator: 'remote' })
})

t.test('an application that read what it wanted and stopped reading answers the Close at once', async (t) => {
  const { client, server } = await streamPair(t, {}, { closeTimeout: 20_000 })
  await client.write('request')
  t.equal(Buffer.from(await server.readExactly(7)).toString(), 'request')
  await server.write('answer')
  const started = performance.now()
  const info = await client.close()
  t.ok(performance.now() - started < 2000, 'long before the server\'s closeTimeout of 20 s')
  t.match(info, { code: 1000, wasClean: true })
  t.equal(Buffer.from(await readAll(client)).toString(), 'answer')
})

t.test('a write-only application that is still writing: its accepted bytes go out before the answer', async (t) => {
  const { client, server } = await streamPair(t, {}, { closeTimeout: 20_000 })
  const sent: Uint8Array[] = []
  const writing = (async () => {
    for (let i = 0; i < 200; i++) {
      const chunk = bytes(8192, i + 1)
      try {
        await server.write(chunk)
      } catch (error) {
        t.type(error, ConnectionClosedError, 'writes after the answer are refused')
        return
      }
      sent.push(chunk)
    }
  })()
  const reading = readAll(client)
  await waitFor(() => server.stats.bytesWritten > 0)
  await client.close()
  await writing
  const received = await reading
  t.equal(sha256(received), sha256(Buffer.concat(sent)), 'the reader got exactly the writes that resolved')
  t.match(await server.closed, { wasClean: true, initiator: 'remote' })
})

t.test('an application that never reads: the answer goes at its closeTimeout, unclean, and nothing hangs', async (t) => {
  const server = await echoServer(t, async () => {}, { closeTimeout: 300 })
  const client = await connect(server.url, { stream: { closeTimeout: 5000 } })
  await client.write(bytes(10_000, 5))
  const started = performance.now()
  const info = await client.close()
  const took = performance.now() - started
  await waitFor(() => server.closed.length === 1, 5000, 'the server to give up')
  t.ok(took >= 250, `the server answered at its closeTimeout (${took.toFixed(0)} ms)`)
  t.match(server.closed[0], { code: 1000, wasClean: false, initiator: 'remote', error: { code: 'ERR_WS_TIMEOUT' } })
  t.equal(info.initiator, 'local', 'the client\'s close() resolved')
})

t.test('a peer that never reads while we close: memory stays at its mark and close() resolves at closeTimeout', async (t) => {
  const readHighWaterMark = 64 * 1024
  const { client, server } = await streamPair(t, { closeTimeout: 300 }, { readHighWaterMark, closeTimeout: 20_000 })
  // The server never reads: once its buffer is past the mark its socket is paused, and our Close
  // stays behind the data it does not read.
  for (let i = 0; i < 64; i++) void client.write(bytes(16 * 1024, i)).catch(() => {})
  await waitFor(() => server.stats.bytesRead > readHighWaterMark, 5000, 'the server to buffer past its mark')
  const started = performance.now()
  const info = await client.close()
  t.ok(performance.now() - started >= 250, 'close() waited for the closeTimeout')
  t.match(info, { wasClean: false, error: { code: 'ERR_WS_TIMEOUT' } })
  t.ok(server.stats.bytesRead <= readHighWaterMark + 16 * 1024 + 64 * 1024, `the server buffered ${server.stats.bytesRead} bytes: its mark plus a message or so`)
})

t.test('peerClose: \'immediate\' answers on arrival and refuses writes from then on', async (t) => {
  const { client, server } = await streamPair(t, {}, { peerClose: 'immediate' })
  const closeFrame = new Promise<void>((resolve) => server.on('closeFrame', () => resolve()))
  await client.write('bye')
  const closing = client.close()
  await closeFrame
  await t.rejects(server.write('too late'), ConnectionClosedError, 'a write after the Close is refused')
  t.match(await closing, { code: 1000, wasClean: true })
  t.equal(Buffer.from((await server.read())!).toString(), 'bye', 'the bytes before the Close stay readable')
  t.equal(await server.read(), null)
})

/**
 * The client writes bytes the server has not read yet: when the Close arrives behind them the
 * server has something left to read, so it is not done until it reads to the end or closes.
 */
async function unreadByServer(client: WsStream, server: WsStream): Promise<void> {
  await client.write('?')
  await waitFor(() => server.stats.bytesRead === 1, 5000, 'the byte at the server')
}

t.test('while the peer\'s Close waits for our answer, the state is closingReceived and writes go out', async (t) => {
  const { client, server } = await streamPair(t)
  const states: string[] = []
  server.on('state', (e) => states.push(`${e.from}->${e.to}`))
  await unreadByServer(client, server)
  const closing = client.close(4001, 'done')
  await new Promise<void>((resolve) => server.on('closeFrame', () => resolve()))
  t.equal(server.state, 'closingReceived')
  await server.write('answer')
  t.equal(Buffer.from((await server.read())!).toString(), '?', 'what came before the Close')
  t.equal(await server.read(), null, 'the Close is the end of input')
  const info = await closing
  t.match(info, { code: 4001, reason: 'done', wasClean: true }, 'our answer echoed the peer\'s code and reason')
  t.equal(Buffer.from(await readAll(client)).toString(), 'answer', 'the client read what we wrote after its Close')
  t.same(states, ['open->closingReceived', 'closingReceived->closed'])
})

t.test('the answer carries the application\'s own code when close() names one; CloseInfo keeps the peer\'s', async (t) => {
  const { client, server } = await streamPair(t)
  await unreadByServer(client, server)
  const closing = client.close(4001, 'client done')
  await new Promise<void>((resolve) => server.on('closeFrame', () => resolve()))
  const serverInfo = await server.close(4002, 'server done')
  t.match(serverInfo, { code: 4001, reason: 'client done', wasClean: true, initiator: 'remote' })
  t.match(await closing, { code: 4002, reason: 'server done', wasClean: true, initiator: 'local' })
})

t.test('allowHalfOpen: an answer computed asynchronously after the end of input still goes out', async (t) => {
  const request = bytes(50_000, 3)
  const server = await echoServer(t, async (s) => {
    const all = await readAll(s)
    await new Promise((resolve) => setTimeout(resolve, 100)) // e.g. a database round trip
    await s.write(sha256(all))
    await s.close()
  }, { allowHalfOpen: true, closeTimeout: 10_000 })
  const { received, info } = await sendAndCloseWithOurClient(server.url, request)
  t.equal(received.toString(), sha256(request))
  t.match(info, { code: 1000, wasClean: true })
})

t.test('an answer written right after the end of input, in the same job, goes out before our Close', async (t) => {
  const request = bytes(30_000, 4)
  const server = await echoServer(t, async (s) => {
    const all = await readAll(s)
    await s.write(sha256(all))
  })
  const { received, info } = await sendAndCloseWithOurClient(server.url, request)
  t.equal(received.toString(), sha256(request))
  t.match(info, { code: 1000, wasClean: true })
})

t.test('close(…, { timeout }) while the peer\'s Close waits bounds the rest of the handshake', async (t) => {
  const { client, server } = await streamPair(t, { closeTimeout: 20_000, readHighWaterMark: 1024 }, { closeTimeout: 20_000 })
  await unreadByServer(client, server)
  const closing = client.close()
  await new Promise<void>((resolve) => server.on('closeFrame', () => resolve()))
  // The client does not read: its buffer fills past its mark and our answer stays behind our data.
  for (let i = 0; i < 16; i++) void server.write(bytes(64 * 1024, i)).catch(() => {})
  const started = performance.now()
  const info = await server.close(undefined, undefined, { timeout: 200 })
  const took = performance.now() - started
  t.ok(took >= 150 && took < 5000, `resolved at the 200 ms given, not the stream's 20 s (${took.toFixed(0)} ms)`)
  t.match(info, { code: 1000, initiator: 'remote', wasClean: false, error: { code: 'ERR_WS_TIMEOUT' } })
  client.abort()
  await closing
})

t.test('nothing hangs if the peer resets while its Close waits for our answer', async (t) => {
  const { client, server } = await streamPair(t, { closeTimeout: 20_000 }, { closeTimeout: 20_000, allowHalfOpen: true })
  await unreadByServer(client, server)
  void client.close()
  await new Promise<void>((resolve) => server.on('closeFrame', () => resolve()))
  client.abort()
  const info = await server.closed
  t.match(info, { code: 1000, wasClean: false, initiator: 'remote' }, 'the peer\'s code, but not clean')
  await t.rejects(server.write('x'), ConnectionClosedError)
})

t.test('the machine shows the half close: finishing, flushing once the end is taken, replySent after our answer', async (t: Test) => {
  const { client, server } = await streamPair(t, {}, { closeTimeout: 20_000 })
  const values: string[] = [JSON.stringify(server.actor.getSnapshot().value)]
  server.actor.subscribe((snapshot) => {
    const value = JSON.stringify(snapshot.value)
    if (values.at(-1) !== value) values.push(value)
  })
  await unreadByServer(client, server)
  const closing = client.close()
  await waitFor(() => values.includes(JSON.stringify({ closingReceived: 'finishing' })), 5000, 'finishing')
  t.equal(Buffer.from((await server.read())!).toString(), '?', 'the byte before the Close')
  t.equal(await server.read(), null, 'then the end')
  await closing
  t.same(values, [
    '"open"',
    JSON.stringify({ closingReceived: 'finishing' }),
    JSON.stringify({ closingReceived: 'flushing' }),
    JSON.stringify({ closingReceived: 'replySent' }),
    '"closed"',
  ])
  t.match(await server.closed, { wasClean: true })
})
