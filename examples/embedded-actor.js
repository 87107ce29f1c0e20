// Embedding: your own XState machine spawns `connectionMachine` children — one per socket — and
// reacts to each child's `closed` output (its CloseInfo). `WsStream.fromActor(child)` gives you the
// byte-stream API over a child your machine owns.
//
//   npm run build && node examples/embedded-actor.js
import { WebSocketServer } from 'ws'
import { assign, createActor, setup, stopChild } from 'xstate'
import { WsStream, connect, connectionMachine } from 'ws-stream-actor'

// A room: members join as connection children; when one leaves, the room records how, and goes
// back to `empty` after the last one.
const roomMachine = setup({
  actors: { connection: connectionMachine },
  guards: {
    roomIsEmpty: ({ context }) => Object.keys(context.members).length === 0,
  },
  actions: {
    admit: assign(({ context, event, spawn }) => ({
      members: {
        ...context.members,
        [event.id]: spawn('connection', { id: event.id, input: { socket: event.socket, options: { text: 'bytes' } } }),
      },
    })),
    recordDeparture: assign(({ context, event }) => {
      const { [event.actorId]: _gone, ...members } = context.members
      return { members, departures: [...context.departures, { id: event.actorId, ...event.output }] }
    }),
    forgetChild: stopChild(({ event }) => event.actorId),
  },
}).createMachine({
  id: 'room',
  context: { members: {}, departures: [] },
  initial: 'empty',
  on: {
    join: { target: '.occupied', actions: 'admit' },
    // Every child that reaches its final state sends `xstate.done.actor.<id>` with its CloseInfo.
    'xstate.done.actor.*': { actions: ['recordDeparture', 'forgetChild'] },
  },
  states: {
    empty: {},
    occupied: { always: { guard: 'roomIsEmpty', target: 'empty' } },
  },
})

const room = createActor(roomMachine)
room.subscribe((snapshot) => console.log(`[room] ${snapshot.value}, ${Object.keys(snapshot.context.members).length} member(s)`))
room.start()

// Any source of ws sockets will do; here a plain ws server on loopback.
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
await new Promise((resolve) => wss.once('listening', resolve))
let next = 0
wss.on('connection', async (socket) => {
  const id = `member-${++next}`
  room.send({ type: 'join', id, socket })
  // The child exists as soon as the event is processed; wrap it and talk bytes.
  const stream = WsStream.fromActor(room.getSnapshot().children[id])
  try {
    for await (const chunk of stream) await stream.write(`${id} heard: ${Buffer.from(chunk)}`)
  } catch (error) {
    // A peer that vanishes without a Close makes one read reject (ConnectionResetError).
    console.log(`[${id}] ${error.code}`)
  }
})

const url = `ws://127.0.0.1:${wss.address().port}`
const alice = await connect(url)
const bob = await connect(url)
await alice.write('hello from alice')
console.log(`[alice] ${Buffer.from(await alice.read())}`)
await bob.write('hello from bob')
console.log(`[bob] ${Buffer.from(await bob.read())}`)

await alice.close(1000, 'bye')
bob.abort() // no handshake: the room records a 1006
await new Promise((resolve) => {
  const subscription = room.subscribe((s) => s.value === 'empty' && s.context.departures.length === 2 && (subscription.unsubscribe(), resolve()))
})
for (const d of room.getSnapshot().context.departures) {
  console.log(`[room] ${d.id} left: code ${d.code}, clean ${d.wasClean}, initiator ${d.initiator}`)
}
room.stop()
await new Promise((resolve) => wss.close(resolve))
