import t from 'tap'
import { ByteQueue } from '../src/byte-queue.js'

const b = (s: string) => Buffer.from(s)
const str = (u: Uint8Array) => Buffer.from(u).toString()

t.test('shift returns views of one chunk at a time, without copying', async (t) => {
  const q = new ByteQueue()
  const first = b('hello')
  q.push(first)
  q.push(b('world'))
  const part = q.shift(3)
  t.equal(str(part), 'hel')
  t.equal(part.buffer, first.buffer, 'a view into the pushed chunk')
  t.equal(str(q.shift()), 'lo', 'the rest of the first chunk only')
  t.equal(q.length, 5)
  t.equal(str(q.shift()), 'world')
  t.equal(q.length, 0)
  t.equal(q.shift().length, 0, 'empty queue gives an empty view')
})

t.test('take copies across chunks and only then', async (t) => {
  const q = new ByteQueue()
  q.push(b('ab'))
  q.push(b('cd'))
  q.push(b('ef'))
  t.equal(str(q.take(5)), 'abcde')
  t.equal(str(q.take(1)), 'f')
  t.throws(() => q.take(1), RangeError)
  t.equal(q.take(0).length, 0)
})

t.test('empty chunks are ignored', async (t) => {
  const q = new ByteQueue()
  q.push(new Uint8Array(0))
  t.equal(q.length, 0)
  t.equal(q.peek().length, 0)
})

t.test('indexOf finds bytes and sequences spanning chunks, from an offset', async (t) => {
  const q = new ByteQueue()
  q.push(b('xxab'))
  q.shift(1)
  q.push(b('\r'))
  q.push(b('\ncd\r\n'))
  // live bytes: x a b \r \n c d \r \n
  t.equal(q.indexOf(10), 4)
  t.equal(q.indexOf(b('\r\n')), 3)
  t.equal(q.indexOf(b('\r\n'), 4), 7)
  t.equal(q.indexOf(b('zz')), -1)
  t.equal(q.indexOf(b('b\r\nc')), 2)
  t.equal(q.indexOf(new Uint8Array(0), 3), 3)
  t.equal(q.indexOf(b('\n')), 4)
  t.equal(q.indexOf(120), 0)
  t.equal(q.indexOf(120, 2), -1)
})

t.test('drop, drain and unshift keep the order', async (t) => {
  const q = new ByteQueue()
  q.push(b('abc'))
  q.push(b('def'))
  q.drop(2)
  t.equal(str(q.peek()), 'c')
  q.unshift([b('12'), b('3')])
  t.equal(q.length, 7)
  t.same(q.drain().map(str), ['12', '3', 'c', 'def'])
  q.drop(10)
  t.equal(q.length, 0)
})

t.test('many pushes and shifts do not grow the chunk list without bound', async (t) => {
  const q = new ByteQueue()
  let total = 0
  for (let i = 0; i < 100_000; i++) {
    q.push(b('x'))
    if (i % 2 === 0) total += q.shift().length
  }
  t.equal(q.length + total, 100_000)
  t.equal(q.take(q.length).length, 50_000)
})
