/**
 * Model-based tests of the connection machine: paths generated from `connectionMachine` with
 * xstate/graph, each driven over a real loopback socket against a hand-written WebSocket server
 * (test/support/raw-server-peer.ts) that can do what a well-behaved peer never would.
 *
 * Coverage is counted against the machine itself: the driver table must name exactly the
 * machine's event types (from `toJSON()`), and every edge of the machine's state graph must be
 * driven by some path or be listed in `unreachable` with the reason it cannot happen over a real
 * ws socket. Adding a state, an event or a transition makes this file fail until it is covered.
 */
import t from 'tap'
import { WebSocket } from 'ws'
import { initialTransition, transition, type AnyStateMachine, type InspectionEvent } from 'xstate'
import { getAdjacencyMap, getShortestPaths, getSimplePaths } from 'xstate/graph'
import { connectionMachine, WsStream, WsStreamError, type CloseInfo, type State, type WsEvent } from '../src/index.js'
import { bytes, waitFor } from './support/helpers.js'
import { OP, closePayload, parseClose } from './support/raw-peer.js'
import { rawWsServer, type RawServerPeer } from './support/raw-server-peer.js'

const machine = connectionMachine as unknown as AnyStateMachine
const HWM = 1024
const CLOSE_TIMEOUT = 300
const AFTER_SENT = 'xstate.after.closeTimeout.connection.closingSent'
const AFTER_RECEIVED = 'xstate.after.closeTimeout.connection.closingReceived'

interface Ctx {
  stream: WsStream
  peer: RawServerPeer
  /** Bytes the peer sent as binary data. */
  sent: number
}
type Run = (ctx: Ctx, next: string | undefined) => Promise<void> | void
interface Drive {
  run: Run
  /** Machine events this drive produces, in order (default: just its own event). */
  produces?: (next: string | undefined) => string[]
}
interface Driver {
  /** An event of this type as the machine takes it (for the graph traversal and the simulation). */
  sample: { type: string; [key: string]: unknown }
  /** How to produce it over a real socket in each state, or why it cannot happen there. */
  in: Partial<Record<State, Drive | string>>
}

const noFrames = 'no frame can arrive before the upgrade completes'
const afterPeerClose = 'ws stops reading once the peer\'s Close arrived, and the read buffer has ended'
const wsSwallowsErrors =
  'ws emits no error after the upgrade except receiver errors, which it reports after closing (protocolClose first); socket errors it swallows'

const bigChunk = (ctx: Ctx): Uint8Array => {
  ctx.sent += 2 * HWM
  return bytes(2 * HWM, ctx.sent)
}
const sendPing: Drive = { run: ({ peer }) => peer.send(OP.ping, Buffer.from('model-ping')) }
const sendPong: Drive = { run: ({ peer }) => peer.send(OP.pong, Buffer.from('model-pong')) }
const drainReads: Drive = {
  run: async ({ stream }) => {
    // One read takes everything buffered: below half the mark, the socket resumes.
    await stream.read()
  },
}
const fillReads: Drive = { run: (ctx) => ctx.peer.send(OP.binary, bigChunk(ctx)) }
const abort: Drive = { run: ({ stream }) => stream.abort('model') }
const waitForTimer: Drive = { run: () => {} }
/** The peer ends TCP (a FIN, no Close frame of its own unless an earlier step sent one). */
const peerEndsTcp: Drive = {
  run: ({ peer }) => {
    peer.socket.end()
  },
}

/** Every event type of the machine, each with a sample and its drivers. */
const drivers: Record<string, Driver> = {
  socketOpen: {
    sample: { type: 'socketOpen' },
    in: { connecting: { run: ({ peer }) => peer.upgrade() } },
  },
  socketClosed: {
    sample: { type: 'socketClosed', code: 1006, reason: '', wasClean: false },
    in: {
      // A dropped upgrade is an error ("socket hang up") and then the close.
      connecting: { run: ({ peer }) => { peer.socket.destroy() }, produces: () => ['socketError', 'socketClosed'] },
      open: peerEndsTcp,
      closingSent: peerEndsTcp,
      closingReceived: {
        run: async ({ peer }) => {
          await peer.frame(OP.close) // our echo
          peer.socket.end()
        },
      },
    },
  },
  socketError: {
    sample: { type: 'socketError', error: new WsStreamError('sample') },
    in: {
      connecting: { run: ({ peer }) => peer.refuse(403), produces: () => ['socketError', 'socketClosed'] },
      open: wsSwallowsErrors,
      // A masked frame from a server breaks the protocol; after our Close, ws only reports it.
      closingSent: { run: ({ peer }) => peer.send(OP.binary, Buffer.from('masked'), { mask: true }) },
      closingReceived: wsSwallowsErrors,
    },
  },
  ping: {
    sample: { type: 'ping', data: new Uint8Array(0) },
    in: { connecting: noFrames, open: sendPing, closingSent: sendPing, closingReceived: afterPeerClose },
  },
  pong: {
    sample: { type: 'pong', data: new Uint8Array(0) },
    in: { connecting: noFrames, open: sendPong, closingSent: sendPong, closingReceived: afterPeerClose },
  },
  readBufferFull: {
    sample: { type: 'readBufferFull' },
    in: {
      connecting: noFrames,
      open: {
        // Followed by the peer's Close, the two must share one TCP write: a paused socket reads no Close.
        run: (ctx, next) => {
          const data = Buffer.concat([
            Buffer.from(bytesFrame(bigChunk(ctx))),
            ...(next === 'peerClose' ? [closeFrame(4001, 'bye')] : []),
          ])
          ctx.peer.write(data)
        },
        produces: (next) => (next === 'peerClose' ? ['readBufferFull', 'peerClose'] : ['readBufferFull']),
      },
      closingSent: fillReads,
      closingReceived: afterPeerClose,
    },
  },
  readBufferDrained: {
    sample: { type: 'readBufferDrained' },
    in: { connecting: noFrames, open: drainReads, closingSent: drainReads, closingReceived: drainReads },
  },
  keepAliveTimeout: {
    sample: { type: 'keepAliveTimeout' },
    in: { open: waitForTimer }, // the peer never answers pings; keepAlive is on for these paths
  },
  close: {
    sample: { type: 'close', code: 4000, reason: 'model' },
    in: {
      connecting: { run: ({ stream }) => void stream.close(4000, 'model') },
      open: { run: ({ stream }) => void stream.close(4000, 'model') },
    },
  },
  abort: {
    sample: { type: 'abort', reason: 'model' },
    in: { connecting: abort, open: abort, closingSent: abort, closingReceived: abort },
  },
  protocolClose: {
    sample: { type: 'protocolClose', code: 1002 },
    in: {
      open: {
        run: ({ peer }) => peer.send(OP.binary, Buffer.from('masked'), { mask: true }),
        // ws closes with 1002 first, then emits the error.
        produces: () => ['protocolClose', 'socketError'],
      },
    },
  },
  textReceived: {
    sample: { type: 'textReceived' },
    in: {
      open: { run: ({ peer }) => peer.send(OP.text, Buffer.from('text')) },
      closingSent: { run: ({ peer }) => peer.send(OP.text, Buffer.from('text')) },
    },
  },
  peerClose: {
    sample: { type: 'peerClose', code: 4001, reason: 'bye' },
    in: {
      open: { run: ({ peer }) => peer.write(closeFrame(4001, 'bye')) },
      closingSent: {
        // The echo of whatever Close we sent.
        run: async ({ peer }) => {
          const ours = parseClose(await peer.frame(OP.close))
          peer.write(closeFrame(ours.code, ours.reason))
        },
      },
    },
  },
  [AFTER_SENT]: { sample: { type: AFTER_SENT }, in: { closingSent: waitForTimer } },
  [AFTER_RECEIVED]: {
    sample: { type: AFTER_RECEIVED },
    in: {
      // The peer holds TCP half-open after the handshake; it must not see our FIN either.
      closingReceived: { run: () => {} },
    },
  },
}

function bytesFrame(data: Uint8Array): Uint8Array {
  const frame = Buffer.alloc(4 + data.length)
  frame[0] = 0x82
  frame[1] = 126
  frame.writeUInt16BE(data.length, 2)
  frame.set(data, 4)
  return frame
}
function closeFrame(code: number, reason: string): Buffer {
  const payload = closePayload(code, reason)
  return Buffer.concat([Buffer.from([0x88, payload.length]), payload])
}

/** The event types the machine itself names, from its JSON. */
function machineEventTypes(): string[] {
  const types = new Set<string>()
  const walk = (node: { on?: Record<string, unknown>; states?: Record<string, unknown> }): void => {
    for (const type of Object.keys(node.on ?? {})) types.add(type)
    for (const child of Object.values(node.states ?? {})) walk(child as typeof node)
  }
  walk(machine.toJSON() as Parameters<typeof walk>[0])
  return [...types].sort()
}

const samples = Object.values(drivers).map((d) => d.sample)
const traversal = {
  input: { socket: {} },
  serializeState: (snapshot: { value: unknown }) => JSON.stringify(snapshot.value),
  events: () => samples,
  // A final machine takes no more events; an unhandled event is no edge.
  filterEvents: (snapshot: { status: string; can(e: unknown): boolean }, event: unknown) =>
    snapshot.status === 'active' && snapshot.can(event),
} as never

function sampleOf(type: string): { type: string } {
  return drivers[type]!.sample
}

/** Runs `log` through the machine: each event must be taken; returns the state before each. */
function simulate(log: string[]): { before: State[]; end: State } {
  let [snapshot] = initialTransition(machine, { socket: {} })
  const before: State[] = []
  for (const type of log) {
    const state = snapshot.value as State
    if (snapshot.status !== 'active' || !snapshot.can(sampleOf(type))) {
      throw new Error(`the machine does not take ${type} in ${state} (log: ${log.join(', ')})`)
    }
    before.push(state)
    ;[snapshot] = transition(machine, snapshot, sampleOf(type))
  }
  return { before, end: snapshot.value as State }
}

interface Action { state: State; type: string; next: string | undefined; produces: string[] }
interface Plan { name: string; actions: Action[]; log: string[]; states: State[] }

function driveFor(state: State, type: string): Drive {
  const drive = drivers[type]?.in[state]
  if (drive === undefined || typeof drive === 'string') {
    throw new Error(`no way to drive ${type} in ${state}: ${drive ?? 'no driver'}`)
  }
  return drive
}

/** Turns a path of events into drive actions, adds what the drives force, and finishes it to `closed`. */
function plan(events: string[]): Plan {
  const actions: Action[] = []
  const log: string[] = []
  let ahead: string[] = []
  const add = (type: string, next: string | undefined): void => {
    if (ahead[0] === type) {
      ahead.shift()
      return
    }
    ahead = []
    const state = simulate(log).end
    const produces = driveFor(state, type).produces?.(next) ?? [type]
    actions.push({ state, type, next, produces })
    log.push(...produces)
    ahead = produces.slice(produces.indexOf(type) + 1)
  }
  events.forEach((type, i) => add(type, events[i + 1]))
  // Finish: a paused socket resumes first, then the gentlest way to `closed` from where we are.
  for (let guard = 0; guard < 6; guard++) {
    const end = simulate(log).end
    if (end === 'closed') break
    const paused = log.lastIndexOf('readBufferFull') > log.lastIndexOf('readBufferDrained')
    const receiverBroken = log.includes('protocolClose') || (log.includes('socketError') && end === 'closingSent')
    const next =
      paused && end !== 'connecting' ? 'readBufferDrained'
      : end === 'connecting' ? 'socketOpen'
      : end === 'open' ? 'close'
      : end === 'closingSent' && !receiverBroken && !log.includes('peerClose') ? 'peerClose'
      : 'socketClosed'
    add(next, undefined)
  }
  const { before, end } = simulate(log)
  if (end !== 'closed') throw new Error(`plan does not reach closed: ${log.join(', ')}`)
  const name = log.map((type, i) => `${before[i]} -${type.replace('xstate.after.closeTimeout.connection.', 'closeTimeout@')}->`).join(' ') + ' closed'
  return { name, actions, log, states: before }
}

// ---- the expected outcome, from the contract in docs/architecture.md and the guides (not from the machine) ----

const TEXT_REASON = 'Text messages are not supported.'

function expectedInfo(log: string[], states: State[]): { info: Omit<CloseInfo, 'error'>; error: string | undefined } {
  let initiator: CloseInfo['initiator'] = 'none'
  let peer: { code: number; reason: string } | undefined
  let errorClose: { code: number; reason: string } | undefined
  let sentClose: { code: number; reason: string } | undefined
  let error: string | undefined
  const fail = (name: string): void => { error ??= name }
  log.forEach((type, i) => {
    const state = states[i]!
    if (state === 'open' && type === 'close') { initiator = 'local'; sentClose = { code: 4000, reason: 'model' } }
    if (state === 'open' && type === 'protocolClose') { initiator = 'local'; errorClose = { code: 1002, reason: '' } }
    if (state === 'open' && type === 'textReceived') {
      initiator = 'local'
      errorClose = sentClose = { code: 1003, reason: TEXT_REASON }
      fail('ReceivedTextError')
    }
    if (type === 'peerClose') {
      if (state === 'open') { initiator = 'remote'; peer = { code: 4001, reason: 'bye' } } else peer = sentClose
    }
    if (type === 'socketError') fail(state === 'connecting' ? 'HandshakeError' : 'ProtocolError')
    // A socket that closed before the peer's Close frame was a reset: no close handshake happened.
    if (type === 'socketClosed' && state !== 'connecting' && !log.includes('peerClose')) fail('ConnectionResetError')
    if (type === 'keepAliveTimeout' || type.startsWith('xstate.after.')) fail('TimeoutError')
    if (type === 'abort') fail('WsStreamError:ERR_WS_ABORTED')
  })
  const named = peer ?? errorClose
  const last = log[log.length - 1]!
  return {
    info: {
      code: named?.code ?? 1006,
      reason: named?.reason ?? '',
      wasClean: last === 'socketClosed' && log.includes('peerClose'),
      initiator,
    },
    error,
  }
}

function expectedEvents(log: string[], states: State[]): string[] {
  const out: string[] = []
  log.forEach((type, i) => {
    const state = states[i]!
    const to = simulate(log.slice(0, i + 1)).end
    const stateEvent = to !== state ? [`state:${state}>${to}`] : []
    const closed = to === 'closed' ? ['closed'] : []
    switch (type) {
      case 'socketError': out.push('error'); break
      case 'ping': out.push('ping'); break
      case 'pong': out.push('pong'); break
      case 'readBufferFull': out.push('paused'); break
      case 'readBufferDrained': out.push('resumed'); break
      case 'textReceived': out.push('error', ...stateEvent); break
      case 'peerClose': out.push('closeFrame', ...stateEvent); break
      case 'keepAliveTimeout': out.push('error', ...stateEvent, ...closed); break
      default: out.push(...stateEvent, ...closed)
    }
  })
  return out
}

function describeEvent(event: WsEvent): string {
  return event.type === 'state' ? `state:${event.from}>${event.to}` : event.type
}

function errorName(error: WsStreamError | undefined): string | undefined {
  if (error === undefined) return undefined
  return error.constructor === WsStreamError ? `WsStreamError:${error.code}` : error.name
}

// ---- the graph ----

const adjacency = getAdjacencyMap(machine, traversal) as unknown as Record<string, { state: { value: State; status: string }; transitions: Record<string, { event: { type: string } }> }>
const edges = new Set<string>()
for (const { state, transitions } of Object.values(adjacency)) {
  if (state.status !== 'active') continue
  for (const { event } of Object.values(transitions)) edges.add(`${state.value}:${event.type}`)
}

const simplePaths = getSimplePaths(machine, { ...(traversal as object), toState: (s: { value: unknown }) => s.value === 'closed' } as never)
const plans: Plan[] = simplePaths.map((path) => plan(path.steps.slice(1).map((s) => (s.event as { type: string }).type)))

// Self-loops (events that keep the state) are on no simple path: each gets the gentlest way to its
// state (shortest paths over open/close events only), the event, and the finish.
const gentle = new Set(['socketOpen', 'close', 'peerClose'])
const shortest = getShortestPaths(machine, {
  ...(traversal as object),
  filterEvents: (s: { status: string; can(e: unknown): boolean }, e: { type: string }) => s.status === 'active' && gentle.has(e.type) && s.can(e),
} as never)
const prefix = new Map<State, string[]>()
for (const path of shortest) prefix.set(path.state.value as State, path.steps.slice(1).map((s) => (s.event as { type: string }).type))
const open = prefix.get('open') ?? []
for (const edge of edges) {
  const [state, type] = edge.split(':') as [State, string]
  if (simulateSafe(prefix.get(state) ?? [], type) !== state) continue // not a self-loop
  if (typeof drivers[type]?.in[state] !== 'object') continue // unreachable, checked below
  const to = prefix.get(state) ?? []
  let events: string[]
  if (type === 'readBufferFull') events = [...to, 'readBufferFull', 'readBufferDrained']
  else if (type === 'readBufferDrained') events = [...open, 'readBufferFull', ...to.slice(open.length), 'readBufferDrained']
  else events = [...to, type]
  plans.push(plan(events))
}

function simulateSafe(events: string[], type: string): State | undefined {
  try {
    return simulate([...events, type]).end
  } catch {
    return undefined
  }
}

// ---- the tests ----

t.test('the driver table names exactly the machine\'s events', async (t) => {
  t.same(Object.keys(drivers).sort(), machineEventTypes())
})

t.test('every edge of the machine is driven by a path or said to be unreachable, and no more', async (t) => {
  const covered = new Set<string>()
  for (const p of plans) p.log.forEach((type, i) => covered.add(`${p.states[i]}:${type}`))
  const unreachable = new Set<string>()
  for (const [type, driver] of Object.entries(drivers)) {
    for (const [state, drive] of Object.entries(driver.in)) {
      if (typeof drive === 'string') unreachable.add(`${state}:${type}`)
      else t.ok(edges.has(`${state}:${type}`), `the driver for ${type} in ${state} is for an edge the machine has`)
    }
  }
  const missing = [...edges].filter((e) => !covered.has(e) && !unreachable.has(e))
  t.same(missing, [], 'every edge is on a path or listed as unreachable')
  t.same([...unreachable].filter((e) => !edges.has(e)), [], 'every unreachable entry is an edge of the machine')
  t.same([...covered].filter((e) => unreachable.has(e)), [], 'no path takes an edge said to be unreachable')
  const states = new Set(plans.flatMap((p) => p.states))
  t.same([...states, 'closed'].sort(), Object.keys((machine.toJSON() as { states: object }).states).sort(), 'every state is reached')
  t.ok(plans.length >= simplePaths.length, `${plans.length} paths`)
})

t.test('each generated path, driven over a real socket, ends with the CloseInfo and events the contract says', async (t) => {
  const server = await rawWsServer(t)
  let n = 0
  for (const p of plans) {
    await t.test(p.name, async (t) => {
      const id = `model-${++n}`
      const received: Array<{ state: State; type: string }> = []
      let current: State = 'connecting'
      const inspect = (ev: InspectionEvent): void => {
        if ((ev.actorRef as { id?: string }).id !== id) return
        if (ev.type === '@xstate.event' && ev.event.type in drivers) received.push({ state: current, type: ev.event.type })
        if (ev.type === '@xstate.snapshot') {
          const snapshot = ev.snapshot as { value?: State; status: string }
          if (snapshot.value !== undefined) current = snapshot.value
        }
      }
      const keepAlive = p.log.includes('keepAliveTimeout') ? { interval: 40, timeout: 80 } : false
      const socket = new WebSocket(server.url)
      t.teardown(() => socket.terminate())
      const stream = new WsStream(socket, { id, inspect, keepAlive, readHighWaterMark: HWM, closeTimeout: CLOSE_TIMEOUT })
      t.teardown(() => stream.abort())
      const emitted: WsEvent[] = []
      stream.on('*', (event) => emitted.push(event))
      const peer = await server.next()
      t.teardown(() => peer.socket.destroy())
      const ctx: Ctx = { stream, peer, sent: 0 }
      let mark = 0
      for (const action of p.actions) {
        await driveFor(action.state, action.type).run(ctx, action.next)
        mark += action.produces.length
        await waitFor(() => received.length >= mark, 3000).catch(() => {
          throw new Error(`timed out driving ${action.type} in ${action.state}; the machine took: ${received.map((r) => `${r.state}:${r.type}`).join(', ')}`)
        })
      }
      const info = await Promise.race([
        stream.closed,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('closed did not settle')), 3000)),
      ])
      await waitFor(() => emitted.at(-1)?.type === 'closed', 1000, 'the closed event')
      t.same(received, p.log.map((type, i) => ({ state: p.states[i], type })), 'the machine took exactly the planned events')
      const expected = expectedInfo(p.log, p.states)
      const { error, ...rest } = info
      t.same(rest, expected.info, 'CloseInfo')
      t.equal(errorName(error), expected.error, 'CloseInfo.error')
      t.same(emitted.map(describeEvent), expectedEvents(p.log, p.states), 'the event sequence')
      t.same(emitted.at(-1), { type: 'closed', info }, 'the last event carries the CloseInfo')
      t.equal(stream.state, 'closed', 'the stream says closed')
    })
  }
})
