/**
 * The connection machine: the lifecycle and close handshake of one WebSocket connection.
 *
 * ```
 * connecting ──socketOpen──▶ open ──close / protocolClose / textReceived──▶ closingSent ──┐
 *      │                      │ ──peerClose──────────────────────────────▶ closingReceived ┤
 *      └──socketClosed / close / abort──▶ closed ◀──socketClosed / closeTimeout / abort────┘
 *
 * closingReceived (ordered close: the peer's Close is our end of input, like a TCP FIN)
 *   finishing ──inputTaken──▶ flushing ──writesFlushed──▶ replySent
 *       └─────────close / not reading / peerClose 'immediate'──────────▲
 *
 * interrupted (resumable sessions only: the socket dropped without a Close)
 *   open ──transportLost / keepAliveTimeout──▶ interrupted ──legResumed──▶ open
 *   client: backoff ──after reconnectDelay──▶ reconnecting ──refused for good──▶ closed
 *   both:   ──after resumeTimeout / close──▶ closed (a reset)
 * ```
 *
 * Pure: no socket library is imported here and nothing touches I/O directly. The socket is reached
 * through a {@link Transport}, connected by the root's `attachTransport` entry action, which the
 * package provides (src/transport/wiring.ts; `connectionMachine` does it for `ws` sockets). Data
 * never passes through the machine as events: the transport pushes received bytes into the
 * {@link ReadBuffer} in the context and the stream façade writes into the {@link WriteQueue}; the
 * machine sees control events only.
 *
 * @module
 */
import { assign, emit, fromPromise, setup } from 'xstate'
import { AbortedError, ConnectionClosedError, ConnectionResetError, ProtocolError, ReceivedTextError, ResumeRefusedError, TimeoutError, WsStreamError } from '../src/errors.js'
import { resolveOptions, type ResolvedOptions, type WsStreamOptions } from '../src/options.js'
import { KeepAlive, type KeepAliveTarget } from '../src/keep-alive.js'
import { lazyError } from '../src/lazy-error.js'
import { Pinger } from '../src/pinger.js'
import { ReadBuffer } from '../src/read-buffer.js'
import { WriteQueue, type SendFunction } from '../src/write-queue.js'

/** The machine's states, as users see them in `stream.state`. */
export type State = 'connecting' | 'open' | 'interrupted' | 'closingSent' | 'closingReceived' | 'closed'

/** How a connection ended: the `closed` state's output and `stream.closed`'s value. */
export interface CloseInfo {
  /** The peer's Close code if its Close frame arrived; else the code we sent for a protocol error; else 1006. */
  code: number
  /** The reason that goes with `code` ('' when there was none). */
  reason: string
  /** Close frames went both ways, with no timeout and no abort. */
  wasClean: boolean
  /** Who sent the first Close frame. */
  initiator: 'local' | 'remote' | 'none'
  /** What went wrong, when something did. */
  error?: WsStreamError
}

/** The out-of-band events of a connection (`stream.on()`, `stream.events()`, `actor.on()`). */
export type WsEvent =
  | { type: 'state'; from: State; to: State }
  | { type: 'ping'; data: Uint8Array }
  | { type: 'pong'; data: Uint8Array }
  | { type: 'closeFrame'; code: number; reason: string }
  | { type: 'paused' }
  | { type: 'resumed' }
  | { type: 'error'; error: WsStreamError }
  | { type: 'closed'; info: CloseInfo }
  /** A resumable session lost its socket without a Close; reads and writes wait while it resumes. */
  | { type: 'interrupted'; error: WsStreamError }
  /** A client's attempt to resume (1, 2, …), after waiting `delay` ms. */
  | { type: 'reconnecting'; attempt: number; delay: number }
  /** The session resumed after `downtime` ms and `attempts` attempts (0 on a server, which waits). */
  | { type: 'sessionResumed'; downtime: number; attempts: number }
  /** `resume` was asked for but the server does not offer it: the stream is a plain one. */
  | { type: 'resumeUnavailable' }

/** What a transport reports about its socket. */
export interface TransportSink {
  open(): void
  /** One received message; `isBinary` false for text. */
  message(data: Uint8Array, isBinary: boolean): void
  ping(data: Uint8Array): void
  pong(data: Uint8Array): void
  /** The peer's Close frame arrived. The transport does not answer it: the machine does, through `close()`. */
  peerClose(code: number, reason: string): void
  /** The socket library is closing with `code` because the peer broke the protocol. */
  protocolClose(code: number): void
  /** A fault, already translated to a typed error. */
  error(error: WsStreamError): void
  /** The socket is closed; `wasClean` when Close frames went both ways. */
  closed(code: number, reason: string, wasClean: boolean): void
  /** A resumable transport lost its socket without a Close; it may resume. */
  interrupted?(error: WsStreamError): void
  /** A resumable transport has a socket again, and resent what the peer had not received. */
  resumed?(): void
  /** A resumable transport's peer confirmed `bytes` more of what we sent. */
  acknowledged?(bytes: number): void
}

/**
 * What a resumable transport (src/transport/resume.ts) tells the machine: how long to wait, and on a
 * client how to try again. The machine decides when; the transport does the I/O.
 */
export interface ResumeControl {
  /** Milliseconds an interrupted session may take to resume before it ends as a reset. */
  readonly timeout: number
  /** A client's reconnecting; absent on a server, which waits for its client to come back. */
  readonly reconnect?: {
    /** The first delay before an attempt; it doubles per attempt (with jitter) up to `maxDelay`. */
    readonly minDelay: number
    readonly maxDelay: number
    /** One attempt: resolves once resumed (the transport has reported `resumed()` by then); rejects with why not. */
    attempt(signal: AbortSignal): Promise<void>
  }
  /** Takes the current socket down without ending the session (keepAlive found the peer silent). */
  drop(error: WsStreamError): void
}

/** The seam between the machine and one socket (a ws WebSocket, or a standard one). */
export interface Transport {
  /** True when the socket is already open. */
  readonly isOpen: boolean
  /** True when `send()` copies the message before it returns, so the caller's bytes are free at once. */
  readonly copiesOnSend?: boolean
  /**
   * True when the socket answers the peer's Close by itself (a standard WebSocket): the connection
   * then behaves as `peerClose: 'immediate'`. Otherwise `close()` sends our answer when the machine says.
   */
  readonly answersCloseItself?: boolean
  /** True when the transport keeps what it sent until the peer acknowledges it (see `MessageSender.retainsSent`). */
  readonly retainsSent?: boolean
  /** Present when the transport is a resumable session: the connection survives a lost socket. */
  readonly resumable?: ResumeControl
  /** Starts reporting to `sink`. */
  attach(sink: TransportSink): void
  /** Stops reporting to the sink; a late error from the socket must not go unhandled. */
  detach(): void
  send: SendFunction
  close(code: number, reason: string): void
  terminate(): void
  pause(): void
  resume(): void
  ping(data: Uint8Array): void
  /**
   * Throws `InvalidCloseCodeError` for a code or reason this socket cannot send although RFC 6455
   * allows it (a standard WebSocket's close() takes only 1000 and 3000–4999). Optional: without it,
   * every RFC-sendable code goes.
   */
  assertCloseFrame?(code: number, reason: string): void
}

/** The mutable I/O state shared by the machine, its transport and the stream façade. */
export interface ConnectionIO {
  /** The socket as given in the input (kept here, not in the context, so inspectors do not serialise it). */
  socket: unknown
  readBuffer: ReadBuffer
  writeQueue: WriteQueue
  pinger: Pinger
  transport: Transport | undefined
  /** The keep-alive timers while the connection is open with `keepAlive` on. */
  keepAlive: KeepAlive | undefined
  /** The watch for `writesFlushed` while the connection is in `closingReceived.flushing`. */
  flushWatch: { stop(): void } | undefined
  /** What inspectors and JSON.stringify see of the I/O state: sizes, not sockets and buffers. */
  toJSON(): { readBuffered: number; writeBuffered: number }
}

/** Input of the connection machine. */
export interface ConnectionInput {
  /** The socket: a `ws` WebSocket for the package's `connectionMachine`; a {@link Transport} for this pure one. */
  socket: unknown
  options?: WsStreamOptions
}

/** The machine's context (internal: read it only for debugging). */
export interface ConnectionContext {
  options: ResolvedOptions
  io: ConnectionIO
  state: State
  initiator: CloseInfo['initiator']
  /** A Close we sent because of an error (protocol error, text), which names the close if the peer's never comes. */
  errorClose: { code: number; reason: string } | undefined
  peerClose: { code: number; reason: string } | undefined
  /** When the peer's Close came, the application had nothing left to read and was not reading. */
  idleAtPeerClose: boolean
  error: WsStreamError | undefined
  /** The error reads reject with once buffered bytes are consumed (a cut stream), if any. */
  readError: WsStreamError | undefined
  /** The Close we answer the peer's with, when the application named one (else we echo the peer's). */
  reply: { code: number; reason: string } | undefined
  /** Milliseconds the close handshake may take, from the first Close frame. */
  closeTimeout: number
  /** When the close handshake must be over (`performance.now()` time), once a closing state is entered. */
  closeDeadline: number
  /**
   * When the first Close frame went either way (`performance.now()` time): kept apart from
   * `closeDeadline`, which a later close() may move, so that the server's metrics time the handshake
   * without listening to every connection's transitions.
   */
  closeStartedAt: number | undefined
  socketWasClean: boolean
  unclean: boolean
  /** When the current interruption began (`performance.now()` time), while `interrupted`. */
  interruptedAt: number
  /** Reconnect attempts in the current interruption. */
  attempts: number
}

/** Events the machine takes: from its transport, and from the user (`close`, `abort`). */
export type ConnectionEvent =
  | { type: 'socketOpen' }
  | { type: 'socketClosed'; code: number; reason: string; wasClean: boolean }
  /** The peer's Close frame; `idle`: the application had nothing left to read and was not reading. */
  | { type: 'peerClose'; code: number; reason: string; idle?: boolean }
  | { type: 'protocolClose'; code: number }
  | { type: 'socketError'; error: WsStreamError }
  | { type: 'textReceived' }
  | { type: 'ping'; data: Uint8Array }
  | { type: 'pong'; data: Uint8Array }
  | { type: 'readBufferFull' }
  | { type: 'readBufferDrained' }
  | { type: 'keepAliveTimeout' }
  /** The application took the end of input (a read returned `null`) after the peer's Close. */
  | { type: 'inputTaken' }
  /** Every byte the application wrote is in the kernel, and it wrote nothing more for a turn. */
  | { type: 'writesFlushed' }
  | { type: 'close'; code?: number; reason?: string; timeout?: number }
  | { type: 'abort'; reason?: unknown }
  /** A resumable transport lost its socket without a Close. */
  | { type: 'transportLost'; error: WsStreamError }
  /** A resumable transport has a socket again and resent what the peer missed. */
  | { type: 'legResumed' }
  /** `connect()` asked for `resume` and the server did not offer it (reported once the stream is handed over). */
  | { type: 'resumeDeclined' }

/** Starts the keep-alive timers when the connection opens with `keepAlive` on. */
function startKeepAlive(context: ConnectionContext, self: KeepAliveTarget): void {
  const { keepAlive } = context.options
  if (keepAlive) context.io.keepAlive = new KeepAlive(keepAlive, context.io, self)
}

const CLOSE_CODE_ON_TEXT = 1003
const TEXT_REASON = 'Text messages are not supported.'

function createContext(input: ConnectionInput): ConnectionContext {
  const options = resolveOptions(input.options)
  return {
    options,
    io: {
      socket: input.socket,
      readBuffer: new ReadBuffer(options.readHighWaterMark),
      writeQueue: new WriteQueue(options),
      pinger: new Pinger(),
      transport: undefined,
      keepAlive: undefined,
      flushWatch: undefined,
      toJSON() {
        return { readBuffered: this.readBuffer.queue.length, writeBuffered: this.writeQueue.buffered }
      },
    },
    state: 'connecting',
    initiator: 'none',
    errorClose: undefined,
    peerClose: undefined,
    idleAtPeerClose: false,
    error: undefined,
    readError: undefined,
    reply: undefined,
    closeTimeout: options.closeTimeout,
    closeDeadline: Infinity,
    closeStartedAt: undefined,
    socketWasClean: false,
    unclean: false,
    interruptedAt: 0,
    attempts: 0,
  }
}

function closeInfo(context: ConnectionContext): CloseInfo {
  const named = context.peerClose ?? context.errorClose
  const info: CloseInfo = {
    code: named?.code ?? 1006,
    reason: named?.reason ?? '',
    wasClean: context.socketWasClean && !context.unclean,
    initiator: context.initiator,
  }
  if (context.error) info.error = context.error
  return info
}

/**
 * Reports `writesFlushed` once every byte the application wrote is in the kernel and a whole turn
 * of the event loop passed with nothing new written. The turn lets writes that follow the end of
 * input in the same job (an answer computed from the whole request, a pipe's last chunks still
 * passing through a WritableStream's queue) join the queue before we decide. Started by the entry
 * of `flushing` and stopped by its exit, so it reports nothing once the state is left.
 *
 * A plain timer rather than an invoked actor (as keep-alive): the invoked `fromCallback` cost every
 * ordered close an actor, its init macrostep and a copy of `snapshot.children` (6 % of a server's
 * CPU in the lifecycle profile, docs/performance.md "Lifecycle").
 */
class WritesFlushedWatch {
  #stopped = false
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly io: ConnectionIO,
    readonly target: { send(event: { type: 'writesFlushed' }): void },
  ) {
    this.#later()
  }

  #later(): void {
    if (!this.#stopped) this.#timer = setTimeout(check, 0, this)
  }

  check(): void {
    this.#timer = undefined
    if (this.#stopped) return
    if (this.io.writeQueue.buffered === 0) this.target.send({ type: 'writesFlushed' })
    else this.io.writeQueue.flush().then(() => this.#later(), () => this.#later())
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }
}

function check(watch: WritesFlushedWatch): void {
  watch.check()
}

/**
 * What a guard looks at. Spelled out because, at this machine's size, TypeScript no longer infers the
 * parameters of `setup()`'s guards and actions from each other.
 */
type Guarded = { context: ConnectionContext }

/** Now, on the clock the close deadline is kept in. */
const now = (): number => performance.now()

/**
 * One reconnect attempt of a resumable client; stopped (its signal aborted) when `reconnecting` is left.
 * Its input is absent only when the machine runs without a transport (a pure traversal, a simulation).
 */
const reconnectAttempt = fromPromise<void, ResumeControl | undefined>(({ input, signal }) =>
  input?.reconnect === undefined ? Promise.reject(new TypeError('reconnecting needs a transport that reconnects')) : input.reconnect.attempt(signal))

/**
 * Exponential backoff with full jitter over the upper half: attempt n waits between half and all of
 * min(maxDelay, minDelay·2^(n-1)), so clients cut off together do not come back together.
 */
function backoff(resume: ResumeControl | undefined, attempts: number): number {
  if (resume?.reconnect === undefined) return 0
  const { minDelay, maxDelay } = resume.reconnect
  const ceiling = Math.min(maxDelay, minDelay * 2 ** Math.min(attempts, 30))
  return attempts === 0 ? Math.min(minDelay, maxDelay) * Math.random() : ceiling / 2 + (ceiling / 2) * Math.random()
}

/**
 * The connection machine, pure: its `attachTransport` entry action must be provided (the package's
 * `connectionMachine` provides it for ws sockets; `transportAttacher` makes one for any transport).
 */
export const pureConnectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
    output: {} as CloseInfo,
    emitted: {} as WsEvent,
  },
  actors: { reconnectAttempt },
  delays: {
    /** What is left of the close handshake's time: counted from the first Close, in every closing state. */
    closeTimeout: ({ context }) => Math.max(0, context.closeDeadline - now()),
    /** How long an interrupted session may take to resume (`resume.timeout`). */
    resumeTimeout: ({ context }) => context.io.transport?.resumable?.timeout ?? 0,
    /** The wait before the next reconnect attempt: backoff with jitter. */
    reconnectDelay: ({ context }) => backoff(context.io.transport?.resumable, context.attempts),
  },
  guards: {
    noPeerClose: ({ context }: Guarded) => context.peerClose === undefined,
    /** `peerClose: 'immediate'`, or a socket that answers a Close by itself (a standard WebSocket). */
    answersAtOnce: ({ context }: Guarded) => context.options.peerClose === 'immediate' || context.io.transport?.answersCloseItself === true,
    /**
     * When the Close came the application had nothing left to read and was not reading (a write-only
     * application, or one that stopped reading): it is done as it is, unless it keeps its side open.
     */
    notReading: ({ context }: Guarded) => context.idleAtPeerClose && !context.options.allowHalfOpen,
    /** Taking the end of input counts as done unless the application keeps its side open (`allowHalfOpen`). */
    endOfInputIsDone: ({ context }: Guarded) => !context.options.allowHalfOpen,
    writesIdle: ({ context }: Guarded) => context.io.writeQueue.buffered === 0,
    /** The transport is a resumable session: a lost socket interrupts the connection instead of ending it. */
    resumable: ({ context }: Guarded) => context.io.transport?.resumable !== undefined,
    /** A client's session, which reconnects by itself (a server's waits to be reconnected). */
    reconnects: ({ context }: Guarded) => context.io.transport?.resumable?.reconnect !== undefined,
    /** The server refused this session for good (unknown or expired token): no attempt can succeed. */
    refusedForGood: ({ event }: { event: ConnectionEvent }) => {
      const error = (event as unknown as { error?: unknown }).error
      return error instanceof ResumeRefusedError && !error.retryable
    },
  },
  actions: {
    /** The transition to `to`, as an out-of-band `state` event. */
    reportState: emit(({ context }, params: { to: State }) => ({ type: 'state' as const, from: context.state, to: params.to })),
    /**
     * The state entered, in the context (for the next `state` event's `from`); a closing state also
     * starts the close handshake's clock. One assign for both: each assign copies the context.
     */
    rememberState: assign(({ context }, params: { to: State; startsCloseClock?: boolean }) => {
      if (params.startsCloseClock !== true) return { state: params.to }
      const at = now()
      return { state: params.to, closeStartedAt: at, closeDeadline: at + context.closeTimeout }
    }),
    sendCloseFrame: ({ context, event }) => {
      const io = context.io
      const { code, reason } = event.type === 'close'
        ? { code: event.code ?? 1000, reason: event.reason ?? '' }
        : { code: CLOSE_CODE_ON_TEXT, reason: TEXT_REASON }
      // RFC 6455 5.5.1: no data frame after our Close, so every accepted byte is handed over first.
      io.writeQueue.handAllAndRefuse(() => new ConnectionClosedError('The connection is closing.'))
      io.transport?.close(code, reason)
    },
    /**
     * Answers the peer's Close (RFC 6455 5.5.1: "the endpoint MUST send a Close frame in response"),
     * after every accepted byte: with the code the application named, else the peer's own.
     */
    sendCloseReply: ({ context }: Guarded) => {
      const io = context.io
      const { code, reason } = context.reply ?? context.peerClose!
      io.writeQueue.handAllAndRefuse(() => new ConnectionClosedError('The peer closed the connection.'))
      io.transport?.close(code, reason)
    },
    rememberLocalClose: assign(({ context, event }) => ({
      initiator: 'local' as const,
      closeTimeout: event.type === 'close' && event.timeout !== undefined ? event.timeout : context.closeTimeout,
    })),
    /** The application's close() while the peer's Close waits for an answer: its code (if it named one) and deadline. */
    rememberLocalReply: assign(({ context, event }) => {
      if (event.type !== 'close') return {}
      return {
        reply: event.code === undefined ? undefined : { code: event.code, reason: event.reason ?? '' },
        closeDeadline: event.timeout === undefined ? context.closeDeadline : Math.min(context.closeDeadline, now() + event.timeout),
      }
    }),
    rememberProtocolClose: assign(({ event }) => ({
      initiator: 'local' as const,
      errorClose: event.type === 'protocolClose' ? { code: event.code, reason: '' } : undefined,
    })),
    rememberTextRejected: assign(() => {
      const error = new ReceivedTextError(TEXT_REASON)
      return { initiator: 'local' as const, error, errorClose: { code: CLOSE_CODE_ON_TEXT, reason: TEXT_REASON } }
    }),
    reportTextRejected: emit(({ context }) => ({
      type: 'error' as const,
      error: context.error instanceof ReceivedTextError ? context.error : new ReceivedTextError(TEXT_REASON),
    })),
    rememberPeerClose: assign(({ context, event }) => {
      if (event.type !== 'peerClose') return {}
      return {
        peerClose: { code: event.code, reason: event.reason },
        idleAtPeerClose: event.idle === true,
        initiator: context.initiator === 'none' ? ('remote' as const) : context.initiator,
      }
    }),
    reportCloseFrame: emit(({ event }) => {
      const { code, reason } = event as Extract<ConnectionEvent, { type: 'peerClose' }>
      return { type: 'closeFrame' as const, code, reason }
    }),
    rememberSocketClosed: assign(({ event }) => ({
      socketWasClean: event.type === 'socketClosed' && event.wasClean,
    })),
    rememberReset: assign(({ context }) => {
      const error = context.error ?? new ConnectionResetError()
      return { error, readError: error }
    }),
    rememberError: assign(({ context, event }) => {
      if (event.type !== 'socketError') return {}
      const error = event.error
      // A peer that broke the protocol cut the stream short: reads must not look like a clean end.
      const cutsStream = error instanceof ProtocolError || error.code === 'ERR_WS_MESSAGE_TOO_LARGE'
      return { error: context.error ?? error, readError: cutsStream ? error : context.readError }
    }),
    reportError: emit(({ event }) => ({
      type: 'error' as const,
      error: (event as Extract<ConnectionEvent, { type: 'socketError' }>).error,
    })),
    rememberCloseTimeout: assign(({ context }) => ({
      unclean: true,
      error: context.error ?? new TimeoutError(`The close handshake did not finish within ${context.closeTimeout} ms.`),
    })),
    rememberKeepAliveTimeout: assign(({ context }) => {
      const error = new TimeoutError('The peer stopped answering pings (keepAlive).')
      return { unclean: true, error: context.error ?? error, readError: error }
    }),
    reportKeepAliveTimeout: emit(({ context }) => ({ type: 'error' as const, error: context.error! })),
    rememberAbort: assign(({ context, event }) => {
      const reason = event.type === 'abort' ? event.reason : undefined
      const error = reason === undefined
        ? context.error
        : context.error ?? new AbortedError('The connection was aborted.', { cause: reason })
      return { unclean: true, error }
    }),
    /** Connects the socket through its transport: provided by the package (src/transport/wiring.ts). */
    attachTransport: (): never => {
      throw new TypeError('The pure connection machine has no transport: provide its attachTransport action (see transportAttacher), or use connectionMachine.')
    },
    startKeepAlive: ({ context, self }) => startKeepAlive(context, self as unknown as KeepAliveTarget),
    stopKeepAlive: ({ context }) => {
      context.io.keepAlive?.stop()
      context.io.keepAlive = undefined
    },
    startFlushWatch: ({ context, self }) => {
      context.io.flushWatch = new WritesFlushedWatch(context.io, self as unknown as WritesFlushedWatch['target'])
    },
    stopFlushWatch: ({ context }) => {
      context.io.flushWatch?.stop()
      context.io.flushWatch = undefined
    },
    terminateSocket: ({ context }) => context.io.transport?.terminate(),
    pauseSocket: ({ context }) => context.io.transport?.pause(),
    resumeSocket: ({ context }) => context.io.transport?.resume(),
    reportPaused: emit({ type: 'paused' as const }),
    reportResumed: emit({ type: 'resumed' as const }),
    reportPing: emit(({ event }) => ({ type: 'ping' as const, data: (event as { data: Uint8Array }).data })),
    reportPong: emit(({ event }) => ({ type: 'pong' as const, data: (event as { data: Uint8Array }).data })),
    settleIo: ({ context }) => {
      const { io } = context
      const { error } = context
      const gone = lazyError(() => new ConnectionClosedError('The connection is closed.', 0, { cause: error }))
      io.readBuffer.end(context.readError)
      io.writeQueue.fail(gone)
      io.pinger.fail(gone)
    },
    reportClosed: emit(({ context }) => ({ type: 'closed' as const, info: closeInfo(context) })),
    rememberInterruption: assign(() => ({ interruptedAt: now(), attempts: 0 })),
    reportInterrupted: emit(({ event }) => ({
      type: 'interrupted' as const,
      error: (event as { error?: WsStreamError }).error ?? new ConnectionResetError(),
    })),
    /** keepAlive found the peer silent: take that socket down; the session lives on. */
    dropSocket: ({ context }) => context.io.transport?.resumable?.drop(new TimeoutError('The peer stopped answering pings (keepAlive).')),
    countAttempt: assign(({ context }) => ({ attempts: context.attempts + 1 })),
    reportReconnecting: emit(({ context }) => ({
      type: 'reconnecting' as const,
      attempt: context.attempts,
      delay: Math.round(now() - context.interruptedAt),
    })),
    reportSessionResumed: emit(({ context }) => ({
      type: 'sessionResumed' as const,
      downtime: Math.round(now() - context.interruptedAt),
      attempts: context.attempts,
    })),
    /** The session did not resume in time, was refused for good, or was closed while down: a reset, both ways. */
    rememberSessionLost: assign(({ context, event }) => {
      const resume = context.io.transport?.resumable
      const cause = (event as { error?: unknown }).error
      const message = event.type === 'close'
        ? 'The connection was closed while interrupted, before it resumed.'
        : cause instanceof ResumeRefusedError
          ? `The server refused to resume the session: ${cause.message}`
          : `The interrupted connection did not resume within ${resume?.timeout ?? 0} ms.`
      const error = context.error ?? new ConnectionResetError(message, cause === undefined ? undefined : { cause })
      return { unclean: true, error, readError: error }
    }),
    reportResumeUnavailable: emit({ type: 'resumeUnavailable' as const }),
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => createContext(input),
  entry: 'attachTransport',
  initial: 'connecting',
  on: {
    socketError: { actions: ['rememberError', 'reportError'] },
    ping: { actions: 'reportPing' },
    pong: { actions: 'reportPong' },
    readBufferFull: { actions: ['pauseSocket', 'reportPaused'] },
    readBufferDrained: { actions: ['resumeSocket', 'reportResumed'] },
    abort: { target: '.closed', actions: ['rememberAbort', 'terminateSocket'] },
    resumeDeclined: { actions: 'reportResumeUnavailable' },
  },
  states: {
    connecting: {
      on: {
        socketOpen: { target: 'open' },
        socketClosed: { target: 'closed', actions: 'rememberSocketClosed' },
        close: { target: 'closed', actions: ['rememberAbort', 'terminateSocket'] },
      },
    },
    open: {
      entry: [{ type: 'reportState', params: { to: 'open' } }, { type: 'rememberState', params: { to: 'open' } }, 'startKeepAlive'],
      exit: 'stopKeepAlive',
      on: {
        close: { target: 'closingSent', actions: ['rememberLocalClose', 'sendCloseFrame'] },
        protocolClose: { target: 'closingSent', actions: 'rememberProtocolClose' },
        textReceived: { target: 'closingSent', actions: ['rememberTextRejected', 'reportTextRejected', 'sendCloseFrame'] },
        peerClose: { target: 'closingReceived', actions: ['rememberPeerClose', 'reportCloseFrame'] },
        socketClosed: { target: 'closed', actions: ['rememberSocketClosed', 'rememberReset'] },
        transportLost: { target: 'interrupted', actions: ['rememberInterruption', 'reportInterrupted'] },
        keepAliveTimeout: [
          { guard: 'resumable', target: 'interrupted', actions: ['dropSocket', 'rememberInterruption', 'reportInterrupted'] },
          { target: 'closed', actions: ['rememberKeepAliveTimeout', 'reportKeepAliveTimeout', 'terminateSocket'] },
        ],
      },
    },
    // Resumable sessions only: the socket dropped without a Close. The stream lives on (reads and
    // writes wait); a client reconnects, a server waits for it. Both give up after resume.timeout.
    interrupted: {
      entry: [{ type: 'reportState', params: { to: 'interrupted' } }, { type: 'rememberState', params: { to: 'interrupted' } }],
      initial: 'waiting',
      after: {
        resumeTimeout: { target: 'closed', actions: ['rememberSessionLost', 'terminateSocket'] },
      },
      on: {
        legResumed: { target: 'open', actions: 'reportSessionResumed' },
        close: { target: 'closed', actions: ['rememberSessionLost', 'terminateSocket'] },
      },
      states: {
        /** A server's session waits here for its client; a client's moves on to reconnect. */
        waiting: {
          always: { guard: 'reconnects', target: 'backoff' },
        },
        backoff: {
          after: { reconnectDelay: 'reconnecting' },
        },
        reconnecting: {
          entry: ['countAttempt', 'reportReconnecting'],
          invoke: {
            id: 'attempt',
            src: 'reconnectAttempt',
            input: ({ context }) => context.io.transport?.resumable,
            onError: [
              { guard: 'refusedForGood', target: '#connection.closed', actions: ['rememberSessionLost', 'terminateSocket'] },
              { target: 'backoff' },
            ],
          },
        },
      },
    },
    closingSent: {
      entry: [{ type: 'reportState', params: { to: 'closingSent' } }, { type: 'rememberState', params: { to: 'closingSent', startsCloseClock: true } }],
      after: {
        closeTimeout: { target: 'closed', actions: ['rememberCloseTimeout', 'terminateSocket'] },
      },
      on: {
        peerClose: { actions: ['rememberPeerClose', 'reportCloseFrame'] },
        textReceived: { actions: 'reportTextRejected' },
        socketClosed: [
          // Our Close went out but the peer's never came: the socket died mid-handshake, a reset.
          { guard: 'noPeerClose', target: 'closed', actions: ['rememberSocketClosed', 'rememberReset'] },
          { target: 'closed', actions: 'rememberSocketClosed' },
        ],
      },
    },
    // Ordered close: the peer's Close is our end of input (reads return every byte before it, then
    // null). The connection is half closed: the application may still write, and our answering Close
    // goes once it is done, after every byte it wrote.
    closingReceived: {
      entry: [{ type: 'reportState', params: { to: 'closingReceived' } }, { type: 'rememberState', params: { to: 'closingReceived', startsCloseClock: true } }],
      initial: 'finishing',
      on: {
        socketClosed: { target: 'closed', actions: 'rememberSocketClosed' },
      },
      states: {
        /** The application may still read what came before the Close, and write. */
        finishing: {
          always: [
            { guard: 'answersAtOnce', target: 'replySent', actions: 'sendCloseReply' },
            { guard: 'notReading', target: 'replySent', actions: 'sendCloseReply' },
          ],
          after: {
            closeTimeout: { target: '#connection.closed', actions: ['rememberCloseTimeout', 'sendCloseReply', 'terminateSocket'] },
          },
          on: {
            close: { target: 'replySent', actions: ['rememberLocalReply', 'sendCloseReply'] },
            inputTaken: { guard: 'endOfInputIsDone', target: 'flushing' },
          },
        },
        /** The application took the end of input: our answer waits for what it wrote to reach the kernel. */
        flushing: {
          entry: 'startFlushWatch',
          exit: 'stopFlushWatch',
          after: {
            closeTimeout: { target: '#connection.closed', actions: ['rememberCloseTimeout', 'sendCloseReply', 'terminateSocket'] },
          },
          on: {
            writesFlushed: [
              { guard: 'writesIdle', target: 'replySent', actions: 'sendCloseReply' },
              { target: 'flushing', reenter: true },
            ],
            close: { target: 'replySent', actions: ['rememberLocalReply', 'sendCloseReply'] },
          },
        },
        /** Our Close went: the peer closes the TCP connection. */
        replySent: {
          after: {
            closeTimeout: { target: '#connection.closed', actions: ['rememberCloseTimeout', 'terminateSocket'] },
          },
        },
      },
    },
    closed: {
      type: 'final',
      entry: [{ type: 'reportState', params: { to: 'closed' } }, { type: 'rememberState', params: { to: 'closed' } }, 'settleIo', 'reportClosed'],
    },
  },
  output: ({ context }) => closeInfo(context),
})

/** The connection machine's actor logic type. */
export type ConnectionMachine = typeof pureConnectionMachine
