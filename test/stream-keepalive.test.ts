/**
 * keepAlive and ping(): a peer that stops answering is terminated; a healthy peer that only looks
 * silent because our own read backpressure paused the socket is not.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { ConnectionClosedError, TimeoutError, type WsEvent, type WsStreamOptions } from '../src/index.js'
import { bytes, peerClosed, rawClient, serverSideStream, streamPair, waitFor, type Teardown } from './support/helpers.js'

const keepAlive = { interval: 40, timeout: 80 }

/** A server-side WsStream and a raw ws client peer built with `peerOptions`. */
function streamWithPeer(tt: Teardown, options: WsStreamOptions, peerOptions: ConstructorParameters<typeof import('ws').WebSocket>[2] = {}) {
  return serverSideStream(tt, (server) => rawClient(tt, server.url, peerOptions), { options })
}

t.test('keepAlive terminates a peer that stops answering pings: 1006, unclean, TimeoutError and an error event', async (t) => {
  const { stream, peer, events } = await streamWithPeer(t, { keepAlive }, { autoPong: false })
  let pings = 0
  peer.on('ping', () => pings++)
  const peerSaw = peerClosed(peer)
  const info = await stream.closed
  t.ok(pings >= 1, 'the peer was pinged')
  t.equal(info.code, 1006)
  t.equal(info.wasClean, false)
  t.type(info.error, TimeoutError)
  const errors = events.filter((e): e is Extract<WsEvent, { type: 'error' }> => e.type === 'error')
  t.equal(errors.length, 1, 'one error event')
  t.type(errors[0]?.error, TimeoutError)
  t.equal(events.at(-1)?.type, 'closed')
  t.equal((await peerSaw).code, 1006, 'the peer\'s TCP connection was dropped, no handshake')
  await t.rejects(stream.read(), TimeoutError, 'a read learns the stream was cut')
  t.equal(await stream.read(), null, 'then reads end')
})

t.test('keepAlive leaves an idle healthy peer alone', async (t) => {
  const { stream, peer, events } = await streamWithPeer(t, { keepAlive: { interval: 50, timeout: 400 } })
  let pings = 0
  peer.on('ping', () => pings++)
  await waitFor(() => pings >= 4, 10_000, 'four keep-alive pings')
  t.equal(stream.state, 'open')
  t.same(events.filter((e) => e.type === 'error'), [], 'no error event')
  t.ok(events.some((e) => e.type === 'pong'), 'the pongs were seen')
})

t.test('keepAlive pings every interval, also when its timeout is longer than the interval', async (t) => {
  const interval = 30
  const { stream, peer } = await streamWithPeer(t, { keepAlive: { interval, timeout: 3000 } })
  const pingTimes: number[] = []
  peer.on('ping', () => pingTimes.push(Date.now()))
  const started = Date.now()
  // 20 intervals: one ping per interval would be ~20; we ask for only 5 to stay clear of timer jitter.
  await sleep(20 * interval)
  t.ok(pingTimes.length >= 5, `${pingTimes.length} pings in ${Date.now() - started} ms with interval ${interval} ms (want >= 5)`)
  t.equal(stream.state, 'open')
})

t.test('keepAlive never terminates a healthy peer that is only paused by our own read backpressure', async (t) => {
  const readHighWaterMark = 16 * 1024
  const { stream, peer, events } = await streamWithPeer(t, { keepAlive, readHighWaterMark })
  let pings = 0
  peer.on('ping', () => pings++)
  // Far more than loopback's socket buffers hold, so that the peer's pongs queue behind its data.
  const message = 64 * 1024
  const total = 16 * 1024 * 1024
  const data = bytes(total, 11)
  for (let at = 0; at < total; at += message) peer.send(data.subarray(at, at + message))

  await waitFor(() => events.some((e) => e.type === 'paused'), 5000, 'the socket to be paused')
  // Not reading for many keep-alive periods: the peer's pongs cannot reach us meanwhile.
  await sleep(10 * (keepAlive.interval + keepAlive.timeout))
  t.equal(stream.state, 'open', 'still open after many silent keep-alive periods')
  t.ok(stream.stats.bytesRead < total / 2, 'the peer really was held back')

  // Then read everything at once: the socket pauses and resumes as the buffer fills and drains,
  // and the peer's pongs still wait behind the data it queued while we were not reading.
  const got = await stream.readExactly(total)
  t.ok(Buffer.from(got).equals(Buffer.from(data)), 'every byte arrived, in order')
  const pingsAfterReading = pings
  await waitFor(() => pings >= pingsAfterReading + 3, 5000, 'more keep-alive pings')
  t.equal(stream.state, 'open', 'and the connection is still open')
  t.same(events.filter((e) => e.type === 'error' || e.type === 'closed'), [], 'no error, no close')
})

t.test('ping() resolves with a round trip >= 0 and rejects with ConnectionClosedError after close', async (t) => {
  const { client, server } = await streamPair(t)
  const rtt = await client.ping()
  t.type(rtt, 'number')
  t.ok(rtt >= 0 && Number.isFinite(rtt), `round trip ${rtt} ms`)
  const withData = await server.ping(new Uint8Array([9, 8, 7]))
  t.ok(withData >= 0, 'a ping with a payload also resolves')
  const pongs: Uint8Array[] = []
  server.on('pong', (e) => pongs.push((e as Extract<WsEvent, { type: 'ping' | 'pong' }>).data))
  await server.ping(new Uint8Array([1, 2]))
  t.same(pongs.map((p) => [...p]), [[1, 2]], 'the pong event carries the payload')
  await client.close()
  await t.rejects(client.ping(), ConnectionClosedError)
  await server.closed
  await t.rejects(server.ping(), ConnectionClosedError, 'on the side that did not initiate the close too')
})

t.test('the keep-alive timers stop with the connection: closed, or its actor stopped from outside', async (t) => {
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  const closing = await streamWithPeer(t, { keepAlive: { interval: 20, timeout: 1000 } })
  const stopped = await streamWithPeer(t, { keepAlive: { interval: 20, timeout: 1000 } })
  await waitFor(() => timers() >= before + 2, 5_000, 'a keep-alive timer per connection')
  await closing.stream.close()
  const peerSaw = peerClosed(stopped.peer)
  ;(stopped.stream.actor as { stop(): void }).stop()
  t.equal((await peerSaw).code, 1006, 'stopping the actor from outside dropped the connection')
  await waitFor(() => timers() <= before, 5_000, 'no keep-alive timer left')
  t.equal(timers(), before)
  const events = stopped.events.length
  await sleep(100)
  t.equal(stopped.events.length, events, 'no ping or event after the stop')
})
