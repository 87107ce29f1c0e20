/**
 * The invariants of docs/architecture.md, one group of tests each. Every test here would fail
 * if its invariant broke.
 */
import { once } from 'node:events'
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { WebSocket } from 'ws'
import {
  ConnectionClosedError,
  ConnectionResetError,
  MessageTooLargeError,
  ProtocolError,
  ReceivedTextError,
  TimeoutError,
  WsStream,
  WsStreamError,
  type WsEvent,
  type WsStreamOptions,
} from '../src/index.js'
import { bytes, rawClient, rawServer, streamPair, waitFor, within, type Teardown } from './support/helpers.js'
import { collectUnhandled } from './support/process.js'
import { OP, closePayload, parseClose, rawTcpPeer } from './support/raw-peer.js'

const MiB = 1024 * 1024

// Invariant 4 (part): nothing in this file may leave an unhandled rejection or an uncaught error.
const unhandled = collectUnhandled(t, { uncaught: true })

/** A seeded PRNG (xorshift32) returning floats in [0, 1). */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

/** Reads until the end with random read sizes; returns the bytes and how the stream ended. */
async function readRandomly(stream: WsStream, rand: () => number, progress: (n: number) => void = () => {}) {
  const parts: Uint8Array[] = []
  let total = 0
  let error: unknown
  for (;;) {
    let chunk: Uint8Array | null
    try {
      chunk = await stream.read(1 + Math.floor(rand() * 3000))
    } catch (e) {
      error = e
      break
    }
    if (chunk === null) break
    parts.push(Buffer.from(chunk)) // a copy: views may be reused
    total += chunk.length
    progress(total)
  }
  return { data: Buffer.concat(parts), error }
}

function errorEvents(events: WsEvent[]): WsStreamError[] {
  return events.filter((e): e is Extract<WsEvent, { type: 'error' }> => e.type === 'error').map((e) => e.error)
}

// ---------------------------------------------------------------------------------------------
// 1. Order and integrity

for (const coalesce of [true, false]) {
  t.test(`1. after a clean close each reader has exactly the peer's resolved writes, in order; rejected writes delivered nothing (coalesce ${coalesce})`, async (t) => {
    const options: WsStreamOptions = { coalesce, maxMessageSize: 777, readHighWaterMark: 64 * 1024, writeHighWaterMark: 64 * 1024 }
    const { client: a, server: b } = await streamPair(t, options)
    const sourceA = bytes(512 * 1024, 101)
    const sourceB = bytes(16 * MiB, 202)

    let aHasRead = 0
    const aReads = readRandomly(a, random(1), (n) => { aHasRead = n })
    const bReads = readRandomly(b, random(2))

    // A writes a fixed amount, then closes once B's data is flowing.
    const aResolved: Uint8Array[] = []
    const aWrites = (async () => {
      const rand = random(3)
      for (let at = 0; at < sourceA.length;) {
        const chunk = sourceA.subarray(at, at + 1 + Math.floor(rand() * 4096))
        await a.write(chunk)
        aResolved.push(chunk)
        at += chunk.length
      }
      await waitFor(() => aHasRead >= 256 * 1024, 10_000, 'A to read 256 KiB from B')
      return a.close()
    })()

    // B writes until its writes are refused, never more than 16 MiB. A's Close is B's end of input
    // (ordered close): B's writes are accepted until B answers it, once B took that end and its
    // writes were flushed, and refused after.
    const bResolved: Uint8Array[] = []
    const bRejected: Array<{ error: unknown; length: number }> = []
    const bWrites = (async () => {
      const rand = random(4)
      for (let at = 0; at < sourceB.length;) {
        const chunk = sourceB.subarray(at, at + 1 + Math.floor(rand() * 4096))
        try {
          await b.write(chunk)
        } catch (error) {
          bRejected.push({ error, length: chunk.length })
          break
        }
        bResolved.push(chunk)
        at += chunk.length
      }
      // One more once the connection is closed: it must be refused and deliver nothing.
      await b.closed
      await b.write(sourceB.subarray(0, 10)).catch((e: unknown) => bRejected.push({ error: e, length: 10 }))
    })()

    const [aInfo, , ra, rb] = await Promise.all([aWrites, bWrites, aReads, bReads])
    t.equal(ra.error, undefined, 'A\'s reads ended without error')
    t.equal(rb.error, undefined, 'B\'s reads ended without error')
    t.ok(rb.data.equals(Buffer.concat(aResolved)), `B read exactly A's ${aResolved.length} resolved writes (${rb.data.length} bytes)`)
    t.ok(ra.data.equals(Buffer.concat(bResolved)), `A read exactly B's ${bResolved.length} resolved writes (${ra.data.length} bytes)`)
    t.ok(bRejected.length >= 1 && bRejected.length <= 2, 'B\'s writes were refused once it had answered A\'s Close')
    for (const { error, length } of bRejected) {
      t.type(error, ConnectionClosedError)
      t.equal((error as ConnectionClosedError).unsentBytes, length, 'the refusal counts the whole write as unsent')
    }
    t.equal(aInfo.wasClean, true)
    t.equal((await b.closed).wasClean, true)
  })
}

t.test('1. after a reset the reader has a prefix of the resolved writes, and the writer\'s flush() rejected', async (t) => {
  const options: WsStreamOptions = { maxMessageSize: 4096, readHighWaterMark: 64 * 1024, writeHighWaterMark: 64 * 1024 }
  const { client: a, server: b } = await streamPair(t, options)
  const sourceA = bytes(64 * MiB, 303)
  const sourceB = bytes(300 * 1024, 404)

  // B sends a little to A, then A's reads must be a prefix of it, a ConnectionResetError, then null.
  const bResolved: Uint8Array[] = []
  for (let at = 0, rand = random(5); at < sourceB.length;) {
    const chunk = sourceB.subarray(at, at + 1 + Math.floor(rand() * 4096))
    await b.write(chunk)
    bResolved.push(chunk)
    at += chunk.length
  }
  const aReads = readRandomly(a, random(6))

  // A floods B; B reads 128 KiB and then drops the TCP connection.
  const aResolved: Uint8Array[] = []
  let writeWaitingSince: number | undefined
  let writeError: unknown
  const aWrites = (async () => {
    const rand = random(7)
    for (let at = 0; at < sourceA.length;) {
      const chunk = sourceA.subarray(at, at + 1 + Math.floor(rand() * 16384))
      writeWaitingSince = Date.now()
      try {
        await a.write(chunk)
      } catch (error) {
        writeError = error
        return
      }
      writeWaitingSince = undefined
      aResolved.push(chunk)
      at += chunk.length
    }
  })()
  const bParts: Buffer[] = []
  let bHasRead = 0
  const rand = random(8)
  while (bHasRead < 128 * 1024) {
    const chunk = await b.read(1 + Math.floor(rand() * 3000))
    if (chunk === null) break
    bParts.push(Buffer.from(chunk))
    bHasRead += chunk.length
  }
  // A is now held back by B's backpressure: its flush cannot resolve before the reset.
  await waitFor(() => writeWaitingSince !== undefined && Date.now() - writeWaitingSince > 100, 10_000, 'A\'s writes to block')
  const flushed = a.flush()
  const flushOutcome = flushed.then(() => 'resolved', (error: unknown) => error)
  b.abort()

  const outcome = await flushOutcome
  t.type(outcome, ConnectionClosedError, 'the writer\'s pending flush() rejected')
  t.ok((outcome as ConnectionClosedError).unsentBytes > 0, `and counted ${(outcome as ConnectionClosedError).unsentBytes} bytes not delivered`)
  await aWrites
  t.type(writeError, ConnectionClosedError, 'the blocked write rejected')
  await t.rejects(a.flush(), ConnectionClosedError, 'a flush() after the reset also says bytes were lost')

  // B keeps what it had buffered when it aborted.
  for (let chunk = await b.read(); chunk !== null; chunk = await b.read()) bParts.push(Buffer.from(chunk))
  const bGot = Buffer.concat(bParts)
  const aSent = Buffer.concat(aResolved)
  t.ok(bGot.length < aSent.length, `B got fewer bytes (${bGot.length}) than A's resolved writes (${aSent.length})`)
  t.ok(aSent.subarray(0, bGot.length).equals(bGot), 'B\'s bytes are a prefix of A\'s resolved writes')

  const ra = await aReads
  const bSent = Buffer.concat(bResolved)
  t.ok(bSent.subarray(0, ra.data.length).equals(ra.data), 'A\'s bytes are a prefix of B\'s resolved writes')
  t.type(ra.error, ConnectionResetError, 'A\'s read rejected with ConnectionResetError after them')
  t.equal(await a.read(), null, 'then A\'s reads end')
  const info = await a.closed
  t.equal(info.wasClean, false)
  t.equal(info.code, 1006)
})

// ---------------------------------------------------------------------------------------------
// 2. Nothing hangs

type Outcome = 'resolved' | 'rejected' | 'hung'

async function settleWithin(promises: Record<string, Promise<unknown>>, ms: number): Promise<Record<string, Outcome>> {
  const entries = await Promise.all(Object.entries(promises).map(async ([name, p]) => {
    const settled = p.then((): Outcome => 'resolved', (): Outcome => 'rejected')
    return [name, await within(settled, ms, name).catch((): Outcome => 'hung')] as const
  }))
  return Object.fromEntries(entries)
}

/**
 * A server-side stream with a read, a write, a flush and a ping pending: the peer (a ws client
 * that never pongs) is paused, so our 8 MiB write cannot drain and nothing arrives to read.
 */
async function busyStream(tt: Teardown, options: WsStreamOptions = {}) {
  const server = await rawServer(tt)
  const accepted = server.accept()
  const peer = await rawClient(tt, server.url, { autoPong: false })
  peer.pause()
  const stream = new WsStream(await accepted, { writeHighWaterMark: 1024, closeTimeout: 2000, ...options })
  tt.teardown(() => stream.abort())
  const pending = {
    read: stream.read(),
    write: stream.write(bytes(8 * MiB, 9)),
    flush: stream.flush(),
    ping: stream.ping(),
  }
  await sleep(20)
  const early = await settleWithin(pending, 0)
  return { stream, peer, pending, early }
}

const endings: Record<string, (s: WsStream, peer: WebSocket) => Record<string, Promise<unknown>>> = {
  'local close': (s, peer) => {
    const close = s.close()
    peer.resume()
    return { close }
  },
  'remote close': (_s, peer) => {
    peer.resume()
    peer.close(1000)
    return {}
  },
  'reset by the peer': (_s, peer) => {
    peer.terminate()
    return {}
  },
  abort: (s) => {
    s.abort()
    return {}
  },
  'close, then reset by the peer': (s, peer) => {
    const close = s.close()
    peer.terminate()
    return { close }
  },
}

for (const [name, end] of Object.entries(endings)) {
  t.test(`2. pending read, write, flush, ping and close all settle under ${name}`, async (t) => {
    const { stream, peer, pending, early } = await busyStream(t)
    t.same(early, { read: 'hung', write: 'hung', flush: 'hung', ping: 'hung' }, 'all four are pending before the end')
    const outcomes = await settleWithin({ ...pending, ...end(stream, peer), closed: stream.closed }, 8000)
    t.notOk(Object.values(outcomes).includes('hung'), `every promise settled: ${JSON.stringify(outcomes)}`)
    t.equal(outcomes.closed, 'resolved', 'closed resolves')
    t.equal(stream.state, 'closed')
  })
}

t.test('2. close() settles at closeTimeout with a peer that completes the upgrade and then ignores everything', async (t) => {
  const server = await rawServer(t)
  const accepted = server.accept()
  const peer = await rawTcpPeer(t, server.port)
  peer.socket.pause() // reads nothing, answers nothing
  const stream = new WsStream(await accepted, { writeHighWaterMark: 1024 })
  t.teardown(() => stream.abort())
  const pending = { read: stream.read(), write: stream.write(bytes(8 * MiB, 10)), flush: stream.flush(), ping: stream.ping() }
  const started = Date.now()
  const close = stream.close(1000, '', { timeout: 300 })
  const outcomes = await settleWithin({ ...pending, close, closed: stream.closed }, 8000)
  t.notOk(Object.values(outcomes).includes('hung'), `every promise settled: ${JSON.stringify(outcomes)}`)
  const info = await close
  t.ok(Date.now() - started >= 250, 'not before the timeout')
  t.equal(info.wasClean, false)
  t.type(info.error, TimeoutError)
  t.equal(info.initiator, 'local')
})

// ---------------------------------------------------------------------------------------------
// 3. Bounded memory

// The flood (a peer flooding a reader that never reads) is in invariants-flood-memory.test.ts: a process
// of its own, so that its memory check measures us rather than the garbage of the tests before it.

// ---------------------------------------------------------------------------------------------
// 4. No unhandled rejection, no uncaught error, no timer or socket left after closed

t.test('4. connections closed in every way leave no socket or timer behind, and no unhandled rejection', async (t) => {
  const server = await rawServer(t)
  const resources = (): string[] => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').sort()
  for (let i = 0; i < 5; i++) await tick()
  const before = resources()

  // One server for the whole batch, so that only the connections' own handles can differ.
  const pair = async (options: WsStreamOptions = {}) => {
    const accepted = server.accept()
    const client = new WsStream(new WebSocket(server.url), options)
    const other = new WsStream(await accepted, options)
    await waitFor(() => client.state === 'open')
    return { client, server: other }
  }
  const ways: Record<string, () => Promise<void>> = {
    async 'clean close by us'() {
      const { client, server: other } = await pair({ keepAlive: { interval: 20, timeout: 1000 } })
      await client.write('x')
      await other.read()
      await client.close()
      await other.closed
    },
    async 'clean close by the peer'() {
      const { client, server: other } = await pair()
      await other.close(4000, 'done')
      await client.closed
    },
    async 'reset while writing'() {
      const { client, server: other } = await pair({ writeHighWaterMark: 1024, closeTimeout: 1000 })
      const write = client.write(bytes(4 * MiB, 1)).catch(() => {})
      const flush = client.flush().catch(() => {})
      const ping = client.ping().catch(() => {})
      other.abort()
      await Promise.all([write, flush, ping, client.closed])
    },
    async 'abort'() {
      const { client, server: other } = await pair()
      const read = client.read().catch(() => {})
      client.abort(new Error('user gave up'))
      await Promise.all([read, client.closed, other.closed])
    },
    async 'close timeout'() {
      const accepted = server.accept()
      const peer = await rawTcpPeer(innerTeardown, server.port)
      peer.socket.pause()
      const socket = await accepted
      const stream = new WsStream(socket, { keepAlive: { interval: 20, timeout: 1000 } })
      await stream.close(1000, '', { timeout: 100 })
      // Our socket must be gone by itself: destroying the peer first would hide a leak.
      await waitFor(() => socket.readyState === WebSocket.CLOSED, 2000, 'our socket to close after the timeout')
      peer.socket.destroy()
    },
    async 'keep-alive timeout'() {
      const accepted = server.accept()
      const peer = new WebSocket(server.url, { autoPong: false })
      const socket = await accepted
      const stream = new WsStream(socket, { keepAlive: { interval: 20, timeout: 40 } })
      await stream.closed
      await waitFor(() => socket.readyState === WebSocket.CLOSED, 2000, 'our socket to close after the keep-alive timeout')
      peer.terminate()
    },
    async 'protocol error by the peer'() {
      const accepted = server.accept()
      const peer = await rawTcpPeer(innerTeardown, server.port)
      const stream = new WsStream(await accepted)
      peer.send(OP.ping, new Uint8Array(126))
      await stream.read().catch(() => {})
      await stream.closed
      await peer.ends
    },
    async 'text from the peer'() {
      const accepted = server.accept()
      const peer = new WebSocket(server.url)
      await once(peer, 'open')
      const stream = new WsStream(await accepted)
      peer.send('hello')
      await stream.closed
    },
  }
  const cleanups: Array<() => unknown> = []
  const innerTeardown: Teardown = { teardown: (fn) => { cleanups.push(fn) } }

  for (const [name, run] of Object.entries(ways)) {
    await run()
    t.pass(`${name}: closed`)
  }
  // Cleanups would hide a leak (they terminate sockets): check before running them.
  let after = resources()
  const deadline = Date.now() + 3000
  while (after.join() !== before.join() && Date.now() < deadline) {
    await sleep(10)
    for (let i = 0; i < 5; i++) await tick()
    after = resources()
  }
  t.same(after, before, 'the same active handles as before the batch')
  for (const fn of cleanups) await fn()
  t.same(unhandled, [], 'no unhandled rejection or uncaught error so far')
})

// ---------------------------------------------------------------------------------------------
// 5. A bad peer gets a clear close code; the local user a typed error and an event

interface Violation {
  send(peer: Awaited<ReturnType<typeof rawTcpPeer>>): void
  code: number
  error: new (...args: never[]) => WsStreamError
  options?: WsStreamOptions
  serverOptions?: ConstructorParameters<typeof import('ws').WebSocketServer>[0]
}

const violations: Record<string, Violation> = {
  'a text message (text: reject)': { send: (p) => p.send(OP.text, Buffer.from('hi')), code: 1003, error: ReceivedTextError },
  'a 126-byte ping': { send: (p) => p.send(OP.ping, new Uint8Array(126)), code: 1002, error: ProtocolError },
  'an unmasked frame': { send: (p) => p.send(OP.binary, Buffer.from('x'), { mask: false }), code: 1002, error: ProtocolError },
  'a reserved opcode': { send: (p) => p.send(0x3, Buffer.from('x')), code: 1002, error: ProtocolError },
  'a Close frame with a code that may not be sent (1005)': { send: (p) => p.send(OP.close, closePayload(1005)), code: 1002, error: ProtocolError },
  'text that is not UTF-8 (text: bytes)': { send: (p) => p.send(OP.text, Buffer.from([0xc3, 0x28])), code: 1007, error: ProtocolError, options: { text: 'bytes' } },
  'a message over maxPayload': { send: (p) => p.send(OP.binary, new Uint8Array(2000)), code: 1009, error: MessageTooLargeError, serverOptions: { maxPayload: 1000 } },
}

for (const [name, v] of Object.entries(violations)) {
  t.test(`5. ${name}: the peer gets ${v.code}, we get a typed error and an error event`, async (t) => {
    const server = await rawServer(t, v.serverOptions ?? {})
    const accepted = server.accept()
    const peer = await rawTcpPeer(t, server.port)
    const stream = new WsStream(await accepted, { closeTimeout: 300, ...v.options })
    t.teardown(() => stream.abort())
    const events: WsEvent[] = []
    stream.on('*', (e) => events.push(e))
    const before = Buffer.from('data that came first')
    peer.send(OP.binary, before)
    v.send(peer)

    t.equal(parseClose(await peer.frame(OP.close)).code, v.code, `the peer's Close frame says ${v.code}`)
    const info = await stream.closed
    t.equal(info.code, v.code, 'CloseInfo.code')
    t.type(info.error, v.error, 'CloseInfo.error is typed')
    const errors = errorEvents(events)
    t.equal(errors.length, 1, 'one error event')
    t.type(errors[0], v.error)
    if (errors[0] instanceof ProtocolError) t.equal(errors[0].closeCode, v.code, 'ProtocolError.closeCode')
    t.same(await stream.read(), before, 'the data before the violation is still readable')
    if (v.error === ReceivedTextError) {
      t.equal(await stream.read(), null, 'text ends reads without a rejection')
    } else {
      await t.rejects(stream.read(), v.error, 'a cut stream is not a clean end')
      t.equal(await stream.read(), null)
    }
  })
}

t.test('4. no unhandled rejection or uncaught error in this whole file', async (t) => {
  await sleep(50)
  t.same(unhandled.map(String), [])
})
