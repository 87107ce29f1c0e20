/**
 * Inspection: the server's `inspect` sees the whole actor system — the server actor and every
 * connection child — directly, and through @statelyai/inspect's WebSocket inspector.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createWebSocketInspector } from '@statelyai/inspect'
import t from 'tap'
import { WebSocketServer } from 'ws'
import type { InspectionEvent } from 'xstate'
import { WsStreamServer, connect, type WsStream } from '../src/index.js'
import { urlOf, waitFor } from './support/helpers.js'


t.test('an inspect callback receives the server\'s and each connection\'s snapshots', async (t) => {
  const events: InspectionEvent[] = []
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', inspect: (event) => events.push(event) })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening
  const accepted: WsStream[] = []
  server.on('connection', (stream) => accepted.push(stream))
  const clients = await Promise.all([connect(urlOf(server)), connect(urlOf(server))])
  t.teardown(() => clients.forEach((c) => c.abort()))
  await waitFor(() => accepted.length === 2)
  await clients[0]!.write('hello')
  await accepted[0]!.read()
  await server.close()

  type Seen = { actorRef: unknown; snapshot: { value: unknown } }
  const valuesOf = (actor: unknown) =>
    events.filter((e) => e.type === '@xstate.snapshot' && e.actorRef === actor).map((e) => (e as unknown as Seen).snapshot.value)
  const serverValues = valuesOf(server.actor)
  t.ok(serverValues.includes('listening'), 'the server was seen listening')
  t.ok(serverValues.some((v) => typeof v === 'object' && v !== null && 'draining' in v), 'and draining')
  t.equal(serverValues.at(-1), 'stopped', 'and stopped')
  for (const stream of accepted) {
    const id = stream.actor.id
    const values = valuesOf(stream.actor)
    t.ok(values.includes('closingSent'), `connection ${id} was seen closing`)
    t.equal(values.at(-1), 'closed', `connection ${id} was seen closed`)
    const actorEvent = events.find((e) => e.type === '@xstate.actor' && e.actorRef === stream.actor)
    t.equal((actorEvent?.actorRef as { _parent?: unknown } | undefined)?._parent, server.actor, `connection ${id} is the server's child`)
  }
  t.ok(events.some((e) => e.type === '@xstate.event' && e.event.type === 'drain'), 'the drain event was seen')
})

t.test('@statelyai/inspect\'s WebSocket inspector streams the actor system to a relay', async (t) => {
  // A relay on loopback that keeps what the inspector sends (the Stately relay rebroadcasts the same JSON).
  const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(relay, 'listening')
  const received: Array<{ type: string; sessionId: string; name?: string; parentId?: string; snapshot?: { value?: unknown } }> = []
  relay.on('connection', (ws) => ws.on('message', (data) => received.push(JSON.parse(data.toString()))))
  t.teardown(() => {
    for (const ws of relay.clients) ws.terminate()
    return new Promise((resolve) => relay.close(resolve))
  })

  const inspector = createWebSocketInspector({
    url: `ws://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    // A connection's context holds its socket and buffers: send what a person would look at.
    sanitizeContext: (context) => (context && 'io' in context ? { state: context.state, initiator: context.initiator } : context),
  })
  t.teardown(() => inspector.stop())
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', inspect: inspector.inspect })
  t.teardown(() => server.close({ timeout: 0 }))
  await server.listening
  const accepted = once(server, 'connection')
  const client = await connect(urlOf(server))
  t.teardown(() => client.abort())
  const [stream] = (await accepted) as [WsStream]
  await server.close()

  const connectionId = stream.actor.id
  await waitFor(() => received.some((e) => e.type === '@xstate.snapshot' && e.snapshot?.value === 'stopped'), 5000, 'the server\'s last snapshot')
  const actors = received.filter((e) => e.type === '@xstate.actor')
  const serverSession = actors.find((e) => e.name === 'server')?.sessionId
  const connectionSessions = actors.filter((e) => e.parentId === serverSession && e.name === connectionId).map((e) => e.sessionId)
  t.ok(serverSession, 'the relay learned of the server actor')
  t.equal(connectionSessions.length, 1, 'and of the connection actor')
  t.equal(stream.actor.sessionId, connectionSessions[0])
  const valuesOf = (session: string | undefined) =>
    received.filter((e) => e.type === '@xstate.snapshot' && e.sessionId === session).map((e) => e.snapshot?.value)
  t.ok(valuesOf(serverSession).includes('listening'), 'server snapshots arrived')
  t.ok(valuesOf(connectionSessions[0]).includes('closed'), `connection ${connectionId} snapshots arrived, up to closed`)
})
