/**
 * The server machine: a connection manager with one connection actor per accepted socket.
 *
 * ```
 * listening ──drain──▶ draining.closing ──drainTimeout──▶ draining.terminating ──abortGrace──▶ stopped
 *     │                     │  every child sent Close 1001      every child sent abort         ▲
 *     │                     └──────────────── noConnections ────────────────┴──────────────────┘
 *     └──listenFailed──▶ failed   (the port could not be bound; the error is in context.error)
 * ```
 *
 * Pure: no socket library is imported here and nothing touches I/O. Each accepted socket becomes
 * a child actor of the `connection` logic (the pure connection machine here; the package's
 * `serverMachine` provides the ws-ready one), with the connection id as the child's id. A child
 * that reaches its final state (its output is a {@link CloseInfo}) is forgotten.
 *
 * The children are the server actor's by parentage (their `xstate.done.actor.*` events come here,
 * they live in its actor system, inspectors see them) and are listed in `context.connections`, not
 * in `snapshot.children`: XState copies that record on every spawn and every stop, which made
 * accepting the n-th connection cost O(n) (two thirds of a server's CPU while 6,000 clients
 * connected). When the server actor stops, every connection still running is aborted.
 * The upgrade path asks {@link canAccept} before it completes a WebSocket handshake, so
 * `maxConnections` is enforced at the HTTP upgrade rather than after it.
 *
 * @module
 */
import { assertEvent, assign, createActor, enqueueActions, setup, type ActorRefFrom, type AnyActorRef, type SnapshotFrom } from 'xstate'
import { pureConnectionMachine as connectionMachine, type CloseInfo, type ConnectionInput, type State } from './connection.js'

/** The drain's outcome: `server.close()`'s value and the `stopped` state's output. */
export interface DrainReport {
  /** Connections that finished the close handshake cleanly after the drain began. */
  closedCleanly: number
  /** Connections that did not: terminated at the drain timeout, or ended without a clean handshake. */
  terminated: number
}

/** Options of a drain. */
export interface DrainOptions {
  /** Milliseconds the connections have to finish the close handshake before they are terminated (default 5000). */
  timeout?: number
  /** The close code sent to every connection (default 1001). */
  code?: number
  /** The close reason sent to every connection (default 'Going Away'). */
  reason?: string
}

/** Input of the server machine. */
export interface ServerInput {
  /** Connections accepted at once; more are refused at the upgrade (default: no limit). */
  maxConnections?: number
}

/** A spawned connection child. */
export type ConnectionRef = ActorRefFrom<typeof connectionMachine>

/** The server machine's context. */
export interface ServerContext {
  maxConnections: number
  /**
   * The live connection children by id. A registry kept in place (not copied per accept), so that
   * accepting the n-th connection costs O(1), not O(n); `connectionCount` is its size. This, not
   * `snapshot.children`, is where the server's connections are listed.
   */
  connections: Record<string, ConnectionRef>
  connectionCount: number
  /** Connections accepted since the server started. */
  accepted: number
  drain: Required<DrainOptions>
  report: DrainReport
  /** Why the server could not listen (in the `failed` state). */
  error: unknown
}

/** Events the server machine takes. */
export type ServerEvent =
  /** A socket completed its WebSocket handshake: spawn its connection child with this id. */
  | { type: 'connection.accept'; id: string; input: ConnectionInput }
  /** Stop accepting; close every connection with `code`/`reason`; terminate the rest after `timeout`. */
  | ({ type: 'drain' } & DrainOptions)
  /** The server could not listen (a port in use, no permission): it never accepted and never will. */
  | { type: 'listenFailed'; error: unknown }
  | { type: `xstate.done.actor.${string}`; actorId: string; output: CloseInfo }
  | { type: `xstate.error.actor.${string}`; actorId: string; error: unknown }

/** How long terminated connections get to report their end before the server stops without them. */
const ABORT_GRACE_MS = 1000

/** Defaults of a drain. */
export const defaultDrain: Readonly<Required<DrainOptions>> = Object.freeze({ timeout: 5000, code: 1001, reason: 'Going Away' })

function isChildEnd(type: string): boolean {
  return type.startsWith('xstate.done.actor.') || type.startsWith('xstate.error.actor.')
}

/** The server machine (pure: its `connection` actor is the pure connection machine). */
export const serverMachine = setup({
  types: {
    context: {} as ServerContext,
    events: {} as ServerEvent,
    input: {} as ServerInput,
    output: {} as DrainReport,
  },
  actors: {
    connection: connectionMachine,
  },
  delays: {
    drainTimeout: ({ context }) => context.drain.timeout,
    abortGrace: ABORT_GRACE_MS,
  },
  guards: {
    hasRoom: ({ context }) => context.connectionCount < context.maxConnections,
    noConnections: ({ context }) => context.connectionCount === 0,
  },
  actions: {
    countAccepted: assign(({ context }) => ({ connectionCount: context.connectionCount + 1, accepted: context.accepted + 1 })),
    /** Starts the connection's actor as a child of this one (see the module comment for why not `spawn`). */
    startConnection: ({ context, event, self }) => {
      assertEvent(event, 'connection.accept')
      // The `connection` logic as provided (the ws-ready machine for the package's serverMachine).
      const server = self as unknown as AnyActorRef & { logic: { implementations: { actors: Record<string, unknown> } } }
      const logic = server.logic.implementations.actors.connection as typeof connectionMachine
      const child = createActor(logic, { parent: server, id: event.id, input: event.input })
      context.connections[event.id] = child
      child.start()
    },
    /** When the server actor stops (drained, or stopped from outside), no connection outlives it. */
    superviseConnections: ({ context, self }) => {
      const { connections } = context
      const abortAll = (): void => {
        for (const child of Object.values(connections)) child.send({ type: 'abort' })
      }
      self.subscribe({ complete: abortAll, error: abortAll })
    },
    forgetConnection: enqueueActions(({ context, event, enqueue }) => {
      if (!isChildEnd(event.type)) return
      const id = (event as { actorId: string }).actorId
      if (!(id in context.connections)) return
      // A child that ended (done or failed) has stopped itself: it only leaves the registry.
      delete context.connections[id]
      enqueue.assign({ connectionCount: context.connectionCount - 1 })
    }),
    countOutcome: assign(({ context, event }) => {
      if (!isChildEnd(event.type) || !((event as { actorId: string }).actorId in context.connections)) return {}
      const clean = event.type.startsWith('xstate.done.actor.') && (event as { output?: CloseInfo }).output?.wasClean === true
      const { closedCleanly, terminated } = context.report
      return { report: clean ? { closedCleanly: closedCleanly + 1, terminated } : { closedCleanly, terminated: terminated + 1 } }
    }),
    rememberListenError: assign(({ event }) => {
      assertEvent(event, 'listenFailed')
      return { error: event.error }
    }),
    rememberDrain: assign(({ event }) => {
      assertEvent(event, 'drain')
      return {
        drain: {
          timeout: event.timeout ?? defaultDrain.timeout,
          code: event.code ?? defaultDrain.code,
          reason: event.reason ?? defaultDrain.reason,
        },
      }
    }),
    closeEveryConnection: enqueueActions(({ context, enqueue }) => {
      const { code, reason, timeout } = context.drain
      // The drain's deadline is each connection's close deadline too: nobody waits longer than asked.
      for (const child of Object.values(context.connections)) enqueue.sendTo(child, { type: 'close', code, reason, timeout })
    }),
    terminateEveryConnection: enqueueActions(({ context, enqueue }) => {
      for (const child of Object.values(context.connections)) enqueue.sendTo(child, { type: 'abort' })
    }),
    countRemainingAsTerminated: assign(({ context }) => ({
      report: {
        closedCleanly: context.report.closedCleanly,
        terminated: context.report.terminated + context.connectionCount,
      },
    })),
  },
}).createMachine({
  id: 'server',
  context: ({ input }) => ({
    maxConnections: input.maxConnections ?? Infinity,
    connections: {},
    connectionCount: 0,
    accepted: 0,
    drain: { ...defaultDrain },
    report: { closedCleanly: 0, terminated: 0 },
    error: undefined,
  }),
  initial: 'listening',
  entry: 'superviseConnections',
  on: {
    'xstate.done.actor.*': { actions: 'forgetConnection' },
    'xstate.error.actor.*': { actions: 'forgetConnection' },
  },
  states: {
    listening: {
      on: {
        'connection.accept': { guard: 'hasRoom', actions: ['countAccepted', 'startConnection'] },
        drain: { target: 'draining', actions: 'rememberDrain' },
        listenFailed: { target: 'failed', actions: 'rememberListenError' },
      },
    },
    draining: {
      initial: 'closing',
      on: {
        'xstate.done.actor.*': { actions: ['countOutcome', 'forgetConnection'] },
        'xstate.error.actor.*': { actions: ['countOutcome', 'forgetConnection'] },
      },
      always: { guard: 'noConnections', target: 'stopped' },
      states: {
        closing: {
          entry: 'closeEveryConnection',
          after: { drainTimeout: 'terminating' },
        },
        terminating: {
          entry: 'terminateEveryConnection',
          // An aborted connection ends at once; this only guards the drain against one that cannot.
          after: { abortGrace: { target: '#server.stopped', actions: 'countRemainingAsTerminated' } },
        },
      },
    },
    stopped: {
      type: 'final',
    },
    failed: {
      type: 'final',
    },
  },
  output: ({ context }) => context.report,
})

/** The server machine's snapshot. */
export type ServerSnapshot = SnapshotFrom<typeof serverMachine>

/** Connections by state, and their total. */
export type ConnectionCounts = Record<State, number> & { total: number }

/**
 * Whether the server would accept one more connection now (listening, under `maxConnections`).
 * Asks the machine's own `hasRoom` guard through `snapshot.can()`, so there is one rule.
 */
export function canAccept(snapshot: ServerSnapshot): boolean {
  return snapshot.can({ type: 'connection.accept', id: '', input: { socket: undefined } })
}

/** Counts the live connection children by their state. */
export function countConnections(snapshot: ServerSnapshot): ConnectionCounts {
  const counts: ConnectionCounts = { connecting: 0, open: 0, interrupted: 0, closingSent: 0, closingReceived: 0, closed: 0, total: 0 }
  for (const child of Object.values(snapshot.context.connections)) {
    const s = child.getSnapshot()
    const value = s.status === 'active' ? s.value : 'closed'
    const state = (typeof value === 'string' ? value : Object.keys(value)[0]) as State
    counts[state]++
    counts.total++
  }
  return counts
}
