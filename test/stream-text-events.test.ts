import { once } from 'node:events'
import t from 'tap'
import { ReceivedTextError, WsStream, type WsEvent } from '../src/index.js'
import { peerClosed, readAll, streamAndPeer, streamPair, text, waitFor } from './support/helpers.js'


t.test('a text message: the peer sees Close 1003 with the reason, we get a ReceivedTextError event', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const errors: WsEvent[] = []
  stream.on('error', (e) => errors.push(e))
  const seen = peerClosed(peer)
  peer.send(Buffer.from('binary first'))
  peer.send('some text')
  peer.send(Buffer.from('binary after the text is dropped'))
  t.same(await seen, { code: 1003, reason: 'Text messages are not supported.' })
  const info = await stream.closed
  t.equal(info.code, 1003)
  t.equal(info.initiator, 'local')
  t.type(info.error, ReceivedTextError)
  t.equal(errors.length, 1)
  t.type((errors[0] as { error: unknown }).error, ReceivedTextError)
  t.equal(((errors[0] as { error: ReceivedTextError }).error).code, 'ERR_WS_RECEIVED_TEXT')
  t.equal(text(await stream.read()), 'binary first', 'binary data before the text is still readable')
  t.equal(await stream.read(), null, 'reads then end with null, they do not reject')
})

t.test('text: bytes makes a text message\'s UTF-8 bytes join the stream', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { text: 'bytes' } })
  peer.send(Buffer.from('a'))
  peer.send('ü')
  peer.send(Buffer.from('c'))
  peer.close()
  t.equal((await readAll(stream)).toString('utf8'), 'aüc')
})

t.test('bad options are rejected at the edge with clear errors', async (t) => {
  const { peer } = await streamAndPeer(t)
  t.throws(() => new WsStream(peer, { text: 'maybe' as 'bytes' }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => new WsStream(peer, { readHighWaterMark: 0 }), RangeError)
  t.throws(() => new WsStream(peer, { closeTimeout: -1 }), RangeError)
  t.throws(() => new WsStream(peer, { keepAlive: { interval: 0, timeout: 1 } }), RangeError)
  t.throws(() => new WsStream(peer, { maxMessageSize: Infinity }), RangeError)
})

t.test('every transition is a state event, closed is the last event', async (t) => {
  const { client, server } = await streamPair(t)
  const events: WsEvent[] = []
  client.on('*', (e) => events.push(e))
  await client.ping(Buffer.from('p'))
  await client.close(1000, 'fin')
  await server.closed
  t.same(events.map((e) => e.type), ['pong', 'state', 'closeFrame', 'state', 'closed'])
  t.same(events[1], { type: 'state', from: 'open', to: 'closingSent' })
  t.same(events[3], { type: 'state', from: 'closingSent', to: 'closed' })
})

t.test('on(type) filters by type and returns an unsubscribe function', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const pings: Uint8Array[] = []
  const off = stream.on('ping', (e) => pings.push(e.data))
  peer.ping(Buffer.from('one'))
  await waitFor(() => pings.length === 1)
  off()
  const pongs: string[] = []
  peer.on('pong', (data: Buffer) => pongs.push(data.toString()))
  peer.ping(Buffer.from('two'))
  // The pong of 'one' may still be on its way: wait for the one of 'two'.
  await waitFor(() => pongs.includes('two'))
  t.pass('pings are still answered')
  t.same(pings.map(text), ['one'])
})

t.test('read backpressure raises paused and resumed events', async (t) => {
  const { stream, peer } = await streamAndPeer(t, { options: { readHighWaterMark: 1000 } })
  const events: string[] = []
  stream.on('paused', () => events.push('paused'))
  stream.on('resumed', () => events.push('resumed'))
  peer.send(Buffer.alloc(1500))
  await waitFor(() => events.length === 1)
  t.same(events, ['paused'])
  await stream.read()
  t.same(events, ['paused', 'resumed'])
})

t.test('events() iterates every event and ends after closed', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const iterator = stream.events()
  peer.close(4000, 'x')
  const seen: string[] = []
  for await (const event of iterator) seen.push(event.type)
  t.same(seen, ['closeFrame', 'state', 'state', 'closed'])
  const late: string[] = []
  for await (const event of stream.events()) late.push(event.type)
  t.same(late, ['closed'], 'an iterator made after the end still gets closed')
})

t.test('a slow events() consumer neither stalls the connection nor grows memory: the oldest are dropped', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const iterator = stream.events({ bufferSize: 5 })
  // One ping at a time: ws terminates a peer that has too many of its pongs pending (maxPendingAutoPongs).
  for (let i = 0; i < 200; i++) {
    peer.ping(Buffer.from(String(i)))
    await once(peer, 'pong')
  }
  t.equal(stream.state, 'open', 'all pings answered while nobody reads the events')
  peer.close()
  await stream.closed
  const seen: WsEvent[] = []
  for await (const event of iterator) seen.push(event)
  t.equal(seen.length, 5)
  t.equal(seen.at(-1)?.type, 'closed', 'closed is always delivered')
  t.ok(iterator.dropped >= 200 - 5, `${iterator.dropped} dropped`)
  t.throws(() => stream.events({ bufferSize: 0 }), RangeError)
})

t.test('events() return() stops the iterator early', async (t) => {
  const { stream, peer } = await streamAndPeer(t)
  const iterator = stream.events()
  peer.ping()
  const first = await iterator.next()
  t.equal(first.value?.type, 'ping')
  await iterator.return!()
  t.same(await iterator.next(), { value: undefined, done: true })
})

t.test('inspect reaches createActor and sees the actor\'s events', async (t) => {
  const types = new Set<string>()
  const { stream } = await streamAndPeer(t, { options: { inspect: (e) => types.add(e.type), id: 'conn-1' } })
  await stream.close()
  t.ok(types.has('@xstate.actor'))
  t.ok(types.has('@xstate.event'))
  t.ok(types.has('@xstate.snapshot'))
  t.equal(stream.actor.id, 'conn-1')
})

t.test('stats count bytes and messages both ways', async (t) => {
  const { client, server } = await streamPair(t)
  await client.write(Buffer.alloc(10))
  await client.flush()
  await server.readExactly(10)
  await server.write(Buffer.alloc(3))
  await client.readExactly(3)
  t.same(client.stats, { bytesRead: 3, bytesWritten: 10, messagesIn: 1, messagesOut: 1 })
  t.same(server.stats, { bytesRead: 10, bytesWritten: 3, messagesIn: 1, messagesOut: 1 })
})

t.test('WsStream.fromActor wraps the actor of an existing stream', async (t) => {
  const { client, server } = await streamPair(t)
  const again = WsStream.fromActor(client.actor)
  await again.write('via the other façade')
  t.equal(text(await server.read()), 'via the other façade')
  await again.close()
  t.equal(client.state, 'closed')
})
