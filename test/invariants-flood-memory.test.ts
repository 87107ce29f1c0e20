/**
 * Invariant 3 of docs/architecture.md (bounded memory), in a process of its own: a peer flooding 200 MiB at a reader that
 * never reads. Alone here, so that the memory it measures is ours: next to earlier tests, their
 * garbage swung heapUsed + arrayBuffers by -30 to +16 MiB under a loaded run, against 2.3 MiB alone.
 */
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { WsStream } from '../src/index.js'
import { bytes, rawClient, rawServer } from './support/helpers.js'
import { MiB, settledMemory } from './support/memory.js'


t.test('3. a peer flooding 200 MiB at a reader that never reads does not grow memory past the high-water mark', async (t) => {
  const readHighWaterMark = 1 * MiB
  const server = await rawServer(t)
  const accepted = server.accept()
  const peer = await rawClient(t, server.url)
  const stream = new WsStream(await accepted, { readHighWaterMark })
  t.teardown(() => stream.abort())
  let paused = false
  stream.on('paused', () => { paused = true })

  // The peer sends as fast as it can while keeping its own buffer under 1 MiB, so that only our
  // side could grow. Every 64 KiB message carries its index, so that order is checked too.
  const total = 200 * MiB
  const messageSize = 64 * 1024
  const block = bytes(messageSize, 12)
  const sentHash = createHash('sha256')
  let sent = 0
  let index = 0
  const pump = (): void => {
    while (sent < total && peer.bufferedAmount < MiB) {
      const message = Buffer.from(block)
      message.writeUInt32BE(index++, 0)
      sentHash.update(message)
      sent += message.length
      if (sent >= total) {
        peer.send(message)
        peer.close(1000)
      } else {
        peer.send(message, pump)
      }
    }
  }
  const baseline = await settledMemory()
  pump()

  // Wait until the flood is held back: the peer has made no progress for 300 ms.
  let maxBuffered = 0
  let lastSent = -1
  let quietSince = Date.now()
  const deadline = Date.now() + 20_000
  while (Date.now() - quietSince < 300 && Date.now() < deadline) {
    await sleep(20)
    maxBuffered = Math.max(maxBuffered, stream.stats.bytesRead)
    if (sent !== lastSent) {
      lastSent = sent
      quietSince = Date.now()
    }
  }
  t.ok(paused, 'the socket was paused')
  t.ok(sent < total, `the flood was held back (${(sent / MiB).toFixed(1)} MiB of 200 MiB sent)`)
  const limit = readHighWaterMark + messageSize + 2 * MiB + messageSize
  t.ok(maxBuffered <= 4 * MiB && maxBuffered <= limit,
    `at most ${(maxBuffered / MiB).toFixed(2)} MiB received and unread (limit ${(Math.min(limit, 4 * MiB) / MiB).toFixed(2)} MiB)`)
  const growth = (await settledMemory()) - baseline
  t.ok(growth <= 16 * MiB, `memory grew by ${(growth / MiB).toFixed(1)} MiB while held back (limit 16 MiB)`)

  // Then reading everything works and every byte arrives in order.
  const readHash = createHash('sha256')
  let received = 0
  for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
    readHash.update(chunk)
    received += chunk.length
  }
  t.equal(received, total, 'all 200 MiB read')
  t.equal(readHash.digest('hex'), sentHash.digest('hex'), 'in order and intact')
  const info = await stream.closed
  t.equal(info.wasClean, true)
})
