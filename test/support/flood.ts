/**
 * Helpers of the adapter and codec tests: a flooding peer that respects its own send buffer
 * (so that only the receiver's memory is measured), heap measurement, hashing.
 */
import { createHash } from 'node:crypto'
import v8 from 'node:v8'
import vm from 'node:vm'
import type { WebSocket } from 'ws'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

/** Live JS heap plus ArrayBuffer memory (where Buffers live), after a full collection. */
export function liveMemory(): number {
  gc()
  gc()
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return heapUsed + arrayBuffers
}

export const MiB = 1024 * 1024

/** Hex sha256 of some byte chunks. */
export function sha256(...parts: Uint8Array[]): string {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return hash.digest('hex')
}

export interface Flood {
  /** Bytes the peer's socket has taken (ws send callbacks fired). */
  readonly acked: number
  /** sha256 of everything the flood sends, known once `done` resolves. */
  readonly done: Promise<string>
}

/**
 * Sends `total` bytes from a raw ws socket in `chunkSize` messages, keeping at most `inFlight`
 * bytes unacknowledged in its own process, so a stalled receiver stalls the sender.
 * Every message starts with its index, so reordering or loss changes the hash.
 */
export function flood(ws: WebSocket, total: number, { chunkSize = 64 * 1024, inFlight = 256 * 1024 } = {}): Flood {
  const block = Buffer.alloc(chunkSize)
  for (let i = 0; i < chunkSize; i++) block[i] = (i * 31 + 7) & 0xff
  const hash = createHash('sha256')
  let acked = 0
  let sent = 0
  let wake: (() => void) | undefined
  const done = (async () => {
    for (let index = 0; sent < total; index++) {
      while (sent - acked >= inFlight) await new Promise<void>((resolve) => { wake = resolve })
      const message = Buffer.from(block.subarray(0, Math.min(chunkSize, total - sent)))
      message.writeUInt32BE(index >>> 0, 0)
      hash.update(message)
      sent += message.length
      const size = message.length
      await new Promise<void>((resolve, reject) => {
        ws.send(message, { binary: true }, (error) => {
          if (error) return reject(error)
          acked += size
          wake?.()
          wake = undefined
        })
        resolve()
      })
    }
    while (acked < sent) await new Promise<void>((resolve) => { wake = resolve })
    return hash.digest('hex')
  })()
  done.catch(() => {}) // a test that tears the socket down mid-flood does not care
  return {
    get acked() {
      return acked
    },
    done,
  }
}

/** Resolves once `progress()` has not changed for `quietMs` (the pipe has stalled); rejects after `maxMs`. */
export async function stalled(progress: () => number, quietMs = 300, maxMs = 30_000): Promise<void> {
  const deadline = Date.now() + maxMs
  let last = progress()
  let since = Date.now()
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    const now = progress()
    if (now !== last) {
      last = now
      since = Date.now()
    } else if (Date.now() - since >= quietMs) {
      return
    }
    if (Date.now() > deadline) throw new Error('the flood never stalled')
  }
}

/** Text of some bytes (null stays null). */
export const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : Buffer.from(bytes).toString())
