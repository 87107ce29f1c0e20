/**
 * Test helpers: real loopback socket pairs, torn down by the test that made them.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { WsStream, type WsEvent, type WsStreamOptions, type WsStreamServer } from '../../src/index.js'

export interface Teardown {
  teardown(fn: () => unknown): void
}

/** A ws server on 127.0.0.1:0; its next accepted sockets come from `accept()`. Closed at teardown. */
export async function rawServer(t: Teardown, options: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options })
  await once(wss, 'listening')
  const accepted: WebSocket[] = []
  const waiting: Array<(ws: WebSocket) => void> = []
  wss.on('connection', (ws) => {
    const next = waiting.shift()
    if (next) next(ws)
    else accepted.push(ws)
  })
  t.teardown(async () => {
    for (const ws of wss.clients) ws.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })
  const port = (wss.address() as AddressInfo).port
  return {
    wss,
    port,
    url: `ws://127.0.0.1:${port}`,
    accept(): Promise<WebSocket> {
      const ready = accepted.shift()
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve))
    },
  }
}

/** A ws server from {@link rawServer}. */
export type RawServer = Awaited<ReturnType<typeof rawServer>>

/**
 * A WsStream over the server side of the connection that `connectPeer` opens to a new raw ws
 * server, with every event it emits recorded in `events`.
 */
export async function serverSideStream<Peer>(
  t: Teardown,
  connectPeer: (server: RawServer) => Promise<Peer>,
  { options = {}, serverOptions = {} }: { options?: WsStreamOptions; serverOptions?: ConstructorParameters<typeof WebSocketServer>[0] } = {},
) {
  const server = await rawServer(t, serverOptions)
  const accepted = server.accept()
  const peer = await connectPeer(server)
  const stream = new WsStream(await accepted, options)
  t.teardown(() => stream.abort())
  const events: WsEvent[] = []
  stream.on('*', (event) => events.push(event))
  return { stream, peer, events }
}

/** A raw ws client connected to `url`, open. Terminated at teardown. */
export async function rawClient(t: Teardown, url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}) {
  const ws = new WebSocket(url, options)
  t.teardown(() => ws.terminate())
  await once(ws, 'open')
  return ws
}

/**
 * Our WsStream on one side and a raw ws socket on the other, over loopback.
 * `side: 'client'` makes the stream the client (the raw socket is the server's), and the reverse.
 */
export async function streamAndPeer(
  t: Teardown,
  { side = 'client', options = {}, serverOptions = {} }: { side?: 'client' | 'server'; options?: WsStreamOptions; serverOptions?: ConstructorParameters<typeof WebSocketServer>[0] } = {},
) {
  const server = await rawServer(t, serverOptions)
  const client = new WebSocket(server.url)
  t.teardown(() => client.terminate())
  const accepted = server.accept()
  if (side === 'client') {
    const stream = new WsStream(client, options)
    t.teardown(() => stream.abort())
    const peer = await accepted
    await waitFor(() => stream.state === 'open')
    return { stream, peer, server }
  }
  const [peerSide] = await Promise.all([accepted, once(client, 'open')])
  const stream = new WsStream(peerSide, options)
  t.teardown(() => stream.abort())
  return { stream, peer: client, server }
}

/** Two WsStreams connected to each other over loopback. */
export async function streamPair(t: Teardown, options: WsStreamOptions = {}, serverOptions: WsStreamOptions = options) {
  const server = await rawServer(t)
  const socket = new WebSocket(server.url)
  t.teardown(() => socket.terminate())
  const client = new WsStream(socket, options)
  const serverStream = new WsStream(await server.accept(), serverOptions)
  t.teardown(() => { client.abort(); serverStream.abort() })
  await waitFor(() => client.state === 'open')
  return { client, server: serverStream }
}

/** Polls `check` every few ms until it holds; rejects after `ms`. */
export async function waitFor(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** `promise`, or a rejection saying that `what` did not settle within `ms` (the timer is cleared either way). */
export function within<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${typeof what === 'string' ? what : what()} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer))
}

/** The ws:// URL of a WsStreamServer listening on 127.0.0.1. */
export function urlOf(server: WsStreamServer): string {
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Text of some bytes (null stays null). */
export const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : Buffer.from(bytes).toString())

/** Resolves with the peer's ws 'close' event arguments. */
export async function peerClosed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('peer already closed; listen earlier')
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer]
  return { code, reason: reason.toString() }
}

/** Deterministic pseudo-random bytes. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = Buffer.allocUnsafe(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Reads a stream to its end and returns all bytes. */
export async function readAll(stream: WsStream): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const chunk of stream) parts.push(chunk)
  return Buffer.concat(parts)
}
