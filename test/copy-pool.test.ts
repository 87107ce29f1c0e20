/**
 * The copy pool: a whole copy the socket is done with serves the next copy; anything else (a view,
 * a piece, a foreign buffer, a second release) never enters the pool; the pool stays bounded. And
 * end to end: a server that writes the same buffer again and again, refilled between writes, sends
 * every version intact while the pool recycles its copies.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import { CopyPool, copyPool } from '../src/copy-pool.js'
import { streamPair } from './support/helpers.js'

const KiB = 1024

function filled(n: number, value: number): Uint8Array {
  return new Uint8Array(n).fill(value)
}

t.test('a copy holds the bytes in memory of its own', async (t) => {
  const pool = new CopyPool(1024 * KiB, 4)
  const data = filled(10 * KiB, 7)
  const copy = pool.copy(data)
  t.same(copy, data)
  t.not(copy.buffer, data.buffer)
  data.fill(1)
  t.equal(copy[0], 7, 'changing the original leaves the copy alone')
})

t.test('a released whole copy serves the next copy of its size class', async (t) => {
  const pool = new CopyPool(1024 * KiB, 4)
  const first = pool.copy(filled(20 * KiB, 1))
  const memory = first.buffer
  t.equal(memory.byteLength, 32 * KiB, 'capacity is the next power of two')
  pool.release(first)
  t.equal(pool.freeBytes, 32 * KiB)
  const second = pool.copy(filled(30 * KiB, 2))
  t.equal(second.buffer, memory, 'the same memory again')
  t.equal(second.length, 30 * KiB)
  t.ok(second.every((b) => b === 2), 'holding the new bytes')
  t.equal(pool.freeBytes, 0)
  pool.release(second)
  pool.release(second)
  t.equal(pool.freeBytes, 32 * KiB, 'a second release of the same copy counts once')
})

t.test('only a whole copy from the pool comes back', async (t) => {
  const pool = new CopyPool(1024 * KiB, 4)
  const copy = pool.copy(filled(20 * KiB, 1))
  pool.release(copy.subarray(0, 10 * KiB))
  pool.release(copy.subarray(10 * KiB))
  pool.release(filled(20 * KiB, 1))
  t.equal(pool.freeBytes, 0, 'a piece, a tail and a foreign array are ignored')
  pool.release(copy)
  t.equal(pool.freeBytes, 32 * KiB)
})

t.test('small and huge copies are not pooled', async (t) => {
  const pool = new CopyPool(8 * 1024 * KiB, 4)
  const small = pool.copy(filled(KiB, 1))
  const huge = pool.copy(filled(1024 * KiB + 1, 1))
  t.equal(small.length, KiB)
  t.equal(huge.length, 1024 * KiB + 1)
  pool.release(small)
  pool.release(huge)
  t.equal(pool.freeBytes, 0)
})

t.test('the pool keeps at most maxPerSize buffers of a size and maxBytes in all', async (t) => {
  const perSize = new CopyPool(1024 * KiB, 2)
  const copies = [1, 2, 3].map((v) => perSize.copy(filled(8 * KiB, v)))
  for (const copy of copies) perSize.release(copy)
  t.equal(perSize.freeBytes, 2 * 8 * KiB, 'two of three kept')

  const total = new CopyPool(100 * KiB, 16)
  const big = [1, 2, 3, 4].map((v) => total.copy(filled(40 * KiB, v)))
  for (const copy of big) total.release(copy)
  t.equal(total.freeBytes, 64 * KiB, 'one 64 KiB buffer fits under 100 KiB, a second would not')
})

t.test('a server writing one buffer again and again, refilled between writes, sends every version intact', async (t) => {
  const { client, server } = await streamPair(t)
  const size = 48 * KiB
  const rounds = 300
  const buffer = new Uint8Array(size)
  const sent = createHash('sha256')
  const reading = (async () => {
    const got = createHash('sha256')
    let n = 0
    while (n < size * rounds) {
      const chunk = await client.read()
      if (chunk === null) break
      got.update(chunk)
      n += chunk.length
    }
    return { n, digest: got.digest('hex') }
  })()
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < size; j += 4096) buffer.fill((i * 31 + j) & 0xff, j, j + 4096)
    sent.update(buffer)
    await server.write(buffer)
  }
  await server.flush()
  const { n, digest } = await reading
  t.equal(n, size * rounds)
  t.equal(digest, sent.digest('hex'), 'every byte of every version, in order')
  t.ok(copyPool.freeBytes >= 64 * KiB, `the confirmed copies went back to the pool (${copyPool.freeBytes} bytes free)`)
})
