/**
 * A WebSocket client written by hand over node:net, for tests that need a peer which breaks the
 * protocol (unmasked frames, oversized control frames) or never answers anything.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import type { Teardown } from './helpers.js'

/** One frame as it came off the wire. */
export interface RawFrame {
  fin: boolean
  opcode: number
  payload: Buffer
}

export const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const

export interface EncodeOptions {
  /** Mask the payload as a client must (default true). */
  mask?: boolean
  fin?: boolean
}

/** Encodes one frame (masked with a fixed key unless `mask: false`). */
export function encodeFrame(opcode: number, payload: Uint8Array = new Uint8Array(0), { mask = true, fin = true }: EncodeOptions = {}): Buffer {
  const length = payload.length
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8
  const header = Buffer.alloc(2 + lengthBytes + (mask ? 4 : 0))
  header[0] = (fin ? 0x80 : 0) | opcode
  header[1] = (mask ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127)
  if (lengthBytes === 2) header.writeUInt16BE(length, 2)
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2)
  const body = Buffer.from(payload)
  if (mask) {
    const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d])
    key.copy(header, 2 + lengthBytes)
    for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!
  }
  return Buffer.concat([header, body])
}

/** A Close frame's payload: the code, big-endian, then the UTF-8 reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const out = Buffer.alloc(2 + Buffer.byteLength(reason))
  out.writeUInt16BE(code, 0)
  out.write(reason, 2)
  return out
}

/** Splits a received Close frame's payload into code and reason. */
export function parseClose(frame: RawFrame): { code: number; reason: string } {
  if (frame.payload.length < 2) return { code: 1005, reason: '' }
  return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString() }
}

/**
 * Connects to `port`, performs the opening handshake by hand and returns the raw peer. It answers
 * nothing by itself: no pongs, no Close echo. Destroyed at teardown.
 */
export async function rawTcpPeer(t: Teardown, port: number, { host = '127.0.0.1', path = '/' } = {}) {
  const socket = net.connect({ host, port })
  t.teardown(() => socket.destroy())
  const frames: RawFrame[] = []
  const waiters: Array<() => void> = []
  let pending: Buffer = Buffer.alloc(0)
  let upgraded = false
  let ended = false
  const ends = new Promise<void>((resolve) => socket.once('close', () => {
    ended = true
    wake()
    resolve()
  }))
  socket.on('error', () => {}) // a reset is one of the outcomes the tests look at, via `ends`

  function wake(): void {
    for (const w of waiters.splice(0)) w()
  }

  function parse(): void {
    for (let next = takeFrame(pending); next !== undefined; next = takeFrame(pending)) {
      frames.push(next.frame)
      pending = next.rest
      wake()
    }
  }

  const handshake = new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      if (!upgraded) {
        const end = pending.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = pending.subarray(0, end).toString()
        pending = pending.subarray(end + 4)
        if (!/^HTTP\/1\.1 101 /.test(head)) {
          reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`))
          return
        }
        upgraded = true
        resolve()
      }
      parse()
    })
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write(
    `GET ${path} HTTP/1.1\r\n` +
      `Host: ${host}:${port}\r\n` +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
      'Sec-WebSocket-Version: 13\r\n\r\n',
  )
  await handshake

  return {
    socket,
    /** Frames received so far (in order). */
    frames,
    /** Resolves when the TCP connection is gone. */
    ends,
    /** Sends one frame. */
    send(opcode: number, payload?: Uint8Array, options?: EncodeOptions): void {
      socket.write(encodeFrame(opcode, payload, options))
    },
    /** Resolves with the first received frame of `opcode` (rejects if the socket closes first or after `ms`). */
    frame(opcode: number, ms = 5000): Promise<RawFrame> {
      return firstFrame(frames, opcode, ms, () => ended, waiters)
    },
  }
}

/** Parses one whole frame off the front of `pending` (unmasking it), or undefined if it is not all there yet. */
export function takeFrame(pending: Buffer): { frame: RawFrame; rest: Buffer } | undefined {
  if (pending.length < 2) return undefined
  const b0 = pending[0]!
  const b1 = pending[1]!
  let length = b1 & 0x7f
  let offset = 2
  if (length === 126) {
    if (pending.length < 4) return undefined
    length = pending.readUInt16BE(2)
    offset = 4
  } else if (length === 127) {
    if (pending.length < 10) return undefined
    length = Number(pending.readBigUInt64BE(2))
    offset = 10
  }
  const masked = (b1 & 0x80) !== 0
  const keyAt = offset
  if (masked) offset += 4
  if (pending.length < offset + length) return undefined
  const payload = Buffer.from(pending.subarray(offset, offset + length))
  if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= pending[keyAt + (i & 3)]!
  return { frame: { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload }, rest: pending.subarray(offset + length) }
}

/**
 * Resolves with the first frame of `opcode` in `frames` (a list its peer keeps appending to, calling
 * the `waiters` when it does); rejects once `isEnded()` or after `ms`.
 */
export async function firstFrame(frames: RawFrame[], opcode: number, ms: number, isEnded: () => boolean, waiters: Array<() => void>): Promise<RawFrame> {
  const deadline = Date.now() + ms
  for (;;) {
    const found = frames.find((f) => f.opcode === opcode)
    if (found) return found
    if (isEnded()) throw new Error(`socket closed before a frame with opcode ${opcode} arrived`)
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`no frame with opcode ${opcode} within ${ms} ms`)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left)
      waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}
