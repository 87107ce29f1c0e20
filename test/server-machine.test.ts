/**
 * The pure server machine, driven with in-memory transports: no sockets, no ws.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { createActor, toPromise } from 'xstate'
import { pureConnectionMachine, type Transport, type TransportSink } from '../machines/connection.js'
import { canAccept, countConnections, serverMachine as pureServerMachine } from '../machines/server.js'
import { asTransport, transportAttacher } from '../src/transport/wiring.js'

// The pure machines run here on Transports given directly as the socket.
const connectionMachine = pureConnectionMachine.provide({ actions: { attachTransport: transportAttacher(asTransport) } })
const serverMachine = pureServerMachine.provide({ actors: { connection: connectionMachine } })

/** An in-memory peer: answers our Close like a well-behaved endpoint unless `deaf`. */
function fakeTransport({ deaf = false } = {}) {
  let sink: TransportSink | undefined
  const record = { closes: [] as Array<{ code: number; reason: string }>, terminated: false }
  const transport: Transport = {
    isOpen: true,
    attach(s) {
      sink = s
    },
    detach() {
      sink = undefined
    },
    send: (_message, done) => queueMicrotask(() => done()),
    close(code, reason) {
      record.closes.push({ code, reason })
      if (deaf) return
      queueMicrotask(() => {
        sink?.peerClose(code, reason)
        sink?.closed(code, reason, true)
      })
    },
    terminate() {
      record.terminated = true
      queueMicrotask(() => sink?.closed(1006, '', false))
    },
    pause() {},
    resume() {},
    ping() {},
  }
  return { transport, record, peerCloses: (code: number) => sink?.peerClose(code, '') }
}

function startServer(t: Test, maxConnections?: number) {
  const actor = createActor(serverMachine, { input: maxConnections === undefined ? {} : { maxConnections } })
  actor.start()
  t.teardown(() => actor.stop())
  return actor
}

t.test('an accepted connection becomes a child actor whose id is the connection id', async (t) => {
  const server = startServer(t)
  server.send({ type: 'connection.accept', id: 'c1', input: { socket: fakeTransport().transport } })
  const snapshot = server.getSnapshot()
  const child = snapshot.context.connections.c1!
  t.equal(child.id, 'c1')
  t.equal((child as unknown as { _parent: unknown })._parent, server, 'the server actor is its parent')
  t.equal(child.system, server.system, 'it lives in the server\'s actor system')
  t.same(Object.keys(snapshot.children), [], 'not in XState\'s children record, which is copied per spawn')
  t.same(countConnections(snapshot), { connecting: 0, open: 1, interrupted: 0, closingSent: 0, closingReceived: 0, closed: 0, total: 1 })
})

t.test('a connection that reaches its final state is stopped and forgotten', async (t) => {
  const server = startServer(t)
  const peer = fakeTransport()
  server.send({ type: 'connection.accept', id: 'c1', input: { socket: peer.transport } })
  const child = server.getSnapshot().context.connections.c1!
  child.send({ type: 'close', code: 1000, reason: '' })
  const info = await toPromise(child)
  t.equal(info.wasClean, true)
  t.equal(child.getSnapshot().status, 'done')
  t.same(server.getSnapshot().context.connections, {})
  t.equal(server.getSnapshot().context.connectionCount, 0)
  t.equal(server.getSnapshot().context.accepted, 1)
})

t.test('counts follow each child into its closing state', async (t) => {
  const server = startServer(t)
  const deaf = fakeTransport({ deaf: true })
  server.send({ type: 'connection.accept', id: 'a', input: { socket: deaf.transport } })
  server.send({ type: 'connection.accept', id: 'b', input: { socket: fakeTransport().transport } })
  server.getSnapshot().context.connections.a!.send({ type: 'close', code: 1000, reason: '' })
  t.same(countConnections(server.getSnapshot()), { connecting: 0, open: 1, interrupted: 0, closingSent: 1, closingReceived: 0, closed: 0, total: 2 })
})

t.test('maxConnections is a guard: past it canAccept says no and an accept spawns nothing', async (t) => {
  const server = startServer(t, 2)
  t.equal(canAccept(server.getSnapshot()), true)
  server.send({ type: 'connection.accept', id: 'c1', input: { socket: fakeTransport().transport } })
  server.send({ type: 'connection.accept', id: 'c2', input: { socket: fakeTransport().transport } })
  t.equal(canAccept(server.getSnapshot()), false)
  const third = fakeTransport()
  server.send({ type: 'connection.accept', id: 'c3', input: { socket: third.transport } })
  t.same(Object.keys(server.getSnapshot().context.connections).sort(), ['c1', 'c2'])
  server.getSnapshot().context.connections.c1!.send({ type: 'close', code: 1000, reason: '' })
  await toPromise(server.getSnapshot().context.connections.c1!)
  t.equal(canAccept(server.getSnapshot()), true, 'a closed connection frees its slot')
})

t.test('a drain closes every child with 1001 Going Away and reports the clean closes', async (t) => {
  const server = startServer(t)
  const peers = [fakeTransport(), fakeTransport(), fakeTransport()]
  peers.forEach((peer, i) => server.send({ type: 'connection.accept', id: `c${i}`, input: { socket: peer.transport } }))
  server.send({ type: 'drain' })
  t.equal(canAccept(server.getSnapshot()), false, 'a draining server accepts nothing')
  const report = await toPromise(server)
  t.same(report, { closedCleanly: 3, terminated: 0 })
  for (const peer of peers) t.same(peer.record.closes, [{ code: 1001, reason: 'Going Away' }])
  t.equal(server.getSnapshot().value, 'stopped')
})

t.test('a drain with no connections stops at once', async (t) => {
  const server = startServer(t)
  server.send({ type: 'drain', timeout: 60_000 })
  t.equal(server.getSnapshot().status, 'done')
  t.same(server.getSnapshot().output, { closedCleanly: 0, terminated: 0 })
})

t.test('a child that never answers the Close is aborted at the drain timeout and counted as terminated', async (t) => {
  const server = startServer(t)
  const polite = fakeTransport()
  const deaf = fakeTransport({ deaf: true })
  server.send({ type: 'connection.accept', id: 'polite', input: { socket: polite.transport } })
  server.send({ type: 'connection.accept', id: 'deaf', input: { socket: deaf.transport } })
  const started = Date.now()
  server.send({ type: 'drain', timeout: 200, code: 4000, reason: 'bye' })
  const report = await toPromise(server)
  const elapsed = Date.now() - started
  t.same(report, { closedCleanly: 1, terminated: 1 })
  t.same(deaf.record.closes, [{ code: 4000, reason: 'bye' }])
  t.equal(deaf.record.terminated, true)
  t.ok(elapsed >= 190, `the deaf child got its full timeout (${elapsed} ms)`)
})

t.test('connections that end during the drain without a handshake count as terminated', async (t) => {
  const server = startServer(t)
  const deaf = fakeTransport({ deaf: true })
  server.send({ type: 'connection.accept', id: 'c1', input: { socket: deaf.transport } })
  server.send({ type: 'drain', timeout: 60_000 })
  // The peer's TCP connection dies before its Close.
  deaf.transport.terminate()
  t.same(await toPromise(server), { closedCleanly: 0, terminated: 1 })
})

t.test('the machine is data: its actions, guards and delays are named', async (t) => {
  const json = JSON.stringify(serverMachine.toJSON())
  // (toJSON() leaves eventless transitions out, so the noConnections guard cannot be seen here.)
  for (const name of ['hasRoom', 'startConnection', 'superviseConnections', 'closeEveryConnection', 'terminateEveryConnection', 'drainTimeout']) {
    t.match(json, name)
  }
})

t.test('stopping the server actor from outside aborts every connection still running', async (t) => {
  const actor = createActor(serverMachine, { input: {} })
  actor.start()
  const peers = [fakeTransport(), fakeTransport({ deaf: true })]
  peers.forEach((peer, i) => actor.send({ type: 'connection.accept', id: `c${i}`, input: { socket: peer.transport } }))
  const children = Object.values(actor.getSnapshot().context.connections)
  t.equal(children.length, 2)
  actor.stop()
  const deadline = new AbortController()
  t.teardown(() => deadline.abort())
  const infos = await Promise.race([
    Promise.all(children.map((child) => toPromise(child))),
    sleep(5000, undefined, { signal: deadline.signal }).then(() => { throw new Error('the connections outlived the server actor') }),
  ])
  t.same(peers.map((peer) => peer.record.terminated), [true, true], 'every socket was terminated')
  t.same(infos.map((info) => info.wasClean), [false, false])
})

t.test('the pure connection machine refuses a socket that is not a Transport, with a clear error', async (t) => {
  const actor = createActor(connectionMachine, { input: { socket: { send() {} } } })
  const errors: unknown[] = []
  actor.subscribe({ error: (error) => errors.push(error) })
  actor.start()
  t.equal(actor.getSnapshot().status, 'error')
  t.equal(errors.length, 1)
  t.type(errors[0], TypeError)
  t.match(String(errors[0]), /needs a Transport as input\.socket/)
})
