/**
 * Model-based tests of the connection machine: paths generated from `connectionMachine` with
 * xstate/graph, each driven over a real loopback socket against a hand-written WebSocket server
 * (test/support/raw-server-peer.ts) that can do what a well-behaved peer never would.
 *
 * Coverage is counted against the machine itself: the driver table must name exactly the
 * machine's event types (from `toJSON()`), and every edge of the machine's state graph must be
 * driven by some path or be listed in `unreachable` with the reason it cannot happen over a real
 * ws socket. Adding a state, an event or a transition makes this file fail until it is covered.
 *
 * States are named as strings, substates dotted ('closingReceived.finishing'), by {@link nameOf}.
 *
 * Edges are named by event type, except the peer's Close in `open`, which the machine takes two ways
 * by its `idle` flag (was the application not reading, nothing left unread?): `peerClose` (not idle:
 * to `closingReceived.finishing`) and `peerClose:idle` (to `replySent` at once, the `notReading`
 * branch). Both are samples of the traversal, so both are edges; see {@link labelOf}. The
 * `answersAtOnce` branch needs `peerClose: 'immediate'` or a standard WebSocket, not this model's
 * ws client; ordered-close.test.ts drives it.
 *
 * The machine is traversed in four flavours, each driven over its own kind of connection, because
 * its guards read the transport: `plain` (a WsStream over a ws socket, against the raw peer), `declined`
 * (connect() with `resume` against the raw peer, which offers no resume: `resumeDeclined`), and the two
 * ends of a resumable session through test/support/cut-proxy.ts: `server` (the session waits for its
 * client) and `client` (it backs off and reconnects). A resumable flavour's `keepAliveTimeout` in
 * `open` is labelled `keepAliveTimeout:resumable` (it interrupts instead of closing), and an
 * attempt's error that refuses for good `xstate.error.actor.attempt:refused`. Edges are named
 * without their flavour: one driven path covers an edge in every flavour.
 */
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { initialTransition, transition, type AnyStateMachine, type InspectionEvent } from 'xstate'
import { getAdjacencyMap, getShortestPaths, getSimplePaths } from 'xstate/graph'
import {
  connect, connectionMachine, ResumeRefusedError, WsStream, WsStreamError, WsStreamServer, type CloseInfo, type State, type WsEvent, type WsStreamOptions,
} from '../src/index.js'
import { cutProxy, type CutProxy } from './support/cut-proxy.js'
import { bytes, urlOf, waitFor } from './support/helpers.js'
import { OP, closePayload, encodeFrame, parseClose } from './support/raw-peer.js'
import { rawWsServer, type RawServerPeer } from './support/raw-server-peer.js'

const machine = connectionMachine as unknown as AnyStateMachine
type Flavour = 'plain' | 'declined' | 'server' | 'client'
const flavours: Flavour[] = ['plain', 'declined', 'server', 'client']
const resumable = (flavour: Flavour): boolean => flavour === 'server' || flavour === 'client'
/**
 * The machine as a flavour's transport makes it: the pure traversal runs no actions, so no transport
 * is attached, and the guards that look at it are told what it would be.
 */
const machines = Object.fromEntries(flavours.map((flavour) => [flavour, connectionMachine.provide({
  guards: { resumable: () => resumable(flavour), reconnects: () => flavour === 'client' },
}) as unknown as AnyStateMachine])) as Record<Flavour, AnyStateMachine>
/** A client's backoff: minDelay = maxDelay, with the jitter pinned to its top (see the path test), so every wait is about this. */
const BACKOFF = 200
/** A resumable session's timeout in paths that do not wait for it to run out. */
const RESUME_TIMEOUT_UNUSED = 20_000
const HWM = 1024
/** The close handshake's time in paths that wait for it to run out. */
const CLOSE_TIMEOUT = 300
/** In every other path, a timer that must not fire: moving megabytes on a busy machine takes time. */
const CLOSE_TIMEOUT_UNUSED = 5000
const MiB = 1024 * 1024
const AFTER_SENT = 'xstate.after.closeTimeout.connection.closingSent'
const AFTER_FINISHING = 'xstate.after.closeTimeout.connection.closingReceived.finishing'
const AFTER_FLUSHING = 'xstate.after.closeTimeout.connection.closingReceived.flushing'
const AFTER_REPLY = 'xstate.after.closeTimeout.connection.closingReceived.replySent'
const FINISHING = 'closingReceived.finishing'
const FLUSHING = 'closingReceived.flushing'
const REPLY_SENT = 'closingReceived.replySent'
const WAITING = 'interrupted.waiting'
const BACKOFF_STATE = 'interrupted.backoff'
const RECONNECTING = 'interrupted.reconnecting'
const AFTER_RESUME = 'xstate.after.resumeTimeout.connection.interrupted'
const AFTER_BACKOFF = 'xstate.after.reconnectDelay.connection.interrupted.backoff'
const ATTEMPT_ERROR = 'xstate.error.actor.attempt'
/** A state by name: top-level, or a substate dotted ('closingReceived.finishing'). */
type StateName = string

/** The name of a snapshot's value: 'open', 'closingReceived.finishing'. */
function nameOf(value: unknown): StateName {
  if (typeof value === 'string') return value
  const [[key, child]] = Object.entries(value as Record<string, unknown>) as [[string, unknown]]
  return `${key}.${nameOf(child)}`
}

/** The top-level state of a name, as `stream.state` and the `state` events report it. */
function top(name: StateName): State {
  return name.split('.')[0] as State
}

/** An edge's event name: its type, but `peerClose:idle`, `keepAliveTimeout:resumable` and `…attempt:refused` (see above). */
function labelOf(event: { type: string; idle?: unknown; error?: unknown }, state: StateName, flavour: Flavour): string {
  if (event.type === 'peerClose' && event.idle === true && state === 'open') return 'peerClose:idle'
  if (event.type === 'keepAliveTimeout' && resumable(flavour)) return 'keepAliveTimeout:resumable'
  if (event.type === ATTEMPT_ERROR && event.error instanceof ResumeRefusedError && !event.error.retryable) return `${ATTEMPT_ERROR}:refused`
  return event.type
}

/** The event type of a label. */
function typeOf(label: string): string {
  return label.replace(/:(idle|resumable|refused)$/, '')
}

interface Ctx {
  flavour: Flavour
  stream: WsStream
  /** The raw peer (plain and declined flavours). */
  peer: RawServerPeer
  /** The other end of a resumable session, and the proxy between the two (server and client flavours). */
  peerStream: WsStream
  proxy: CutProxy
  /** Bytes the peer sent as binary data. */
  sent: number
  /** True while the peer does not read its socket, so our writes cannot drain (see {@link holdWrites}). */
  held: boolean
  /** The read buffer is full and the socket paused (it would not see a reset by reading). */
  paused(): boolean
  /** Declined flavour: connect() on its way, and what takes its stream once the drive has it. */
  connecting?: Promise<WsStream>
  adopt(stream: WsStream): void
}
type Run = (ctx: Ctx, next: string | undefined) => Promise<void> | void
interface Drive {
  run: Run
  /** Machine events this drive produces, in order (default: just its own event). */
  produces?: (next: string | undefined) => string[]
}
interface Driver {
  /** An event as the machine takes it (for the graph traversal and the simulation); its key is its label. */
  sample: { type: string; [key: string]: unknown }
  /** How to produce it over a real socket in each state (plain flavour), or why it cannot happen there (any flavour). */
  in: Partial<Record<StateName, Drive | string>>
  /** The declined flavour's drives, where they differ from the plain one's. */
  declined?: Partial<Record<StateName, Drive>>
  /** The resumable flavours' drives (server and client). */
  session?: Partial<Record<StateName, Drive>>
  /** The flavours whose transport produces this event (default: every flavour). */
  flavours?: Flavour[]
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
/**
 * Keeps the write queue from emptying: the peer stops reading, and the stream writes more than the
 * kernel buffers of a loopback connection hold (about 4 MiB of send buffer plus the peer's receive
 * window), so `flushing` lasts until a later step resumes the peer or ends the connection.
 */
function holdWrites(ctx: Ctx): void {
  ctx.peer.socket.pause()
  ctx.held = true
  // Rejected when the connection ends first (a timeout, an abort): that is the point of the hold.
  for (let i = 0; i < 8; i++) ctx.stream.write(new Uint8Array(MiB)).catch(() => {})
}
function releasePeer(ctx: Ctx): void {
  if (!ctx.held) return
  ctx.held = false
  ctx.peer.socket.resume()
}
/** The peer reads our answer to its Close (4001 'bye'), which must echo it, then ends TCP. */
const peerReadsEchoAndEnds: Drive = {
  run: async (ctx) => {
    releasePeer(ctx)
    const ours = parseClose(await ctx.peer.frame(OP.close))
    if (ours.code !== 4001 || ours.reason !== 'bye') throw new Error(`our answer is ${ours.code} '${ours.reason}', not the peer's 4001 'bye'`)
    ctx.peer.socket.end()
  },
}
const closeWithoutCode: Drive = { run: ({ stream }) => void stream.close() }
/** The peer ends TCP (a FIN, no Close frame of its own unless an earlier step sent one). */
const peerEndsTcp: Drive = {
  run: ({ peer }) => {
    peer.socket.end()
  },
}

// ---- resumable sessions: the network between the two ends is the cut proxy ----

const noSocket = 'an interrupted session has no socket: nothing arrives and nothing fails until it resumes'
const byItself: Drive = { run: () => {} }
/**
 * The network goes: every connection through the proxy is reset. A server's peer then finds it down
 * (its attempts fail at once); a client's attempts are held until a later step says how they end.
 * A paused socket reads nothing, so it would not see the reset: a ping makes it write.
 */
const cutNetwork: Drive = {
  run: (ctx) => {
    if (ctx.flavour === 'client') ctx.proxy.hold = true
    else ctx.proxy.down = true
    ctx.proxy.cut()
    if (ctx.paused()) ctx.stream.ping().catch(() => {})
  },
}
/** The network stops passing anything without closing a connection: keepAlive (on in these paths) notices. */
const stallNetwork: Drive = {
  run: (ctx) => {
    if (ctx.flavour === 'client') ctx.proxy.hold = true
    else ctx.proxy.down = true
    ctx.proxy.stall()
  },
}
const peerWrites: Drive = { run: (ctx) => void ctx.peerStream.write(bigChunk(ctx)).catch(() => {}) }
/** A reset of what the stall left behind, and the network is back: the server's peer reconnects. */
const networkBack: Drive = {
  run: ({ proxy }) => {
    proxy.down = false
    proxy.cut()
  },
}

/** Every event type of the machine (by label, see {@link labelOf}), each with a sample and its drivers. */
const drivers: Record<string, Driver> = {
  socketOpen: {
    sample: { type: 'socketOpen' },
    in: { connecting: { run: ({ peer }) => peer.upgrade() } },
    declined: {
      // connect() resolves with the stream open; a close in the same turn comes before resumeDeclined.
      connecting: {
        run: async (ctx, next) => {
          ctx.peer.upgrade()
          const stream = await ctx.connecting!
          ctx.adopt(stream)
          if (next === 'close') void stream.close(4000, 'model')
        },
        produces: (next) => (next === 'close' ? ['socketOpen', 'close'] : ['socketOpen']),
      },
    },
    // The session's socket is open before the stream exists (its handshake is done).
    session: { connecting: byItself },
  },
  socketClosed: {
    sample: { type: 'socketClosed', code: 1006, reason: '', wasClean: false },
    in: {
      // A dropped upgrade is an error ("socket hang up") and then the close.
      connecting: { run: ({ peer }) => { peer.socket.destroy() }, produces: () => ['socketError', 'socketClosed'] },
      open: peerEndsTcp,
      closingSent: peerEndsTcp,
      // The peer's Close, then its FIN before our answer: closed, not clean.
      [FINISHING]: peerEndsTcp,
      // Held (the peer does not read): it drops the connection with our bytes unread, a reset ws swallows.
      [FLUSHING]: { run: ({ peer }) => { peer.socket.destroy() } },
      [REPLY_SENT]: peerReadsEchoAndEnds,
    },
    // The peer answered our Close; its side closes the TCP connection.
    session: { closingSent: byItself },
  },
  socketError: {
    sample: { type: 'socketError', error: new WsStreamError('sample') },
    in: {
      connecting: { run: ({ peer }) => peer.refuse(403), produces: () => ['socketError', 'socketClosed'] },
      open: wsSwallowsErrors,
      // A masked frame from a server breaks the protocol; after our Close, ws only reports it.
      closingSent: { run: ({ peer }) => peer.send(OP.binary, Buffer.from('masked'), { mask: true }) },
      [FINISHING]: wsSwallowsErrors,
      [FLUSHING]: wsSwallowsErrors,
      [REPLY_SENT]: wsSwallowsErrors,
      [WAITING]: noSocket,
      [BACKOFF_STATE]: noSocket,
      [RECONNECTING]: 'an attempt\'s socket is not the session\'s until it resumed: its failures are the attempt\'s error',
    },
  },
  ping: {
    sample: { type: 'ping', data: new Uint8Array(0) },
    in: { connecting: noFrames, open: sendPing, closingSent: sendPing, [FINISHING]: afterPeerClose, [FLUSHING]: afterPeerClose, [REPLY_SENT]: afterPeerClose, [WAITING]: noSocket, [BACKOFF_STATE]: noSocket, [RECONNECTING]: noSocket },
  },
  pong: {
    sample: { type: 'pong', data: new Uint8Array(0) },
    in: { connecting: noFrames, open: sendPong, closingSent: sendPong, [FINISHING]: afterPeerClose, [FLUSHING]: afterPeerClose, [REPLY_SENT]: afterPeerClose, [WAITING]: noSocket, [BACKOFF_STATE]: noSocket, [RECONNECTING]: noSocket },
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
      [FINISHING]: afterPeerClose,
      [FLUSHING]: afterPeerClose,
      [REPLY_SENT]: afterPeerClose,
      [WAITING]: noSocket,
      [BACKOFF_STATE]: noSocket,
      [RECONNECTING]: noSocket,
    },
    session: { open: peerWrites },
  },
  readBufferDrained: {
    sample: { type: 'readBufferDrained' },
    in: {
      connecting: noFrames,
      open: drainReads,
      closingSent: drainReads,
      // Paused by data that came in the TCP write of the peer's Close (see readBufferFull in open): not idle.
      [FINISHING]: drainReads,
      [FLUSHING]: 'the end of input is taken only after every buffered byte was read, and the read that empties a paused buffer resumes the socket first (readBufferDrained in finishing)',
      // Paused data still unread when close() answered: reads still return it.
      [REPLY_SENT]: drainReads,
    },
    // What arrived before the interruption is still read while it lasts.
    session: { open: drainReads, [WAITING]: drainReads, [BACKOFF_STATE]: drainReads, [RECONNECTING]: drainReads },
  },
  keepAliveTimeout: {
    sample: { type: 'keepAliveTimeout' },
    in: { open: waitForTimer }, // the peer never answers pings; keepAlive is on for these paths
  },
  // A resumable session whose peer went silent: keepAlive drops that socket, the session waits or reconnects.
  'keepAliveTimeout:resumable': {
    sample: { type: 'keepAliveTimeout' },
    in: {},
    session: { open: stallNetwork },
    flavours: ['server', 'client'],
  },
  close: {
    sample: { type: 'close', code: 4000, reason: 'model' },
    in: {
      connecting: { run: ({ stream }) => void stream.close(4000, 'model') },
      open: { run: ({ stream }) => void stream.close(4000, 'model') },
      // Our answer to the peer's Close: without a code it echoes the peer's.
      [FINISHING]: closeWithoutCode,
      [FLUSHING]: closeWithoutCode,
    },
    // While interrupted: the session ends as a reset (no Close can go).
    session: { open: { run: ({ stream }) => void stream.close(4000, 'model') }, [WAITING]: closeWithoutCode, [BACKOFF_STATE]: closeWithoutCode, [RECONNECTING]: closeWithoutCode },
  },
  inputTaken: {
    sample: { type: 'inputTaken' },
    in: {
      [FINISHING]: {
        // Reads to the end (the unread byte, then null). With nothing written, our answer follows by
        // itself (writesFlushed); to stay in flushing for another step, the writes are held first.
        run: async (ctx, next) => {
          if (holdsFlushing(next)) holdWrites(ctx)
          while ((await ctx.stream.read()) !== null);
        },
        produces: (next) => (holdsFlushing(next) ? ['inputTaken'] : ['inputTaken', 'writesFlushed']),
      },
    },
  },
  writesFlushed: {
    sample: { type: 'writesFlushed' },
    // Comes by itself once the queue empties: the peer reads again if it was held.
    in: { [FLUSHING]: { run: releasePeer } },
  },
  abort: {
    sample: { type: 'abort', reason: 'model' },
    in: { connecting: abort, open: abort, closingSent: abort, [FINISHING]: abort, [FLUSHING]: abort, [REPLY_SENT]: abort },
    session: { [WAITING]: abort, [BACKOFF_STATE]: abort, [RECONNECTING]: abort },
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
    sample: { type: 'peerClose', code: 4001, reason: 'bye', idle: false },
    in: {
      // One byte the application has not read comes in the Close's TCP write: not idle.
      open: { run: ({ peer }) => peer.write(Buffer.concat([encodeFrame(OP.binary, Buffer.from([0x2a]), { mask: false }), closeFrame(4001, 'bye')])) },
      closingSent: {
        // The echo of whatever Close we sent.
        run: async ({ peer }) => {
          const ours = parseClose(await peer.frame(OP.close))
          peer.write(closeFrame(ours.code, ours.reason))
        },
      },
    },
    // The other end is a WsStream that is not reading: it answers at once.
    session: { closingSent: byItself },
  },
  // The application had nothing left to read and was not reading: our answer goes at once.
  'peerClose:idle': {
    sample: { type: 'peerClose', code: 4001, reason: 'bye', idle: true },
    in: { open: { run: ({ peer }) => peer.write(closeFrame(4001, 'bye')) } },
  },
  [AFTER_SENT]: { sample: { type: AFTER_SENT }, in: { closingSent: waitForTimer } },
  // The application neither takes the end of input nor closes.
  [AFTER_FINISHING]: { sample: { type: AFTER_FINISHING }, in: { [FINISHING]: waitForTimer } },
  // Held: the writes cannot drain (see inputTaken).
  [AFTER_FLUSHING]: { sample: { type: AFTER_FLUSHING }, in: { [FLUSHING]: waitForTimer } },
  // The peer holds TCP half-open after the handshake; it must not see our FIN either.
  [AFTER_REPLY]: { sample: { type: AFTER_REPLY }, in: { [REPLY_SENT]: waitForTimer } },

  transportLost: {
    sample: { type: 'transportLost', error: new WsStreamError('sample') },
    in: {},
    session: { open: cutNetwork },
    flavours: ['server', 'client'],
  },
  legResumed: {
    sample: { type: 'legResumed' },
    in: { [BACKOFF_STATE]: 'a session resumes only inside an attempt, which runs in reconnecting; leaving reconnecting aborts it' },
    session: {
      // The server's peer reconnects by itself once the network is back.
      [WAITING]: networkBack,
      // The held attempt goes through.
      [RECONNECTING]: {
        run: ({ proxy }) => {
          proxy.hold = false
          proxy.release()
        },
      },
    },
    flavours: ['server', 'client'],
  },
  // The session's time runs out (short in these paths: see resumeTimeoutOf).
  [AFTER_RESUME]: {
    sample: { type: AFTER_RESUME },
    in: {},
    session: { [WAITING]: waitForTimer, [BACKOFF_STATE]: waitForTimer, [RECONNECTING]: waitForTimer },
    flavours: ['server', 'client'],
  },
  [AFTER_BACKOFF]: {
    sample: { type: AFTER_BACKOFF },
    in: {},
    session: {
      // The next attempt is held until a later step says how it ends; what a stall left behind is reset.
      [BACKOFF_STATE]: {
        run: ({ proxy }) => {
          proxy.down = false
          proxy.hold = true
          proxy.cut()
        },
      },
    },
    flavours: ['client'],
  },
  // An attempt that failed and may be tried again: the network resets its connection.
  [ATTEMPT_ERROR]: {
    sample: { type: ATTEMPT_ERROR, error: new WsStreamError('sample') },
    in: {},
    session: {
      [RECONNECTING]: {
        run: ({ proxy }) => {
          proxy.down = true
          proxy.cut()
        },
      },
    },
    flavours: ['client'],
  },
  // The server ended the session (its end was aborted while interrupted): the held attempt finds it unknown.
  [`${ATTEMPT_ERROR}:refused`]: {
    sample: { type: ATTEMPT_ERROR, error: new ResumeRefusedError('sample', 4404) },
    in: {},
    session: {
      [RECONNECTING]: {
        run: async ({ peerStream, proxy }) => {
          peerStream.abort('model')
          await peerStream.closed
          proxy.hold = false
          proxy.release()
        },
      },
    },
    flavours: ['client'],
  },
  resumeDeclined: {
    sample: { type: 'resumeDeclined' },
    in: {
      connecting: 'connect() hands the stream over open and sends resumeDeclined a turn later',
      [FINISHING]: 'only if the peer\'s Close were read within the turn connect() resolved in; not driven here',
      [FLUSHING]: 'the end of input would have to be taken within the turn connect() resolved in',
      [REPLY_SENT]: 'only if the peer\'s Close were read within the turn connect() resolved in; not driven here',
    },
    // A turn after connect() resolved; in closingSent when the application closed within that turn.
    declined: { open: byItself, closingSent: byItself },
    flavours: ['declined'],
  },
}

/** Whether the step after taking the end of input needs `flushing` to last (anything but writesFlushed). */
function holdsFlushing(next: string | undefined): boolean {
  return next !== undefined && next !== 'writesFlushed'
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

/** The machine's leaf states, by name ('closingReceived.finishing'). */
function leafStates(): StateName[] {
  const out: StateName[] = []
  const walk = (node: { states?: Record<string, unknown> }, path: string): void => {
    const children = Object.entries(node.states ?? {})
    if (children.length === 0 && path !== '') out.push(path)
    for (const [key, child] of children) walk(child as typeof node, path === '' ? key : `${path}.${key}`)
  }
  walk(machine.toJSON() as Parameters<typeof walk>[0], '')
  return out
}

/** The events a flavour's transport produces, as samples. */
function samplesOf(flavour: Flavour): Array<{ type: string }> {
  return Object.values(drivers).filter((d) => (d.flavours ?? flavours).includes(flavour)).map((d) => d.sample)
}
function traversalOf(flavour: Flavour): object {
  return {
    input: { socket: {} },
    serializeState: (snapshot: { value: unknown }) => nameOf(snapshot.value),
    events: () => samplesOf(flavour),
    // A final machine takes no more events; an unhandled event is no edge.
    filterEvents: (snapshot: { status: string; can(e: unknown): boolean }, event: unknown) =>
      snapshot.status === 'active' && snapshot.can(event),
  }
}

function sampleOf(label: string): { type: string } {
  return drivers[label]!.sample
}

/** Runs `log` through the flavour's machine: each event must be taken; returns the state before each. */
function simulate(log: string[], flavour: Flavour = 'plain'): { before: StateName[]; end: StateName } {
  const machine = machines[flavour]
  let [snapshot] = initialTransition(machine, { socket: {} })
  const before: StateName[] = []
  for (const type of log) {
    const state = nameOf(snapshot.value)
    if (snapshot.status !== 'active' || !snapshot.can(sampleOf(type))) {
      throw new Error(`the machine does not take ${type} in ${state} (log: ${log.join(', ')})`)
    }
    before.push(state)
    ;[snapshot] = transition(machine, snapshot, sampleOf(type))
  }
  return { before, end: nameOf(snapshot.value) }
}

interface Action { state: StateName; type: string; next: string | undefined; produces: string[] }
interface Plan { name: string; flavour: Flavour; actions: Action[]; log: string[]; states: StateName[] }

/** The flavour's drive of `type` in `state`, or why there is none. */
function driveOrReason(state: StateName, type: string, flavour: Flavour): Drive | string | undefined {
  const driver = drivers[type]
  const own = flavour === 'declined' ? driver?.declined?.[state] : resumable(flavour) ? driver?.session?.[state] : undefined
  if (own !== undefined) return own
  const plain = driver?.in[state]
  return resumable(flavour) && typeof plain === 'object' ? undefined : plain
}

function driveFor(state: StateName, type: string, flavour: Flavour): Drive {
  const drive = driveOrReason(state, type, flavour)
  if (drive === undefined || typeof drive === 'string') {
    throw new Error(`no way to drive ${type} in ${state} (${flavour}): ${drive ?? 'no driver'}`)
  }
  return drive
}

/** Turns a path of events into drive actions, adds what the drives force, and finishes it to `closed`. */
function plan(events: string[], flavour: Flavour): Plan {
  const actions: Action[] = []
  const log: string[] = []
  let ahead: string[] = []
  const add = (type: string, next: string | undefined): void => {
    if (ahead[0] === type) {
      ahead.shift()
      return
    }
    ahead = []
    const state = simulate(log, flavour).end
    const produces = driveFor(state, type, flavour).produces?.(next) ?? [type]
    actions.push({ state, type, next, produces })
    log.push(...produces)
    ahead = produces.slice(produces.indexOf(type) + 1)
  }
  events.forEach((type, i) => add(type, events[i + 1]))
  // Finish: a paused socket resumes first, then the gentlest way to `closed` from where we are.
  for (let guard = 0; guard < 6; guard++) {
    const end = simulate(log, flavour).end
    if (end === 'closed') break
    const paused = log.lastIndexOf('readBufferFull') > log.lastIndexOf('readBufferDrained')
    const receiverBroken = log.includes('protocolClose') || (log.includes('socketError') && end === 'closingSent')
    const next =
      paused && end !== 'connecting' ? 'readBufferDrained'
      : end === 'connecting' ? 'socketOpen'
      : end === 'open' ? 'close'
      : end === 'closingSent' && !receiverBroken && !log.includes('peerClose') ? 'peerClose'
      : end === FINISHING ? 'close'
      : end === FLUSHING ? 'writesFlushed'
      : top(end) === 'interrupted' ? 'close' // a reset: the session ends
      : 'socketClosed' // closingSent; replySent (the peer reads our answer first)
    add(next, undefined)
  }
  const { before, end } = simulate(log, flavour)
  if (end !== 'closed') throw new Error(`plan does not reach closed: ${log.join(', ')}`)
  const short = (label: string): string => label
    .replace('xstate.after.closeTimeout.connection.', 'closeTimeout@')
    .replace(AFTER_RESUME, 'resumeTimeout')
    .replace(AFTER_BACKOFF, 'reconnectDelay')
    .replace(ATTEMPT_ERROR, 'attemptError')
  const name = `${flavour}: ` + log.map((label, i) => `${before[i]} -${short(label)}->`).join(' ') + ' closed'
  return { name, flavour, actions, log, states: before }
}

// ---- the expected outcome, from the contract in docs/architecture.md and the guides (not from the machine) ----

const TEXT_REASON = 'Text messages are not supported.'

function expectedInfo(log: string[], states: StateName[], flavour: Flavour): { info: Omit<CloseInfo, 'error'>; error: string | undefined } {
  let initiator: CloseInfo['initiator'] = 'none'
  let peer: { code: number; reason: string } | undefined
  let errorClose: { code: number; reason: string } | undefined
  let sentClose: { code: number; reason: string } | undefined
  /** Our answer to the peer's Close went: the application closed, or took the end with its writes flushed. */
  let answered = false
  let error: string | undefined
  const fail = (name: string): void => { error ??= name }
  log.forEach((label, i) => {
    const state = states[i]!
    const type = typeOf(label)
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
    // Our answer goes at once to an application that was not reading (peerClose:idle), when it closes,
    // or when it took the end of input and its writes are flushed.
    if (label === 'peerClose:idle' || (top(state) === 'closingReceived' && (type === 'close' || type === 'writesFlushed'))) answered = true
    if (type === 'socketError') fail(state === 'connecting' ? 'HandshakeError' : 'ProtocolError')
    // A socket that closed before the peer's Close frame was a reset: no close handshake happened.
    if (type === 'socketClosed' && state !== 'connecting' && !log.some((l) => typeOf(l) === 'peerClose')) fail('ConnectionResetError')
    // Any closing state's closeTimeout, closingReceived's substates included.
    if (label === 'keepAliveTimeout' || type.startsWith('xstate.after.closeTimeout')) fail('TimeoutError')
    if (type === 'abort') fail('AbortedError')
    // An interrupted session that ends without resuming (closed, timed out, refused) is a reset, both ways.
    if (top(state) === 'interrupted' && (type === 'close' || type === AFTER_RESUME || label === `${ATTEMPT_ERROR}:refused`)) fail('ConnectionResetError')
  })
  const named = peer ?? errorClose
  const last = log[log.length - 1]!
  return {
    info: {
      code: named?.code ?? 1006,
      reason: named?.reason ?? '',
      // Close frames both ways (ours before the peer's, or our answer to it), then the socket closed.
      wasClean: last === 'socketClosed' && log.some((l) => typeOf(l) === 'peerClose') && (sentClose !== undefined || answered),
      initiator,
    },
    error,
  }
}

function expectedEvents(log: string[], states: StateName[], flavour: Flavour): string[] {
  const out: string[] = []
  log.forEach((label, i) => {
    const type = typeOf(label)
    // Only top-level changes are reported: finishing -> flushing -> replySent emit nothing.
    const state = top(states[i]!)
    const to = top(simulate(log.slice(0, i + 1), flavour).end)
    const stateEvent = to !== state ? [`state:${state}>${to}`] : []
    const closed = to === 'closed' ? ['closed'] : []
    if (label === 'keepAliveTimeout:resumable' || type === 'transportLost') return void out.push('interrupted', ...stateEvent)
    switch (type) {
      case 'socketError': out.push('error'); break
      case 'ping': out.push('ping'); break
      case 'pong': out.push('pong'); break
      case 'readBufferFull': out.push('paused'); break
      case 'readBufferDrained': out.push('resumed'); break
      case 'textReceived': out.push('error', ...stateEvent); break
      case 'peerClose': out.push('closeFrame', ...stateEvent); break
      case 'keepAliveTimeout': out.push('error', ...stateEvent, ...closed); break
      case 'legResumed': out.push('sessionResumed', ...stateEvent); break
      case AFTER_BACKOFF: out.push('reconnecting'); break
      case 'resumeDeclined': out.push('resumeUnavailable'); break
      default: out.push(...stateEvent, ...closed)
    }
  })
  // A stream handed over open (by connect() or the server) is open before anyone can listen.
  return flavour === 'plain' ? out : out.slice(1)
}

function describeEvent(event: WsEvent): string {
  return event.type === 'state' ? `state:${event.from}>${event.to}` : event.type
}

function errorName(error: WsStreamError | undefined): string | undefined {
  if (error === undefined) return undefined
  return error.constructor === WsStreamError ? `WsStreamError:${error.code}` : error.name
}

// ---- the graph ----

type Adjacency = Record<string, { state: { value: unknown; status: string }; transitions: Record<string, { event: { type: string } }> }>
/** Each flavour's edges, as `state:label`. */
const edgesOf = {} as Record<Flavour, Set<string>>
for (const flavour of flavours) {
  const adjacency = getAdjacencyMap(machines[flavour], traversalOf(flavour) as never) as unknown as Adjacency
  const set = edgesOf[flavour] = new Set<string>()
  for (const { state, transitions } of Object.values(adjacency)) {
    if (state.status !== 'active') continue
    for (const { event } of Object.values(transitions)) set.add(`${nameOf(state.value)}:${labelOf(event, nameOf(state.value), flavour)}`)
  }
}
const edges = new Set(flavours.flatMap((flavour) => [...edgesOf[flavour]]))

type Path = { steps: Array<{ state: { value: unknown }; event: unknown }> }
/** The labels of a path's events, from the state each is taken in. */
function labelsOf(path: Path, flavour: Flavour): string[] {
  return path.steps.slice(1).map((step, i) => labelOf(step.event as { type: string }, nameOf(path.steps[i]!.state.value), flavour))
}
/**
 * The simple paths each flavour adds: all of the plain one's; the declined one's with resumeDeclined
 * (a self-loop, so none: see below); the resumable ones' through `interrupted`.
 */
const adds: Record<Flavour, (labels: string[]) => boolean> = {
  plain: () => true,
  declined: (labels) => labels.includes('resumeDeclined'),
  server: (labels) => labels.includes('transportLost') || labels.includes('keepAliveTimeout:resumable'),
  client: (labels) => labels.includes('transportLost') || labels.includes('keepAliveTimeout:resumable'),
}
const plans: Plan[] = []
let simplePathCount = 0
for (const flavour of flavours) {
  const paths = getSimplePaths(machines[flavour], { ...traversalOf(flavour), toState: (s: { value: unknown }) => s.value === 'closed' } as never) as unknown as Path[]
  for (const path of paths) {
    const labels = labelsOf(path, flavour)
    if (!adds[flavour](labels)) continue
    simplePathCount++
    plans.push(plan(labels, flavour))
  }
}

// Edges on no simple path (self-loops, and the way back from `interrupted` to `open`): each gets the
// gentlest way to its state (shortest paths over open/close/interrupt events only), the event, and
// the finish. (Not peerClose:idle: the readBufferDrained paths need the peer's Close to come with unread data.)
const gentle = new Set(['socketOpen', 'close', 'peerClose', 'inputTaken', 'transportLost', AFTER_BACKOFF])
const covered = (): Set<string> => new Set(plans.flatMap((p) => p.log.map((label, i) => `${p.states[i]}:${label}`)))
for (const flavour of flavours) {
  const shortest = getShortestPaths(machines[flavour], {
    ...traversalOf(flavour),
    filterEvents: (s: { value: unknown; status: string; can(e: unknown): boolean }, e: { type: string }) =>
      s.status === 'active' && gentle.has(labelOf(e, nameOf(s.value), flavour)) && s.can(e),
  } as never) as unknown as Array<Path & { state: { value: unknown } }>
  const prefix = new Map<StateName, string[]>()
  for (const path of shortest) prefix.set(nameOf(path.state.value), labelsOf(path, flavour))
  const open = prefix.get('open') ?? []
  const done = covered()
  for (const edge of edgesOf[flavour]) {
    if (done.has(edge)) continue
    const [state, type] = [edge.slice(0, edge.indexOf(':')), edge.slice(edge.indexOf(':') + 1)] as [StateName, string]
    if (typeof driveOrReason(state, type, flavour) !== 'object') continue // unreachable, checked below
    const to = prefix.get(state) ?? []
    let events: string[]
    if (type === 'readBufferFull') events = [...to, 'readBufferFull', 'readBufferDrained']
    else if (type === 'readBufferDrained') events = [...open, 'readBufferFull', ...to.slice(open.length), 'readBufferDrained']
    else events = [...to, type]
    plans.push(plan(events, flavour))
  }
}

/** The session's timeout for a path: short enough to run out in the state the path waits for it in. */
function resumeTimeoutOf(p: Plan): number {
  const i = p.log.indexOf(AFTER_RESUME)
  if (i < 0) return RESUME_TIMEOUT_UNUSED
  // A client's backoff lasts BACKOFF; its attempt is held from then on.
  return p.states[i] === BACKOFF_STATE ? BACKOFF / 2 : p.states[i] === RECONNECTING ? BACKOFF + 300 : 300
}

// ---- the tests ----

t.test('the driver table names exactly the machine\'s events', async (t) => {
  t.same([...new Set(Object.values(drivers).map((d) => d.sample.type))].sort(), machineEventTypes())
  t.same(Object.keys(drivers).filter((label) => drivers[label]!.sample.type !== typeOf(label)), [], 'each label names its sample\'s type')
})

t.test('every edge of the machine is driven by a path or said to be unreachable, and no more', async (t) => {
  const driven = new Set<string>()
  for (const p of plans) p.log.forEach((type, i) => driven.add(`${p.states[i]}:${type}`))
  const unreachable = new Set<string>()
  for (const [type, driver] of Object.entries(drivers)) {
    for (const [state, drive] of Object.entries(driver.in)) {
      if (typeof drive === 'string') unreachable.add(`${state}:${type}`)
      else t.ok(edges.has(`${state}:${type}`), `the driver for ${type} in ${state} is for an edge the machine has`)
    }
    for (const [state] of [...Object.entries(driver.declined ?? {}), ...Object.entries(driver.session ?? {})]) {
      t.ok(edges.has(`${state}:${type}`), `the driver for ${type} in ${state} is for an edge the machine has`)
    }
  }
  const missing = [...edges].filter((e) => !driven.has(e) && !unreachable.has(e))
  t.same(missing, [], 'every edge is on a path or listed as unreachable')
  t.same([...unreachable].filter((e) => !edges.has(e)), [], 'every unreachable entry is an edge of the machine')
  t.same([...driven].filter((e) => unreachable.has(e)), [], 'no path takes an edge said to be unreachable')
  // Against every leaf state node (substates dotted): each is the state before some driven event.
  const states = new Set(plans.flatMap((p) => p.states))
  t.same([...states, 'closed'].sort(), leafStates().sort(), 'every state is reached')
  t.ok(plans.length >= simplePathCount, `${plans.length} paths`)
})

/** A resumable pair through the cut proxy; `ours` says which end is the stream under test. */
async function sessionPair(t: Test, p: Plan, ours: WsStreamOptions) {
  const timeout = resumeTimeoutOf(p)
  let accepted!: (stream: WsStream) => void
  const serverSide = new Promise<WsStream>((resolve) => { accepted = resolve })
  const isServer = p.flavour === 'server'
  const server = new WsStreamServer({
    port: 0,
    host: '127.0.0.1',
    resume: { timeout: isServer ? timeout : RESUME_TIMEOUT_UNUSED },
    stream: isServer ? { ...ours, id: undefined, inspect: undefined } : { keepAlive: false },
    ...(isServer ? { inspect: ours.inspect } : {}),
    handler: (stream) => accepted(stream),
  })
  await server.listening
  const proxy = await cutProxy((server.address() as AddressInfo).port)
  t.teardown(async () => {
    await proxy.close()
    await server.close({ timeout: 100 })
  })
  const backoff = { minDelay: BACKOFF, maxDelay: BACKOFF }
  const client = await connect(proxy.url, {
    resume: { timeout: isServer ? RESUME_TIMEOUT_UNUSED : timeout, ...backoff },
    stream: isServer ? { keepAlive: false } : ours,
  })
  const other = await serverSide
  t.teardown(() => { client.abort(); other.abort() })
  return isServer ? { stream: other, peerStream: client, proxy } : { stream: client, peerStream: other, proxy }
}

t.test('each generated path, driven over a real socket, ends with the CloseInfo and events the contract says', async (t) => {
  const server = await rawWsServer(t)
  let n = 0
  for (const p of plans) {
    await t.test(p.name, async (t) => {
      // The server names its connections c1, c2, …: this test's server has one.
      const id = p.flavour === 'server' ? 'c1' : `model-${++n}`
      const received: Array<{ state: StateName; type: string }> = []
      let current: StateName = 'connecting'
      const inspect = (ev: InspectionEvent): void => {
        if ((ev.actorRef as { id?: string }).id !== id) return
        if (ev.type === '@xstate.event' && ev.event.type in drivers) received.push({ state: current, type: labelOf(ev.event, current, p.flavour) })
        if (ev.type === '@xstate.snapshot') {
          const snapshot = ev.snapshot as { value?: unknown; status: string }
          if (snapshot.value !== undefined) current = nameOf(snapshot.value)
        }
      }
      const keepAlive = p.log.some((label) => typeOf(label) === 'keepAliveTimeout') ? { interval: 40, timeout: 80 } : false
      const closeTimeout = p.log.some((type) => type.startsWith('xstate.after.closeTimeout')) ? CLOSE_TIMEOUT : CLOSE_TIMEOUT_UNUSED
      const options: WsStreamOptions = { id, inspect, keepAlive, readHighWaterMark: HWM, closeTimeout }
      const emitted: WsEvent[] = []
      const ctx = { flavour: p.flavour, sent: 0, held: false } as Ctx
      ctx.paused = () => received.findLastIndex((r) => r.type === 'readBufferFull') > received.findLastIndex((r) => r.type === 'readBufferDrained')
      ctx.adopt = (stream) => {
        ctx.stream = stream
        t.teardown(() => stream.abort())
        stream.on('*', (event) => emitted.push(event))
      }
      if (p.flavour === 'plain') {
        const socket = new WebSocket(server.url)
        t.teardown(() => socket.terminate())
        ctx.adopt(new WsStream(socket, options))
      } else if (p.flavour === 'declined') {
        // Caught here, rethrown where the drive awaits it.
        ctx.connecting = connect(server.url, { resume: { timeout: RESUME_TIMEOUT_UNUSED }, stream: options })
        ctx.connecting.catch(() => {})
      } else {
        if (p.flavour === 'client') {
          // The backoff's jitter pinned to its top: every wait is BACKOFF, so a step lands inside it.
          const random = Math.random
          Math.random = () => 0.999
          t.teardown(() => { Math.random = random })
        }
        const pair = await sessionPair(t, p, options)
        Object.assign(ctx, pair)
        ctx.adopt(pair.stream)
      }
      if (!resumable(p.flavour)) {
        ctx.peer = await server.next()
        t.teardown(() => ctx.peer.socket.destroy())
      }
      let mark = 0
      for (const action of p.actions) {
        await driveFor(action.state, action.type, p.flavour).run(ctx, action.next)
        mark += action.produces.length
        await waitFor(() => received.length >= mark, 3000).catch(() => {
          throw new Error(`timed out driving ${action.type} in ${action.state}; the machine took: ${received.map((r) => `${r.state}:${r.type}`).join(', ')}`)
        })
      }
      const { stream } = ctx
      const info = await Promise.race([
        stream.closed,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('closed did not settle')), 3000)),
      ])
      await waitFor(() => emitted.at(-1)?.type === 'closed', 1000, 'the closed event')
      t.same(received, p.log.map((type, i) => ({ state: p.states[i], type })), 'the machine took exactly the planned events')
      const expected = expectedInfo(p.log, p.states, p.flavour)
      const { error, ...rest } = info
      t.same(rest, expected.info, 'CloseInfo')
      t.equal(errorName(error), expected.error, 'CloseInfo.error')
      t.same(emitted.map(describeEvent), expectedEvents(p.log, p.states, p.flavour), 'the event sequence')
      t.same(emitted.at(-1), { type: 'closed', info }, 'the last event carries the CloseInfo')
      t.equal(stream.state, 'closed', 'the stream says closed')
      releasePeer(ctx)
    })
  }
})
