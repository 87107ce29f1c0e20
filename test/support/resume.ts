/**
 * The resumable-stream tests' shared half: a `resume` server behind a cut proxy, a resume client
 * through it, an echo handler, both-way transfers with hashes, and what a session's events say.
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { connect, resumeProtocol, WsStreamServer, type ConnectOptions, type WsEvent, type WsStream, type WsStreamServerOptions } from '../../src/index.js'
import type { ResumeSession } from '../../src/transport/resume.js'
import { cutProxy, type CutProxy } from './cut-proxy.js'
import { urlOf, type Teardown } from './helpers.js'

/** Short enough that an expiry test takes seconds, long enough for a loaded 2-core machine. */
export const RESUME_TIMEOUT = 5000
/** The client's backoff in these tests: quick, and bounded. */
export const clientResume = { timeout: RESUME_TIMEOUT, minDelay: 5, maxDelay: 50 } as const

/** Echoes every byte back, then lets the stream end (the server's handler in most tests). */
export async function echo(stream: WsStream): Promise<void> {
  for await (const chunk of stream) await stream.write(chunk)
}

export interface ResumeSetup {
  server: WsStreamServer
  proxy: CutProxy
  /** The server's own URL (no proxy in between). */
  direct: string
  /** Server-side streams in the order they arrived (`'connection'` events). */
  accepted: WsStream[]
  /** What the server's handler failed with (`'connectionError'`; a reset is expected in some tests). */
  handlerErrors: unknown[]
  /** `connect()`s through the proxy with a resumable stream; aborted at teardown. */
  client(options?: ConnectOptions): Promise<WsStream>
}

/**
 * A `resume` WsStreamServer on 127.0.0.1 (echoing unless `handler` says otherwise) behind a cut
 * proxy; the server, the proxy and every client are closed at teardown.
 */
export async function resumeSetup(t: Teardown, serverOptions: Partial<WsStreamServerOptions> = {}): Promise<ResumeSetup> {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', resume: { timeout: RESUME_TIMEOUT }, handler: echo, ...serverOptions })
  await server.listening
  t.teardown(() => server.close({ timeout: 1000 }))
  const accepted: WsStream[] = []
  server.on('connection', (stream) => accepted.push(stream))
  const handlerErrors: unknown[] = []
  server.on('connectionError', (error) => handlerErrors.push(error))
  const direct = urlOf(server)
  const proxy = await cutProxy(Number(new URL(direct).port))
  t.teardown(() => proxy.close())
  return {
    server,
    proxy,
    direct,
    accepted,
    handlerErrors,
    async client(options = {}) {
      const stream = await connect(proxy.url, { resume: clientResume, ...options })
      t.teardown(() => stream.abort())
      return stream
    },
  }
}

/** The session transport of a resumable stream (internal: for its token). */
export function sessionOf(stream: WsStream): ResumeSession {
  return stream.actor.getSnapshot().context.io.transport as unknown as ResumeSession
}

/** What the resume events of a stream said, collected as they come. */
export function resumeLog(stream: WsStream) {
  const log = { interruptions: 0, resumptions: 0, attempts: 0, worstDowntime: 0, events: [] as WsEvent[] }
  stream.on('*', (event) => {
    if (event.type === 'interrupted') log.interruptions++
    else if (event.type === 'reconnecting') log.attempts++
    else if (event.type === 'sessionResumed') {
      log.resumptions++
      log.worstDowntime = Math.max(log.worstDowntime, event.downtime)
    } else return
    log.events.push(event)
  })
  return log
}

/** Writes `data` in pieces of the given sizes (cycled), awaiting each; resolves after a flush. */
export async function writeInPieces(stream: WsStream, data: Uint8Array, sizes: readonly number[]): Promise<void> {
  let i = 0
  for (let at = 0; at < data.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!)
    await stream.write(data.subarray(at, at + n))
    at += n
  }
  await stream.flush()
}

/** Reads exactly `n` bytes (or to the end, if sooner) and returns them. */
export async function readBytes(stream: WsStream, n: number, progress?: (got: number) => void): Promise<Buffer> {
  const parts: Uint8Array[] = []
  let got = 0
  while (got < n) {
    const chunk = await stream.read(n - got)
    if (chunk === null) break
    parts.push(Buffer.from(chunk))
    got += chunk.length
    progress?.(got)
  }
  return Buffer.concat(parts)
}

/** Reads exactly `n` bytes into a sha256 (no copy kept); resolves with the hex digest and the count. */
export async function hashBytes(stream: WsStream, n: number, progress?: (got: number) => void): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256')
  let got = 0
  while (got < n) {
    const chunk = await stream.read(n - got)
    if (chunk === null) break
    hash.update(chunk)
    got += chunk.length
    progress?.(got)
  }
  return { hash: hash.digest('hex'), bytes: got }
}

/** A raw ws client that asks for the resume subprotocol (for hand-written handshakes). */
export async function rawResumeClient(t: Teardown, url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, [resumeProtocol])
  t.teardown(() => ws.terminate())
  await once(ws, 'open')
  return ws
}

/** Resolves with the ws 'close' event's code and reason. */
export async function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer]
  return { code, reason: reason.toString() }
}
