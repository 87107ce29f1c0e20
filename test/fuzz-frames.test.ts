/**
 * Bad input: raw TCP clients (test/support/raw-peer.ts, no ws) complete the upgrade to a WsStreamServer
 * and send generated frames — bad opcodes, reserved bits, unmasked frames, oversized or
 * fragmented control frames, bad close payloads, orphan continuations, huge declared lengths,
 * invalid UTF-8, garbage, and randomly mutated valid frames. Deterministic: FUZZ_SEED (default 1)
 * and FUZZ_CASES (default 5000) choose them.
 *
 * For every case the connection must end within its deadline; where the case breaks the protocol
 * the server must close with the code RFC 6455 asks for, before the client gives up, and the
 * server's stream must emit an `error` event and close with that code. The server stays up and
 * its heap returns to its baseline.
 */
import { once } from 'node:events'
import t from 'tap'
import { WebSocket } from 'ws'
import { WsStreamServer, type CloseInfo, type WsEvent, type WsStream } from '../src/index.js'
import { waitFor, within } from './support/helpers.js'
import { gc, settledMemory } from './support/memory.js'
import { OP, closePayload, parseClose, rawTcpPeer } from './support/raw-peer.js'

const SEED = Number(process.env.FUZZ_SEED ?? 1)
const CASES = Number(process.env.FUZZ_CASES ?? 5000)
const CONCURRENCY = 40
const MAX_PAYLOAD = 64 * 1024
const PATIENCE = 250 // ms a case may take before the client ends its side
const DEADLINE = 3000 // ms for the connection to be gone after that


// ---- generation ----

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    return (x >>> 0) / 0x100000000
  }
}

interface FrameSpec {
  fin?: boolean
  rsv?: number // 0-7
  opcode: number
  mask?: boolean
  payload?: Uint8Array
  /** Declared length instead of the payload's (the payload is still what is sent). */
  declared?: bigint
}

function frame({ fin = true, rsv = 0, opcode, mask = true, payload = new Uint8Array(0), declared }: FrameSpec): Buffer {
  const length = declared ?? BigInt(payload.length)
  const form = length < 126n ? 0 : length < 65536n ? 2 : 8
  const header = Buffer.alloc(2 + form + (mask ? 4 : 0))
  header[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)
  header[1] = (mask ? 0x80 : 0) | (form === 0 ? Number(length) : form === 2 ? 126 : 127)
  if (form === 2) header.writeUInt16BE(Number(length), 2)
  if (form === 8) header.writeBigUInt64BE(length, 2)
  const body = Buffer.from(payload)
  if (mask) {
    const key = [0x12, 0x34, 0x56, 0x78]
    header.set(key, 2 + form)
    for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!
  }
  return Buffer.concat([header, body])
}

/** What the server must do: close with `code` (before the client ends its side), or anything that ends. */
interface Case {
  kind: string
  bytes: Buffer
  /** The close code the server must send; undefined: any outcome that ends in time. */
  code?: number
  /** The server's stream must report an error event. */
  error: boolean
  /** The client sends its own Close after the bytes (a well-formed session). */
  thenClose?: boolean
}

const INVALID_UTF8 = [Buffer.from([0xff]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82]), Buffer.from([0xf5, 0x80, 0x80, 0x80])]
const BAD_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]

function generate(seed: number, count: number): Case[] {
  const r = rng(seed)
  const int = (n: number): number => Math.floor(r() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  const data = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
  const valid = (): Buffer => frame({ opcode: OP.binary, payload: data(int(200)) })
  const cases: Case[] = []
  const makers: Array<() => Case> = [
    () => ({ kind: 'bad opcode', bytes: frame({ opcode: pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), payload: data(int(20)) }), code: 1002, error: true }),
    () => ({ kind: 'reserved bits', bytes: frame({ opcode: pick([OP.binary, OP.text, OP.ping]), rsv: 1 + int(7), payload: data(int(20)) }), code: 1002, error: true }),
    () => ({ kind: 'unmasked client frame', bytes: frame({ opcode: pick([OP.binary, OP.ping, OP.close]), mask: false, payload: data(int(20)) }), code: 1002, error: true }),
    () => ({ kind: 'oversized control frame', bytes: frame({ opcode: pick([OP.ping, OP.pong, OP.close]), payload: data(126 + int(300)) }), code: 1002, error: true }),
    () => ({ kind: 'fragmented control frame', bytes: frame({ opcode: pick([OP.ping, OP.pong]), fin: false, payload: data(int(10)) }), code: 1002, error: true }),
    () => ({ kind: 'invalid UTF-8 in a close reason', bytes: frame({ opcode: OP.close, payload: Buffer.concat([closePayload(1000), pick(INVALID_UTF8)]) }), code: 1007, error: true }),
    () => ({ kind: 'invalid close code', bytes: frame({ opcode: OP.close, payload: closePayload(pick(BAD_CLOSE_CODES), 'x') }), code: 1002, error: true }),
    () => ({ kind: 'one-byte close payload', bytes: frame({ opcode: OP.close, payload: data(1) }), code: 1002, error: true }),
    () => ({ kind: 'continuation without a start', bytes: Buffer.concat([valid(), frame({ opcode: OP.continuation, payload: data(int(50)) })]), code: 1002, error: true }),
    () => ({
      kind: 'a new message inside a fragmented one',
      bytes: Buffer.concat([frame({ opcode: OP.binary, fin: false, payload: data(10) }), frame({ opcode: pick([OP.binary, OP.text]), payload: data(5) })]),
      code: 1002,
      error: true,
    }),
    () => ({ kind: 'huge declared length', bytes: frame({ opcode: OP.binary, declared: pick([2n ** 53n, 2n ** 63n - 1n, 2n ** 62n]), payload: data(int(100)) }), code: 1009, error: true }),
    () => ({ kind: 'length over maxPayload', bytes: frame({ opcode: OP.binary, declared: BigInt(MAX_PAYLOAD + 1 + int(1 << 20)), payload: data(int(100)) }), code: 1009, error: true }),
    () => ({ kind: 'invalid UTF-8 text', bytes: frame({ opcode: OP.text, payload: Buffer.concat([Buffer.from('ok'), pick(INVALID_UTF8)]) }), code: 1007, error: true }),
    () => ({ kind: 'text (rejected by policy)', bytes: Buffer.concat([valid(), frame({ opcode: OP.text, payload: Buffer.from('hello') })]), code: 1003, error: true }),
    () => ({ kind: 'garbage', bytes: data(1 + int(64)), error: false }),
    () => ({ kind: 'truncated frame', bytes: frame({ opcode: OP.binary, payload: data(200) }).subarray(0, 2 + int(150)), error: false }),
    () => {
      // A valid frame with a few bits flipped anywhere in its header or payload.
      const bytes = Buffer.concat([valid(), frame({ opcode: pick([OP.binary, OP.ping, OP.pong, OP.close, OP.text]), payload: data(int(40)) })])
      for (let n = 1 + int(3); n > 0; n--) bytes[int(bytes.length)]! ^= 1 << int(8)
      return { kind: 'mutated frames', bytes, error: false }
    },
    () => ({ kind: 'well-formed session', bytes: Buffer.concat([valid(), frame({ opcode: OP.ping, payload: data(int(20)) }), valid()]), code: 1000, error: false, thenClose: true }),
  ]
  for (let i = 0; i < count; i++) cases.push(makers[i % makers.length]!())
  return cases
}

// ---- running ----

interface Outcome {
  kind: string
  problem?: string
}

t.test(`${CASES} generated bad-frame cases: each connection ends with a clear close, the server survives, memory returns`, async (t) => {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', maxPayload: MAX_PAYLOAD, stream: { closeTimeout: 1000, keepAlive: false } })
  await server.listening
  t.teardown(() => server.close({ timeout: 500 }))
  const port = (server.address() as { port: number }).port
  const byPort = new Map<number, { stream: WsStream; events: WsEvent[] }>()
  let fuzzing = true
  server.on('connection', (stream, request) => {
    if (!fuzzing) return
    const events: WsEvent[] = []
    stream.on('*', (event) => events.push(event))
    // Drain whatever is readable so backpressure never decides an outcome.
    void (async () => { try { for await (const _ of stream) { /* discard */ } } catch { /* reads may reject after a protocol error */ } })()
    byPort.set(request.socket.remotePort!, { stream, events })
  })

  const cases = generate(SEED, CASES)
  const runCase = async (c: Case): Promise<Outcome> => {
    const cleanups: Array<() => unknown> = []
    try {
      const peer = await rawTcpPeer({ teardown: (fn) => cleanups.push(fn) }, port)
      const localPort = peer.socket.localPort!
      await waitUntil(() => byPort.has(localPort), 1000)
      const conn = byPort.get(localPort)
      if (!conn) return { kind: c.kind, problem: 'the server never reported the connection' }
      peer.socket.write(c.bytes)
      if (c.thenClose) peer.send(OP.close, closePayload(1000, 'bye'))
      // The server acted by itself if its Close frame came (or it dropped TCP) within our patience.
      const byServer = await Promise.race([
        peer.ends.then(() => true),
        peer.frame(OP.close, PATIENCE).then(() => true, () => false),
      ])
      if (!peer.frames.some((f) => f.opcode === OP.close)) await timeout(peer.ends, PATIENCE)
      peer.socket.end() // we never echo a Close: we end our side, and the server must let go
      const ended = await timeout(peer.ends.then(() => true), DEADLINE)
      if (!ended) return { kind: c.kind, problem: 'the connection did not end within its deadline' }
      const info = await timeout(conn.stream.closed, DEADLINE)
      if (!info) return { kind: c.kind, problem: 'the server stream\'s closed did not settle' }
      byPort.delete(localPort)
      const closeFrame = peer.frames.find((f) => f.opcode === OP.close)
      const sent = closeFrame ? parseClose(closeFrame).code : undefined
      const errors = conn.events.filter((e) => e.type === 'error').length
      if (conn.events.at(-1)?.type !== 'closed') return { kind: c.kind, problem: 'the last event is not closed' }
      if (c.code !== undefined) {
        if (!byServer) return { kind: c.kind, problem: `the server did not close by itself (expected ${c.code})` }
        if (sent !== c.code) return { kind: c.kind, problem: `the server sent close code ${String(sent)}, expected ${c.code}` }
        if (info.code !== c.code) return { kind: c.kind, problem: `CloseInfo.code ${info.code}, expected ${c.code} (${describe(info)})` }
      }
      if (c.error && errors === 0) return { kind: c.kind, problem: `no error event (${describe(info)})` }
      if (!c.error && c.code === 1000 && (errors > 0 || !info.wasClean)) return { kind: c.kind, problem: `a well-formed session did not close cleanly (${describe(info)})` }
      // Whatever the case, a close the server started has a code a protocol failure allows (an
      // echo of the client's own Close repeats the client's code).
      if (sent !== undefined && info.initiator === 'local' && ![1000, 1002, 1003, 1007, 1009].includes(sent)) return { kind: c.kind, problem: `unclear close code ${sent}` }
      // An error event goes with every close the server started for a broken protocol.
      if (sent !== undefined && sent !== 1000 && info.initiator === 'local' && errors === 0) {
        return { kind: c.kind, problem: `close ${sent} without an error event` }
      }
      return { kind: c.kind }
    } catch (error) {
      return { kind: c.kind, problem: `threw: ${(error as Error).message}` }
    } finally {
      for (const fn of cleanups) await fn()
    }
  }

  const kinds = new Map<string, { n: number; problems: string[] }>()
  let ran = 0
  const record = (o: Outcome): void => {
    ran++
    const k = kinds.get(o.kind) ?? { n: 0, problems: [] }
    k.n++
    if (o.problem && k.problems.length < 20) k.problems.push(o.problem)
    kinds.set(o.kind, k)
  }
  let next = 0
  const runUntil = (end: number): Promise<unknown> => Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < end) {
      const c = cases[next++]!
      record(await runCase(c))
    }
  }))
  // The baseline is taken after a warm-up fifth of the cases (code compiled, pools and caches
  // filled), so that what is measured is what the other four fifths leave behind.
  const warmUp = Math.ceil(cases.length / 5)
  await runUntil(warmUp)
  const heapBefore = await settledHeap()
  for (let tenth = 3; tenth <= 10; tenth++) {
    await runUntil(Math.ceil((cases.length * tenth) / 10))
    if (process.env.FUZZ_HEAP) t.comment(`heap ${(await settledHeap() / 1048576).toFixed(1)} MiB after ${next} cases`)
  }
  const heapAfter = await settledHeap()

  t.equal(ran, CASES, 'every case ran')
  for (const [kind, { n, problems }] of kinds) {
    const distinct = [...new Set(problems)]
    t.equal(problems.length, 0, `${kind}: ${n} cases${problems.length > 0 ? `; ${problems.length} failed, e.g. ${distinct.slice(0, 3).join(' | ')}` : ''}`)
  }

  // The server is still up and serves a normal client.
  fuzzing = false
  await waitUntil(() => server.connections.size === 0, 3000)
  t.equal(server.connections.size, 0, 'no connection is left on the server')
  const ws = new WebSocket(`ws://127.0.0.1:${port}`)
  t.teardown(() => ws.terminate())
  const accepted = once(server, 'connection') as Promise<[WsStream]>
  await once(ws, 'open')
  const [stream] = await accepted
  ws.send(Buffer.from('still here'))
  t.same(await stream.read(), Buffer.from('still here'), 'the server still serves')
  const closing = once(ws, 'close')
  const info: CloseInfo = await stream.close(1000, 'done')
  await closing
  t.match(info, { code: 1000, wasClean: true }, 'and closes cleanly')

  if (gc === undefined) {
    t.comment('memory check skipped: gc() could not be exposed (v8.setFlagsFromString(--expose-gc) failed)')
  } else {
    const grew = (heapAfter - heapBefore) / 1024 / 1024
    t.ok(grew < 4, `heap after GC within 4 MiB of its baseline after the warm-up (${grew.toFixed(2)} MiB over ${cases.length - warmUp} connections)`)
  }
})

function describe(info: CloseInfo): string {
  return `${info.code} ${info.wasClean ? 'clean' : 'unclean'} ${info.initiator}${info.error ? ` ${info.error.name}` : ''}`
}

/** `promise`'s value, or undefined after `ms` (it never rejects here). */
const timeout = <T>(promise: Promise<T>, ms: number): Promise<T | undefined> => within(promise, ms, 'it').catch(() => undefined)
const waitUntil = (check: () => boolean, ms: number): Promise<void> => waitFor(check, ms).catch(() => {})
const settledHeap = (): Promise<number> => settledMemory({ arrayBuffers: false })
