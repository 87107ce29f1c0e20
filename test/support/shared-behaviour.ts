/**
 * Behaviour that is the same whatever transport a WsStream runs over, as one suite that each
 * transport's test file runs with its own "make a connected pair" (test/shared-ws.test.ts,
 * test/shared-standard.test.ts). The stream under test is the client; its peer is a WsStream over
 * ws on the server side, plus that peer's raw socket for what a WsStream never sends (text, a reset).
 */
import type { Test } from 'tap'
import type { WebSocket } from 'ws'
import {
  ConnectionClosedError,
  ConnectionResetError,
  InvalidCloseCodeError,
  ReceivedTextError,
  type WsEvent,
  WsStream,
  type WsStreamOptions,
} from '../../src/index.js'
import { bytes, rawServer, type Teardown, waitFor } from './helpers.js'

/** One connected pair. */
export interface Pair {
  /** The stream under test (client side). */
  stream: WsStream
  /** Its peer: a WsStream over ws (server side). */
  peer: WsStream
  /** The peer's ws socket. */
  peerSocket: WebSocket
}

/** Makes a connected pair, both open, torn down with `t`. */
export type MakePair = (t: Teardown, options?: WsStreamOptions, peerOptions?: WsStreamOptions) => Promise<Pair>

/** Where transports legitimately differ in what the suite checks. */
export interface Traits {
  /** The code our Close carries when we reject text (1003; 4003 where the platform forbids 1003). */
  textCloseCode: number
}


const KiB = 1024
const MiB = 1024 * KiB

function record(stream: WsStream): string[] {
  const seen: string[] = []
  stream.on('*', (e: WsEvent) => seen.push(e.type === 'state' ? `${e.from}->${e.to}` : e.type === 'closeFrame' ? `closeFrame:${e.code}` : e.type))
  return seen
}

async function readN(stream: WsStream, n: number): Promise<Uint8Array> {
  return stream.readExactly(n)
}

/** Runs the shared behaviours as subtests of `t`. */
/**
 * A MakePair for a transport: `open(url)` makes our side's client socket (and how to drop it), the
 * peer is a ws WebSocket wrapped in a WsStream on the server side.
 */
export function pairOver(open: (url: string) => { socket: ConstructorParameters<typeof WsStream>[0]; drop(): void }): MakePair {
  return async (t, options = {}, peerOptions = {}) => {
    const server = await rawServer(t)
    const { socket, drop } = open(server.url)
    t.teardown(drop)
    const stream = new WsStream(socket, options)
    const peerSocket = await server.accept()
    const peer = new WsStream(peerSocket, peerOptions)
    t.teardown(() => { stream.abort(); peer.abort() })
    await waitFor(() => stream.state === 'open', 5000, 'open')
    return { stream, peer, peerSocket }
  }
}

export function sharedBehaviour(t: Test, traits: Traits, makePair: MakePair): void {
  t.test('bytes written on either side arrive intact and in order, message boundaries invisible', async (t) => {
    const { stream, peer } = await makePair(t)
    const up = bytes(MiB + 17, 3)
    const down = bytes(MiB - 5, 4)
    const sizes = [1, 1000, 65_536, 7, 300_000]
    const writeAll = async (s: WsStream, data: Uint8Array): Promise<void> => {
      for (let at = 0, i = 0; at < data.length; at += sizes[i++ % sizes.length]!) await s.write(data.subarray(at, at + sizes[i % sizes.length]!))
      await s.flush()
    }
    const [, , gotUp, gotDown] = await Promise.all([writeAll(stream, up), writeAll(peer, down), readN(peer, up.length), readN(stream, down.length)])
    t.ok(Buffer.from(gotUp).equals(up), 'client to server')
    t.ok(Buffer.from(gotDown).equals(down), 'server to client')
  })

  t.test('our clean close: the peer sees our code, both ends are clean, and the events tell the handshake', async (t) => {
    const { stream, peer } = await makePair(t)
    const events = record(stream)
    const peerRead = peer.read()
    const info = await stream.close(4000, 'bye')
    t.match(info, { code: 4000, reason: 'bye', wasClean: true, initiator: 'local' })
    t.match(await peer.closed, { code: 4000, reason: 'bye', wasClean: true, initiator: 'remote' })
    t.equal(await peerRead, null, 'the peer reads the end')
    t.same(events, ['open->closingSent', 'closeFrame:4000', 'closingSent->closed', 'closed'])
  })

  t.test('the peer\'s clean close: reads end after its last bytes and the stream passes through closingReceived', async (t) => {
    const { stream, peer } = await makePair(t)
    const events = record(stream)
    const data = bytes(200_000, 5)
    await peer.write(data)
    const peerClosing = peer.close(4001, 'done')
    t.ok(Buffer.from(await readN(stream, data.length)).equals(data), 'the bytes before the Close')
    t.equal(await stream.read(), null, 'then the end')
    t.match(await stream.closed, { code: 4001, reason: 'done', wasClean: true, initiator: 'remote' })
    t.match(await peerClosing, { code: 4001, wasClean: true, initiator: 'local' })
    t.same(events, ['closeFrame:4001', 'open->closingReceived', 'closingReceived->closed', 'closed'])
  })

  t.test('writes after close reject with ConnectionClosedError counting the unsent bytes', async (t) => {
    const { stream } = await makePair(t)
    void stream.close(1000)
    const error = await stream.write(new Uint8Array(10)).catch((e: unknown) => e)
    t.type(error, ConnectionClosedError)
    t.equal((error as ConnectionClosedError).unsentBytes, 10)
    await stream.closed
  })

  t.test('a close code RFC 6455 forbids is refused and the stream stays open', async (t) => {
    const { stream } = await makePair(t)
    await t.rejects(stream.close(1005), InvalidCloseCodeError)
    await t.rejects(stream.close(1000, 'x'.repeat(124)), InvalidCloseCodeError, 'a reason over 123 bytes')
    t.equal(stream.state, 'open')
    t.match(await stream.close(1000), { code: 1000, wasClean: true })
  })

  t.test('a writer far ahead of a reader that stopped is held back', async (t) => {
    const { stream, peer } = await makePair(t, { writeHighWaterMark: 64 * KiB }, { readHighWaterMark: 64 * KiB })
    const total = 48 * MiB
    const chunk = bytes(256 * KiB, 6)
    let accepted = 0
    let lastProgress = Date.now()
    const writing = (async () => {
      while (accepted < total) {
        await stream.write(chunk)
        accepted += chunk.length
        lastProgress = Date.now()
      }
      await stream.flush()
    })()
    await waitFor(() => Date.now() - lastProgress > 300, 20_000, 'the writer to stall')
    t.ok(accepted < total, `the writer stalled after ${accepted / MiB} MiB of ${total / MiB} while nobody read`)
    let read = 0
    while (read < total) read += (await peer.read())!.length
    await writing
    t.equal(read, total, 'every accepted byte arrived once the peer read')
  })

  t.test('a peer sending faster than we read raises paused, then resumed, and every byte arrives', async (t) => {
    const { stream, peer } = await makePair(t, { readHighWaterMark: 64 * KiB })
    const events = record(stream)
    const data = bytes(MiB, 7)
    const writing = peer.write(data).then(() => peer.flush())
    await waitFor(() => events.includes('paused'), 5000, 'paused')
    t.ok(Buffer.from(await readN(stream, data.length)).equals(data), 'all bytes, in order')
    await writing
    t.ok(events.indexOf('resumed') > events.indexOf('paused'), 'resumed after paused')
  })

  t.test('a peer that drops the connection: buffered bytes stay readable, then the read rejects with ConnectionResetError', async (t) => {
    const { stream, peer, peerSocket } = await makePair(t)
    const data = bytes(1000, 8)
    await peer.write(data)
    await peer.flush()
    await waitFor(() => stream.stats.bytesRead === data.length, 5000, 'the bytes to arrive')
    peerSocket.terminate()
    const info = await stream.closed
    t.match(info, { code: 1006, wasClean: false })
    t.type(info.error, ConnectionResetError)
    t.ok(Buffer.from(await stream.read() ?? []).equals(data), 'the buffered bytes first')
    await t.rejects(stream.read(), ConnectionResetError)
    t.equal(await stream.read(), null, 'then the end')
  })

  t.test('a text message in reject mode is an error event; the data before it stays readable and reads end', async (t) => {
    const { stream, peer, peerSocket } = await makePair(t)
    const errors: unknown[] = []
    stream.on('error', (e) => errors.push(e.error))
    const data = bytes(5000, 9)
    await peer.write(data)
    await peer.flush()
    peerSocket.send('not bytes')
    t.ok(Buffer.from(await readN(stream, data.length)).equals(data), 'the bytes before the text')
    t.equal(await stream.read(), null, 'then the end, not a rejection')
    const info = await stream.closed
    t.type(errors[0], ReceivedTextError)
    t.match(info, { code: traits.textCloseCode, initiator: 'local', wasClean: true })
    t.match(await peer.closed, { code: traits.textCloseCode, reason: 'Text messages are not supported.' })
  })

  t.test('text in bytes mode joins the stream as UTF-8', async (t) => {
    const { stream, peerSocket } = await makePair(t, { text: 'bytes' })
    peerSocket.send('héllo ☃')
    t.equal(Buffer.from(await readN(stream, Buffer.byteLength('héllo ☃'))).toString(), 'héllo ☃')
  })

  t.test('strings written go out as their UTF-8 bytes and readUntil finds the delimiter', async (t) => {
    const { stream, peer } = await makePair(t)
    await stream.write('line one ☃\nline two\n')
    t.equal(Buffer.from((await peer.readUntil(10))!).toString(), 'line one ☃\n')
    t.equal(Buffer.from((await peer.readUntil(10))!).toString(), 'line two\n')
  })
}
