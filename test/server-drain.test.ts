/**
 * WsStreamServer under load and at shutdown: many concurrent connections, the graceful drain,
 * and a peer that ignores the Close.
 */
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { WsStreamServer, connect, type CloseInfo, type WsStream } from '../src/index.js'
import { bytes, urlOf, waitFor } from './support/helpers.js'
import { resourceCounts } from './support/process.js'
import { OP, parseClose, rawTcpPeer } from './support/raw-peer.js'

/** Counts of the handle types a leak would show up as. */
const handles = (): Record<string, number> => Object.fromEntries(resourceCounts(/TCP|Timeout|Pipe/))


const CONNECTIONS = 1000
const SIZE = 8 * 1024

t.test('1,000 concurrent connections exchange data, then a drain closes each with 1001 and leaves no handle', async (t) => {
  const before = handles()
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', backlog: CONNECTIONS })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening

  // The server checks each client's bytes (seeded by the client's number) and answers with its own.
  const serverChecks: Promise<boolean>[] = []
  server.on('connection', (stream) => {
    serverChecks.push((async () => {
      const id = Buffer.from(await stream.readExactly(4)).readUInt32BE(0)
      const got = await stream.readExactly(SIZE)
      await stream.write(bytes(SIZE, 100_000 + id))
      return Buffer.compare(got, bytes(SIZE, id + 1)) === 0
    })())
  })

  const clients: WsStream[] = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => connect(urlOf(server), { timeout: 30_000 })),
  )
  t.teardown(() => { for (const c of clients) c.abort() })
  t.equal(server.connections.size, CONNECTIONS, 'every connection is open at once')
  t.equal(server.counts.open, CONNECTIONS)

  const replies = await Promise.all(clients.map(async (client, id) => {
    const header = Buffer.alloc(4)
    header.writeUInt32BE(id)
    await client.write(header)
    await client.write(bytes(SIZE, id + 1))
    const reply = await client.readExactly(SIZE)
    return Buffer.compare(reply, bytes(SIZE, 100_000 + id)) === 0
  }))
  t.equal(replies.filter(Boolean).length, CONNECTIONS, 'every client got its exact reply')
  t.equal((await Promise.all(serverChecks)).filter(Boolean).length, CONNECTIONS, 'the server got every exact byte')

  // Clients keep reading until the end, as a well-behaved peer does, so the drain can finish cleanly.
  const clientEnds = clients.map(async (client) => {
    while ((await client.read()) !== null);
    return client.closed
  })
  const timeout = 20_000
  const started = Date.now()
  const report = await server.close({ timeout })
  const elapsed = Date.now() - started
  t.same(report, { closedCleanly: CONNECTIONS, terminated: 0 })
  t.ok(elapsed < timeout, `the drain finished within its timeout (${elapsed} ms)`)

  const infos: CloseInfo[] = await Promise.all(clientEnds)
  t.equal(infos.filter((i) => i.code === 1001 && i.reason === 'Going Away' && i.wasClean && i.initiator === 'remote').length,
    CONNECTIONS, 'every client saw a clean 1001 Going Away')
  t.equal(server.connections.size, 0)
  t.equal(server.actor.getSnapshot().status, 'done')

  await waitFor(() => JSON.stringify(handles()) === JSON.stringify(before), 5000, 'handles to close')
  t.same(handles(), before, 'no socket or timer left behind')
})

t.test('a client that ignores the Close is terminated at the drain timeout', async (t) => {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening
  const accepted: WsStream[] = []
  server.on('connection', (stream) => accepted.push(stream))
  const port = (server.address() as AddressInfo).port

  const polite = await connect(urlOf(server))
  t.teardown(() => polite.abort())
  const deaf = await rawTcpPeer(t, port)
  await waitFor(() => accepted.length === 2)

  const timeout = 300
  const started = Date.now()
  const report = await server.close({ timeout })
  const elapsed = Date.now() - started
  t.same(report, { closedCleanly: 1, terminated: 1 })
  t.ok(elapsed >= timeout - 20, `the deaf client had the whole timeout (${elapsed} ms)`)
  t.ok(elapsed < timeout + 2000, `and no more than a moment after it (${elapsed} ms)`)

  t.same(parseClose(await deaf.frame(OP.close)), { code: 1001, reason: 'Going Away' }, 'the deaf client was sent 1001')
  await deaf.ends
  t.pass('its TCP connection was cut')
  const deafSide = await accepted[1]!.closed
  t.equal(deafSide.wasClean, false)
  t.equal(deafSide.initiator, 'local')
  t.equal((await polite.closed).code, 1001)
})

t.test('a drain with a custom code and reason sends those', async (t) => {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  await server.listening
  const client = await connect(urlOf(server))
  t.teardown(() => client.abort())
  await waitFor(() => server.connections.size === 1)
  t.same(await server.close({ code: 4001, reason: 'maintenance' }), { closedCleanly: 1, terminated: 0 })
  const info = await client.closed
  t.same([info.code, info.reason], [4001, 'maintenance'])
})

t.test('close() is idempotent and rejects an unsendable close code before draining', async (t) => {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  await server.listening
  t.throws(() => server.close({ code: 1005 }), { code: 'ERR_WS_INVALID_CLOSE_CODE' })
  t.equal(server.actor.getSnapshot().value, 'listening')
  const first = server.close()
  t.equal(server.close(), first)
  t.same(await first, { closedCleanly: 0, terminated: 0 })
})

t.test('after close() the port no longer accepts connections', async (t) => {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  await server.listening
  const url = urlOf(server)
  await server.close()
  await t.rejects(connect(url, { timeout: 5000 }), { code: 'ERR_WS_HANDSHAKE' })
})
