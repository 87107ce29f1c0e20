import t from 'tap'
import { AsyncQueue } from '../src/async-queue.js'

t.test('a waiting next() gets the next push; pushes with nobody waiting are kept in order', async (t) => {
  const q = new AsyncQueue<number>()
  const first = q.next()
  q.push(1)
  q.push(2)
  q.push(3)
  t.same(await first, { value: 1, done: false })
  t.equal(q.length, 2)
  t.same(await q.next(), { value: 2, done: false })
  t.same(await q.next(), { value: 3, done: false })
})

t.test('end() delivers what is kept, then every next() is done; onEnd runs once', async (t) => {
  let ends = 0
  const q = new AsyncQueue<string>({ onEnd: () => ends++ })
  q.push('a')
  q.end()
  q.end()
  q.push('after the end')
  t.ok(q.ended)
  t.same(await q.next(), { value: 'a', done: false })
  t.same(await q.next(), { value: undefined, done: true })
  t.same(await q.next(), { value: undefined, done: true })
  t.equal(ends, 1)
})

t.test('end() wakes a waiting next() with done', async (t) => {
  const q = new AsyncQueue<number>()
  const waiting = q.next()
  q.end()
  t.same(await waiting, { value: undefined, done: true })
})

t.test('return() drops what is kept and ends the queue, as a break out of for await does', async (t) => {
  let ended = false
  const q = new AsyncQueue<number>({ onEnd: () => { ended = true } })
  q.push(1)
  q.push(2)
  for await (const item of q) {
    t.equal(item, 1)
    break
  }
  t.ok(ended, 'onEnd ran')
  t.equal(q.length, 0)
  t.same(await q.next(), { value: undefined, done: true })
})

t.test('a bounded queue drops the oldest items and counts them', async (t) => {
  const q = new AsyncQueue<number>({ bound: 2 })
  for (let i = 1; i <= 5; i++) q.push(i)
  t.equal(q.dropped, 3)
  t.equal(q.length, 2)
  t.same(await q.next(), { value: 4, done: false })
  t.same(await q.next(), { value: 5, done: false })
})
