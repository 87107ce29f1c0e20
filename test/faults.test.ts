/**
 * Faults: a peer that resets TCP mid-write, stops reading, never answers Close, goes half-open;
 * a slow event consumer; an abort while reads, writes, a ping and a close are pending. Our
 * stream is the client of a hand-written server (test/support/raw-server-peer.ts) that does only what
 * each test tells it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { WebSocket } from 'ws'
import {
  ConnectionClosedError,
  ConnectionResetError,
  TimeoutError,
  WsStream,
  WsStreamError,
  type WsEvent,
  type WsStreamOptions,
} from '../src/index.js'
import { bytes, waitFor, within, type Teardown } from './support/helpers.js'
import { collectUnhandled, resourceCounts } from './support/process.js'
import { OP, closePayload } from './support/raw-peer.js'
import { rawWsServer } from './support/raw-server-peer.js'

const KiB = 1024

const baseline = resourceCounts()
const unhandled = collectUnhandled(t)

/** Our stream as the client of a raw server connection, upgraded and open. */
async function openPair(t: Teardown, options: WsStreamOptions = {}) {
  const server = await rawWsServer(t)
  const socket = new WebSocket(server.url)
  t.teardown(() => socket.terminate())
  const stream = new WsStream(socket, options)
  t.teardown(() => stream.abort())
  const events: WsEvent[] = []
  stream.on('*', (event) => events.push(event))
  const peer = await server.next()
  peer.upgrade()
  await waitFor(() => stream.state === 'open', 3000, 'open')
  return { stream, peer, events }
}

/** The internal write queue's accepted-but-unsent bytes (ours plus ws's unconfirmed sends). */
function writeBuffered(stream: WsStream): number {
  return (stream.actor.getSnapshot().context as { io: { writeQueue: { buffered: number } } }).io.writeQueue.buffered
}

async function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }))
}

t.test('a peer that resets TCP in the middle of our writes: writes and flush reject, reads reject once then end, closed says reset', async (t) => {
  const { stream, peer, events } = await openPair(t, { writeHighWaterMark: 64 * KiB })
  peer.socket.pause() // let our writes pile up in flight
  const writes: Array<ReturnType<typeof settle<void>>> = []
  const chunk = bytes(32 * KiB, 7)
  // Write until the kernel's buffers are full and bytes stay in flight (large writes go straight to ws).
  for (let i = 0; i < 4096 && writeBuffered(stream) <= 64 * KiB; i++) {
    writes.push(settle(stream.write(chunk)))
    await new Promise((resolve) => setImmediate(resolve))
  }
  writes.push(settle(stream.write(chunk))) // this one waits for room
  const flushed = settle(stream.flush())
  const read = settle(stream.read())
  peer.socket.resetAndDestroy()
  const info = await within(stream.closed, 3000, 'closed')
  t.match(info, { code: 1006, wasClean: false, initiator: 'none' })
  t.type(info.error, ConnectionResetError, 'CloseInfo.error is a ConnectionResetError')
  const outcomes = await within(Promise.all(writes), 1000, 'writes')
  const rejected = outcomes.filter((o) => !o.ok)
  t.ok(rejected.length >= 1, 'the write waiting for room rejects')
  for (const o of rejected) t.type((o as { error: unknown }).error, ConnectionClosedError)
  const f = await flushed
  t.notOk(f.ok, 'flush() rejects: not every accepted byte reached the kernel')
  const r = await read
  t.notOk(r.ok, 'the pending read rejects')
  if (!r.ok) t.type(r.error, ConnectionResetError)
  t.equal(await stream.read(), null, 'then reads end')
  t.equal(events.at(-1)?.type, 'closed', 'closed is the last event')
})

t.test('a peer that stops reading: our writes wait, and what we buffer stays under the high-water mark plus one write', async (t) => {
  const hwm = 256 * KiB
  const { stream, peer } = await openPair(t, { writeHighWaterMark: hwm })
  peer.socket.pause()
  const chunk = bytes(64 * KiB, 3)
  let accepted = 0
  let blocked: Promise<void> | undefined
  let maxBuffered = 0
  // Write until a write does not resolve within 200 ms: the kernel buffers fill, then ours.
  for (let i = 0; i < 4096; i++) {
    const w = stream.write(chunk)
    const done = await Promise.race([w.then(() => true, () => true), sleep(200).then(() => false)])
    maxBuffered = Math.max(maxBuffered, writeBuffered(stream))
    if (!done) {
      blocked = w
      break
    }
    accepted += chunk.length
  }
  t.ok(blocked, `a write waits once the peer stops reading (after ${accepted} bytes went through)`)
  t.ok(maxBuffered <= hwm + chunk.length, `buffered ${maxBuffered} bytes <= high-water mark ${hwm} + one write ${chunk.length}`)
  // More writes while blocked are refused nothing, but each waits: memory does not grow with the calls.
  const waiting = [blocked!]
  for (let i = 0; i < 4; i++) waiting.push(stream.write(chunk))
  await sleep(100)
  t.ok(writeBuffered(stream) <= hwm + 5 * chunk.length, 'queued bytes grow only by the waiting writes themselves')
  t.equal(await Promise.race([Promise.all(waiting).then(() => 'resolved'), sleep(50).then(() => 'waiting')]), 'waiting', 'they stay pending')
  // The peer reads again: everything goes through, in order.
  peer.socket.resume()
  await within(Promise.all(waiting), 5000, 'the waiting writes')
  await within(stream.flush(), 5000, 'flush')
  const total = accepted + 5 * chunk.length
  await waitFor(() => peer.frames.reduce((n, f) => n + (f.opcode === OP.binary || f.opcode === OP.continuation ? f.payload.length : 0), 0) >= total, 5000, 'all bytes at the peer')
  const got = Buffer.concat(peer.frames.filter((f) => f.opcode === OP.binary).map((f) => f.payload))
  t.equal(got.length, total, 'the peer got every accepted byte')
  t.ok(got.subarray(0, chunk.length).equals(chunk) && got.subarray(got.length - chunk.length).equals(chunk), 'in order')
})

t.test('a peer that never answers our Close: close() resolves at its timeout, unclean, with a TimeoutError, and the socket is dropped', async (t) => {
  const { stream, peer, events } = await openPair(t, { closeTimeout: 5000 })
  const started = Date.now()
  const info = await within(stream.close(4000, 'bye', { timeout: 200 }), 3000, 'close()')
  const took = Date.now() - started
  t.match(info, { code: 1006, wasClean: false, initiator: 'local' })
  t.type(info.error, TimeoutError)
  t.ok(took >= 190, `it waited for the timeout (${took} ms)`)
  const ours = await peer.frame(OP.close)
  t.same(ours.payload, closePayload(4000, 'bye'), 'our Close frame went out')
  await waitFor(() => peer.gotEnd, 3000, 'our FIN at the peer')
  t.equal(events.at(-1)?.type, 'closed')
})

t.test('half-open TCP (the peer stops reading and answering): keepAlive finds it, reads reject with a TimeoutError, closed is unclean', async (t) => {
  const { stream, peer, events } = await openPair(t, { keepAlive: { interval: 50, timeout: 100 } })
  peer.socket.pause() // no reads, no pongs, no FIN: as if the cable were cut
  const read = settle(stream.read())
  const info = await within(stream.closed, 3000, 'closed')
  t.match(info, { code: 1006, wasClean: false, initiator: 'none' })
  t.type(info.error, TimeoutError)
  const r = await read
  t.notOk(r.ok, 'the pending read rejects')
  if (!r.ok) t.type(r.error, TimeoutError)
  t.equal(await stream.read(), null, 'then reads end')
  const errors = events.filter((e): e is Extract<WsEvent, { type: 'error' }> => e.type === 'error')
  t.equal(errors.length, 1, 'one error event')
  t.type(errors[0]?.error, TimeoutError)
  t.equal(events.at(-1)?.type, 'closed')
  peer.socket.resume()
  await waitFor(() => peer.gotEnd, 3000, 'our FIN at the peer')
})

t.test('a slow event consumer slows nothing: data flows, old events are dropped, closed is still delivered', async (t) => {
  const { stream, peer } = await openPair(t)
  const iterator = stream.events({ bufferSize: 8 })
  const seen: WsEvent[] = []
  const consumer = (async () => {
    for await (const event of iterator) {
      seen.push(event)
      await sleep(20)
    }
  })()
  const payload = bytes(256 * KiB, 11)
  // Unsolicited pongs (a ping flood would make ws drop the connection: it caps pending auto-pongs).
  for (let i = 0; i < 200; i++) peer.send(OP.pong, Buffer.from(`p${i}`))
  for (let i = 0; i < 4; i++) peer.send(OP.binary, payload.subarray(i * 64 * KiB, (i + 1) * 64 * KiB))
  const parts: Uint8Array[] = []
  let n = 0
  while (n < payload.length) {
    const chunk = await within(stream.read(), 2000, 'read')
    if (chunk === null) break
    parts.push(Buffer.from(chunk))
    n += chunk.length
  }
  t.ok(Buffer.concat(parts).equals(payload), 'the bytes arrived while the consumer lagged')
  peer.write(Buffer.concat([Buffer.from([0x88, 2]), closePayload(1000)]))
  await peer.frame(OP.close)
  peer.socket.end()
  const info = await within(stream.closed, 3000, 'closed')
  t.match(info, { code: 1000, wasClean: true, initiator: 'remote' })
  await within(consumer, 5000, 'the event consumer')
  t.ok(iterator.dropped > 0, `${iterator.dropped} events dropped for the lagging consumer`)
  t.ok(seen.length <= 8 + 10, `it saw a bounded number of events (${seen.length})`)
  t.same(seen.at(-1), { type: 'closed', info }, 'the closed event still came, last')
})

t.test('abort while a read, a write, a flush and a ping are pending: the read ends, the others reject, at once', async (t) => {
  const { stream, peer, events } = await openPair(t, { writeHighWaterMark: 16 * KiB })
  peer.socket.pause()
  const read = settle(stream.read())
  const chunk = bytes(64 * KiB, 5)
  let write: Promise<void> | undefined
  for (let i = 0; i < 4096 && write === undefined; i++) {
    const w = stream.write(chunk)
    if (await Promise.race([w.then(() => false, () => false), sleep(100).then(() => true)])) write = w
  }
  t.ok(write, 'a write is waiting for room')
  const written = settle(write!)
  const flushed = settle(stream.flush())
  const pinged = settle(stream.ping())
  stream.abort(new Error('enough'))
  const [r, w, f, p] = await within(Promise.all([read, written, flushed, pinged]), 1000, 'pending operations')
  t.same(r, { ok: true, value: null }, 'the read ends')
  t.notOk(w.ok, 'the write rejects')
  if (!w.ok) t.type(w.error, ConnectionClosedError)
  t.notOk(f.ok, 'flush rejects')
  if (!f.ok) t.type(f.error, ConnectionClosedError)
  t.notOk(p.ok, 'the ping rejects')
  const info = await within(stream.closed, 1000, 'closed')
  t.match(info, { code: 1006, wasClean: false, initiator: 'none' })
  t.equal(info.error?.code, 'ERR_WS_ABORTED', 'CloseInfo.error says aborted')
  t.equal(events.at(-1)?.type, 'closed')
  peer.socket.resume()
  await waitFor(() => peer.gotEnd, 3000, 'our FIN at the peer')
})

t.test('abort while close() waits for a silent peer: close() resolves at once, unclean, aborted', async (t) => {
  const { stream, peer, events } = await openPair(t, { closeTimeout: 5000 })
  const read = settle(stream.read())
  const closing = stream.close(1000, 'x')
  await peer.frame(OP.close)
  t.equal(stream.state, 'closingSent')
  const started = Date.now()
  stream.abort(new Error('enough'))
  const info = await within(closing, 1000, 'close()')
  t.ok(Date.now() - started < 500, 'close() resolved at once, not at its timeout')
  t.match(info, { code: 1006, wasClean: false, initiator: 'local' })
  t.type(info.error, WsStreamError)
  t.equal(info.error?.code, 'ERR_WS_ABORTED')
  t.same(await within(read, 1000, 'the read'), { ok: true, value: null }, 'the pending read ends')
  t.equal(events.at(-1)?.type, 'closed')
  await waitFor(() => peer.gotEnd, 3000, 'our FIN at the peer')
})

t.test('after our Close, a peer that drops TCP without its own Close is a reset: CloseInfo.error and reads say so', async (t) => {
  const { stream, peer } = await openPair(t)
  peer.send(OP.binary, Buffer.from('tail'))
  await waitFor(() => stream.stats.bytesRead === 4, 2000, 'the data')
  const closing = stream.close(1000)
  await peer.frame(OP.close)
  peer.socket.end() // FIN, no Close frame: the handshake never completed
  const info = await within(closing, 3000, 'close()')
  t.match(info, { code: 1006, wasClean: false, initiator: 'local' })
  t.type(info.error, ConnectionResetError, 'CloseInfo.error is a ConnectionResetError')
  t.same(await stream.read(), Buffer.from('tail'), 'the bytes that came are readable')
  const r = await settle(stream.read())
  t.notOk(r.ok, 'then the read rejects rather than ending as if the peer had closed')
  if (!r.ok) t.type(r.error, ConnectionResetError)
})

t.test('nothing is left behind: no socket, no timer, no unhandled rejection', async (t) => {
  await sleep(50)
  const left = (): string[] => [...resourceCounts()].filter(([type, n]) => n > (baseline.get(type) ?? 0)).map(([type]) => type)
  await waitFor(() => left().length === 0, 3000, 'resources to go').catch(() => {})
  t.same(left(), [], `active resources: ${JSON.stringify(Object.fromEntries(resourceCounts()))}`)
  t.same(unhandled.map(String), [], 'no unhandled rejection')
})
