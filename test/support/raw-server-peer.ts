/**
 * A WebSocket *server* written by hand over node:net, for tests whose WsStream is the client and
 * whose peer must do what ws never would: hold the upgrade, refuse it, send masked or broken
 * frames, keep TCP half-open after the Close handshake, never answer pings. Each accepted
 * connection waits for the test to call `upgrade()` (or `refuse()` / `destroy()`).
 * Frame encoding and parsing come from raw-peer.ts.
 */
import { createHash } from 'node:crypto'
import net from 'node:net'
import type { Teardown } from './helpers.js'
import { encodeFrame, firstFrame, takeFrame, type EncodeOptions, type RawFrame } from './raw-peer.js'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** One TCP connection to the raw server, before and after its upgrade. */
export interface RawServerPeer {
  socket: net.Socket
  /** Frames received after the upgrade, unmasked, in order. */
  frames: RawFrame[]
  /** Resolves when the TCP connection is fully closed. */
  ends: Promise<void>
  /** True once the peer's FIN arrived. */
  readonly gotEnd: boolean
  /** Sends `101 Switching Protocols`. */
  upgrade(): void
  /** Answers the upgrade request with an HTTP error and closes. */
  refuse(status: number): void
  /** Sends one frame (unmasked, as a server must, unless `mask: true`). */
  send(opcode: number, payload?: Uint8Array, options?: EncodeOptions): void
  /** Writes raw bytes. */
  write(bytes: Uint8Array): void
  /** Resolves with the first frame of `opcode` received (rejects when the socket closes first or after `ms`). */
  frame(opcode: number, ms?: number): Promise<RawFrame>
}

/** A raw WebSocket server on 127.0.0.1:0. Every connection is kept half-open-capable (allowHalfOpen). */
export async function rawWsServer(t: Teardown) {
  const sockets = new Set<net.Socket>()
  const ready: RawServerPeer[] = []
  const waiting: Array<(peer: RawServerPeer) => void> = []
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    void makePeer(socket).then((peer) => {
      const next = waiting.shift()
      if (next) next(peer)
      else ready.push(peer)
    }, () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    /** The next connection, once its upgrade request has arrived (not yet answered). */
    next(): Promise<RawServerPeer> {
      const peer = ready.shift()
      return peer ? Promise.resolve(peer) : new Promise((resolve) => waiting.push(resolve))
    },
  }
}

/** The whole size of the frame `pending` starts with, once its header is in (else 0). */
function frameSize(pending: Buffer): number {
  if (pending.length < 2) return 0
  const b1 = pending[1]!
  let length = b1 & 0x7f
  let offset = 2
  if (length === 126) {
    if (pending.length < 4) return 0
    length = pending.readUInt16BE(2)
    offset = 4
  } else if (length === 127) {
    if (pending.length < 10) return 0
    length = Number(pending.readBigUInt64BE(2))
    offset = 10
  }
  return offset + ((b1 & 0x80) !== 0 ? 4 : 0) + length
}

async function makePeer(socket: net.Socket): Promise<RawServerPeer> {
  socket.on('error', () => {}) // resets are outcomes the tests look at, via `ends`
  let pending: Buffer = Buffer.alloc(0)
  let upgraded = false
  let ended = false
  let gotEnd = false
  const frames: RawFrame[] = []
  const waiters: Array<() => void> = []
  const wake = (): void => {
    for (const w of waiters.splice(0)) w()
  }
  const ends = new Promise<void>((resolve) => socket.once('close', () => {
    ended = true
    wake()
    resolve()
  }))
  socket.on('end', () => {
    gotEnd = true
    wake()
  })

  // Chunks of a frame still incomplete wait in `parts` and are joined once, when the frame is whole:
  // a megabyte frame arriving in 64 KiB chunks costs one copy, not one per chunk.
  let parts: Buffer[] = []
  let partsBytes = 0
  let need = 0 // bytes `pending` must hold before the next frame can be whole (0: not known yet)
  const parse = (): void => {
    if (pending.length + partsBytes < need) return
    if (parts.length > 0) {
      pending = Buffer.concat([pending, ...parts])
      parts = []
      partsBytes = 0
    }
    for (let next = takeFrame(pending); next !== undefined; next = takeFrame(pending)) {
      frames.push(next.frame)
      pending = next.rest
      wake()
    }
    need = frameSize(pending)
  }

  const key = await new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) {
        parts.push(chunk)
        partsBytes += chunk.length
        return parse()
      }
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      const end = pending.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = pending.subarray(0, end).toString()
      pending = pending.subarray(end + 4)
      const found = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(head)
      if (!found) return reject(new Error('no Sec-WebSocket-Key'))
      upgraded = true
      resolve(found[1]!)
      parse() // frames that came with the request
    })
    socket.once('close', () => reject(new Error('closed before the upgrade request')))
  })

  return {
    socket,
    frames,
    ends,
    get gotEnd() {
      return gotEnd
    },
    upgrade() {
      const accept = createHash('sha1').update(key + GUID).digest('base64')
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
      )
    },
    refuse(status: number) {
      socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
    },
    send(opcode, payload, options) {
      socket.write(encodeFrame(opcode, payload, { mask: false, ...options }))
    },
    write(bytes) {
      socket.write(bytes)
    },
    frame(opcode, ms = 5000) {
      return firstFrame(frames, opcode, ms, () => ended, waiters)
    },
  }
}
