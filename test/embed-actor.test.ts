/**
 * Embedding: a user's own XState machine spawns `connectionMachine` children, reacts to their
 * `closed` output, and `WsStream.fromActor` wraps such a child as a full stream.
 */
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { assign, createActor, setup, stopChild, type ActorRefFrom, type DoneActorEvent } from 'xstate'
import { WsStream, connectionMachine, type CloseInfo, type WsEvent } from '../src/index.js'
import { bytes, rawServer, readAll, waitFor } from './support/helpers.js'
import { WebSocket } from 'ws'

/** A user's machine: admits sockets as connection children, remembers how each one ended. */
const roomMachine = setup({
  types: {
    context: {} as {
      members: Record<string, ActorRefFrom<typeof connectionMachine>>
      departures: Array<{ id: string; info: CloseInfo }>
    },
    events: {} as
      | { type: 'join'; id: string; socket: WebSocket }
      | { type: 'kick'; id: string }
      | DoneActorEvent<CloseInfo>,
  },
  actors: { connection: connectionMachine },
  guards: {
    roomIsEmpty: ({ context }) => Object.keys(context.members).length === 0,
  },
  actions: {
    admit: assign(({ context, event, spawn }) => {
      if (event.type !== 'join') return {}
      const member = spawn('connection', { id: event.id, input: { socket: event.socket, options: { readHighWaterMark: 64 * 1024 } } })
      return { members: { ...context.members, [event.id]: member } }
    }),
    kick: ({ context, event }) => {
      if (event.type === 'kick') context.members[event.id]?.send({ type: 'close', code: 4000, reason: 'kicked' })
    },
    recordDeparture: assign(({ context, event }) => {
      if (!event.type.startsWith('xstate.done.actor.')) return {}
      const { actorId, output } = event as DoneActorEvent<CloseInfo>
      const { [actorId]: _gone, ...members } = context.members
      return { members, departures: [...context.departures, { id: actorId, info: output }] }
    }),
    forgetChild: stopChild(({ event }) => (event as DoneActorEvent).actorId),
  },
}).createMachine({
  id: 'room',
  context: { members: {}, departures: [] },
  initial: 'empty',
  on: {
    join: { target: '.occupied', actions: 'admit' },
    kick: { actions: 'kick' },
    'xstate.done.actor.*': { actions: ['recordDeparture', 'forgetChild'] },
  },
  states: {
    empty: {},
    occupied: {
      always: { guard: 'roomIsEmpty', target: 'empty' },
    },
  },
})

/** A room actor, a ws server feeding it sockets, and clients. */
async function room(t: Test) {
  const server = await rawServer(t)
  const actor = createActor(roomMachine)
  actor.start()
  t.teardown(() => actor.stop())
  let next = 0
  return {
    actor,
    /** Connects a raw ws client; resolves with it and the WsStream over its server-side child. */
    async join(): Promise<{ client: WebSocket; stream: WsStream; id: string }> {
      const client = new WebSocket(server.url)
      t.teardown(() => client.terminate())
      const socket = await server.accept()
      const id = `member-${++next}`
      actor.send({ type: 'join', id, socket })
      const child = actor.getSnapshot().children[id]!
      await once(client, 'open')
      return { client, stream: WsStream.fromActor(child), id }
    },
  }
}

t.test('a user machine spawns connection children and WsStream.fromActor reads and writes through one', async (t) => {
  const { actor, join } = await room(t)
  const { client, stream, id } = await join()
  t.equal(actor.getSnapshot().value, 'occupied')
  t.equal(stream.actor, actor.getSnapshot().children[id], 'the stream is over the child itself')
  t.equal(stream.state, 'open')

  const sent = bytes(200_000, 7)
  client.send(sent.subarray(0, 100_000))
  client.send(sent.subarray(100_000))
  t.same(Buffer.from(await stream.readExactly(200_000)), Buffer.from(sent), 'reads get every byte in order')

  const received: Buffer[] = []
  client.on('message', (data: Buffer) => received.push(data))
  await stream.write('from the child')
  await stream.flush()
  await waitFor(() => Buffer.concat(received).toString() === 'from the child')
  t.pass('writes reach the peer')
  t.equal(stream.stats.bytesRead, 200_000)
})

t.test('the parent reacts to a child\'s closed output, and the stream sees the same CloseInfo', async (t) => {
  const { actor, join } = await room(t)
  const { client, stream, id } = await join()
  const events: WsEvent['type'][] = []
  stream.on('*', (event) => events.push(event.type))
  const info = await stream.close(1000, 'see you')
  t.same([info.code, info.reason, info.wasClean, info.initiator], [1000, 'see you', true, 'local'])
  await waitFor(() => actor.getSnapshot().context.departures.length === 1)
  t.same(actor.getSnapshot().context.departures[0], { id, info })
  t.equal(actor.getSnapshot().value, 'empty', 'the room noticed its last member left')
  t.same(Object.keys(actor.getSnapshot().children), [], 'the finished child was stopped')
  t.same(events, ['state', 'closeFrame', 'state', 'closed'])
  t.equal(client.readyState, WebSocket.CLOSED)
})

t.test('the parent can close a child with its own code, and reads then end', async (t) => {
  const { actor, join } = await room(t)
  const { client, stream } = await join()
  const peerSaw = once(client, 'close')
  client.send(Buffer.from('last words'))
  await waitFor(() => stream.stats.bytesRead === 10)
  actor.send({ type: 'kick', id: 'member-1' })
  t.equal((await readAll(stream)).toString(), 'last words', 'data before the Close stays readable')
  const [code, reason] = (await peerSaw) as [number, Buffer]
  t.same([code, reason.toString()], [4000, 'kicked'])
  t.equal((await stream.closed).initiator, 'local')
})

t.test('a peer that vanishes ends the child with 1006, and the parent records it', async (t) => {
  const { actor, join } = await room(t)
  const { client, stream } = await join()
  client.terminate()
  const info = await stream.closed
  t.same([info.code, info.wasClean, info.error?.code], [1006, false, 'ERR_WS_CONNECTION_RESET'])
  await waitFor(() => actor.getSnapshot().context.departures.length === 1)
  t.equal(actor.getSnapshot().context.departures[0]!.info.code, 1006)
})

t.test('several children live side by side, each its own stream', async (t) => {
  const { actor, join } = await room(t)
  const members = await Promise.all([join(), join(), join()])
  await Promise.all(members.map(({ client }, i) => new Promise<void>((resolve) => client.send(Buffer.from(`member ${i}`), () => resolve()))))
  const heard = await Promise.all(members.map(async ({ stream }) => Buffer.from((await stream.read())!).toString()))
  t.same(heard, ['member 0', 'member 1', 'member 2'])
  await Promise.all(members.map(({ stream }) => stream.close()))
  await waitFor(() => actor.getSnapshot().context.departures.length === 3)
  t.equal(actor.getSnapshot().value, 'empty')
})
