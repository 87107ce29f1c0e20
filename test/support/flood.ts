/**
 * A flooding peer that respects its own send buffer (so that only the receiver's memory is
 * measured), a stall detector, hashing: for the adapter and codec tests.
 */
import { createHash } from 'node:crypto'
import type { Test } from 'tap'
import type { WebSocket } from 'ws'
import { liveMemory, MiB } from './memory.js'

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

/**
 * Floods `peer` with 64 MiB while `receive` starts a receiver that stops taking bytes, waits for
 * the flood to stall, and checks that the receiver held it back: it paused the socket, the peer
 * got rid of under half, our memory grew under 16 MiB. Resolves with the flood, still going.
 */
export async function floodHeldBack(t: Test, receiver: string, peer: WebSocket, paused: () => boolean, receive: () => unknown): Promise<Flood> {
  const before = liveMemory()
  const rssBefore = process.memoryUsage().rss
  const sending = flood(peer, 64 * MiB)
  await receive()
  await stalled(() => sending.acked)
  const growth = liveMemory() - before
  t.comment(`${receiver}, reader stalled: peer got rid of ${(sending.acked / MiB).toFixed(1)} MiB, memory grew ${(growth / MiB).toFixed(1)} MiB (RSS ${((process.memoryUsage().rss - rssBefore) / MiB).toFixed(1)} MiB)`)
  t.ok(paused(), 'the stream paused the socket')
  t.ok(sending.acked < 32 * MiB, 'the peer could not send most of the flood')
  t.ok(growth < 16 * MiB, `memory grew ${growth} bytes, under 16 MiB`)
  return sending
}
