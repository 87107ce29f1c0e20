/**
 * The connection machine: the lifecycle and close handshake of one WebSocket connection.
 *
 * ```
 * connecting ──socketOpen──▶ open ──close / protocolClose / textReceived──▶ closingSent ──┐
 *      │                      │ ──peerClose──────────────────────────────▶ closingReceived ┤
 *      └──socketClosed / close / abort──▶ closed ◀──socketClosed / closeTimeout / abort────┘
 * ```
 *
 * Pure: no socket library is imported here. The socket is reached through a {@link Transport},
 * connected by the root's `attachTransport` entry action for as long as the actor runs; the
 * package's public `connectionMachine` provides that action for `ws` sockets. Data never passes
 * through the machine as events: the transport pushes received bytes into the {@link ReadBuffer}
 * in the context and the stream façade writes into the {@link WriteQueue}; the machine sees
 * control events only.
 *
 * @module
 */
import { assign, emit, enqueueActions, setup } from 'xstate'
import { ConnectionClosedError, ConnectionResetError, ProtocolError, ReceivedTextError, TimeoutError, WsStreamError } from '../src/errors.js'
import { resolveOptions, type ResolvedOptions, type WsStreamOptions } from '../src/options.js'
import { KeepAlive, type KeepAliveTarget } from '../src/keep-alive.js'
import { lazyError } from '../src/lazy-error.js'
import { Pinger } from '../src/pinger.js'
import { ReadBuffer } from '../src/read-buffer.js'
import { WriteQueue, type SendFunction } from '../src/write-queue.js'

/** The machine's states, as users see them in `stream.state`. */
export type State = 'connecting' | 'open' | 'closingSent' | 'closingReceived' | 'closed'

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

/** What a transport reports about its socket. */
export interface TransportSink {
  open(): void
  /** One received message; `isBinary` false for text. */
  message(data: Uint8Array, isBinary: boolean): void
  ping(data: Uint8Array): void
  pong(data: Uint8Array): void
  /** The peer's Close frame arrived; called before the socket library sends its echo. */
  peerClose(code: number, reason: string): void
  /** The socket library is closing with `code` because the peer broke the protocol. */
  protocolClose(code: number): void
  /** A fault, already translated to a typed error. */
  error(error: WsStreamError): void
  /** The socket is closed; `wasClean` when Close frames went both ways. */
  closed(code: number, reason: string, wasClean: boolean): void
}

/** The seam between the machine and one socket (a ws WebSocket, or a standard one). */
export interface Transport {
  /** True when the socket is already open. */
  readonly isOpen: boolean
  /** True when `send()` copies the message before it returns, so the caller's bytes are free at once. */
  readonly copiesOnSend?: boolean
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
  error: WsStreamError | undefined
  /** The error reads reject with once buffered bytes are consumed (a cut stream), if any. */
  readError: WsStreamError | undefined
  closeTimeout: number
  socketWasClean: boolean
  unclean: boolean
}

/** Events the machine takes: from its transport, and from the user (`close`, `abort`). */
export type ConnectionEvent =
  | { type: 'socketOpen' }
  | { type: 'socketClosed'; code: number; reason: string; wasClean: boolean }
  | { type: 'peerClose'; code: number; reason: string }
  | { type: 'protocolClose'; code: number }
  | { type: 'socketError'; error: WsStreamError }
  | { type: 'textReceived' }
  | { type: 'ping'; data: Uint8Array }
  | { type: 'pong'; data: Uint8Array }
  | { type: 'readBufferFull' }
  | { type: 'readBufferDrained' }
  | { type: 'keepAliveTimeout' }
  | { type: 'close'; code?: number; reason?: string; timeout?: number }
  | { type: 'abort'; reason?: unknown }

/**
 * Connects one transport to the connection's buffers and reports socket happenings to the machine.
 * Shared by every transport flavour. One object per connection with its handlers on the prototype:
 * a server holds thousands of these, so no closure per handler.
 */
class TransportWiring implements TransportSink {
  #socketClosed = false

  constructor(
    readonly transport: Transport,
    readonly io: ConnectionIO,
    readonly textAsBytes: boolean,
    readonly actor: Pick<ConnectionSelf, 'send'>,
  ) {}

  #report(event: ConnectionEvent): void {
    this.actor.send(event)
  }

  /** The socket is open: writes and pings may flow, and the machine hears of it. */
  #start(): void {
    this.io.writeQueue.bind(this.transport, this.transport.copiesOnSend === true)
    this.io.pinger.bind(this.transport)
    this.#report({ type: 'socketOpen' })
  }

  attach(): void {
    this.io.transport = this.transport
    this.io.readBuffer.backpressureListener = this
    this.transport.attach(this)
    if (this.transport.isOpen) this.#start()
  }

  open(): void {
    this.#start()
  }

  /** The read buffer crossed a mark: pause (`full`) or resume the socket. */
  backpressure(full: boolean): void {
    this.#report({ type: full ? 'readBufferFull' : 'readBufferDrained' })
  }

  message(data: Uint8Array, isBinary: boolean): void {
    const { readBuffer } = this.io
    if (isBinary || this.textAsBytes) {
      readBuffer.push(data)
    } else if (!readBuffer.ended) {
      // Data after a rejected text message is dropped: reads end with what came before it.
      readBuffer.end()
      this.#report({ type: 'textReceived' })
    }
  }

  ping(data: Uint8Array): void {
    this.#report({ type: 'ping', data })
  }

  pong(data: Uint8Array): void {
    this.io.pinger.pong(data)
    this.#report({ type: 'pong', data })
  }

  peerClose(code: number, reason: string): void {
    // The echo follows synchronously: accepted bytes must reach the socket before it.
    this.io.writeQueue.handAllAndRefuse(() => new ConnectionClosedError('The peer closed the connection.'))
    this.io.readBuffer.end()
    this.#report({ type: 'peerClose', code, reason })
  }

  protocolClose(code: number): void {
    this.io.writeQueue.handAllAndRefuse(() => new ConnectionClosedError('The connection is closing after a protocol error.'))
    this.#report({ type: 'protocolClose', code })
  }

  error(error: WsStreamError): void {
    this.#report({ type: 'socketError', error })
  }

  closed(code: number, reason: string, wasClean: boolean): void {
    this.#socketClosed = true
    this.#report({ type: 'socketClosed', code, reason, wasClean })
  }

  /** The actor ended or was stopped: detach, and if the socket is still up, take it down. */
  dispose(): void {
    const { io, transport } = this
    transport.detach()
    io.readBuffer.backpressureListener = undefined
    io.keepAlive?.stop()
    if (!this.#socketClosed) {
      // Stopped from outside (a parent stopped, actor.stop()) or done without the socket's close
      // event: nothing may be left open or pending.
      transport.terminate()
      const gone = new ConnectionResetError('The connection actor stopped before the connection closed.')
      io.readBuffer.end(gone)
      io.writeQueue.fail(gone)
      io.pinger.fail(gone)
    }
  }
}

/** The parts of the connection actor that {@link attachTransport} uses. */
export interface ConnectionSelf {
  send(event: ConnectionEvent): void
  subscribe(observer: { complete?: () => void; error?: (error: unknown) => void }): unknown
}

/**
 * Connects `transport` to the connection whose context and actor are given, for as long as the actor
 * runs: when it ends or is stopped from outside, the transport is detached and, if its socket is still
 * up, terminated. The body of the machine's `attachTransport` entry action for every transport flavour.
 */
export function attachTransport(transport: Transport, context: ConnectionContext, self: ConnectionSelf): void {
  const wiring = new TransportWiring(transport, context.io, context.options.text === 'bytes', self)
  const dispose = (): void => wiring.dispose()
  self.subscribe({ complete: dispose, error: dispose })
  wiring.attach()
}

/**
 * The `attachTransport` action of a machine whose sockets `toTransport` turns into
 * {@link Transport}s: provide it with `pureConnectionMachine.provide({ actions: { attachTransport: transportAttacher(f) } })`.
 */
export function transportAttacher(
  toTransport: (socket: unknown) => Transport,
): (args: { context: ConnectionContext; self: ConnectionSelf }) => void {
  return ({ context, self }) => attachTransport(toTransport(context.io.socket), context, self)
}

function asTransport(socket: unknown): Transport {
  if (typeof (socket as Transport | undefined)?.attach !== 'function') {
    throw new TypeError('This connection machine needs a Transport as input.socket; use the package\'s connectionMachine for ws sockets.')
  }
  return socket as Transport
}

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
      toJSON() {
        return { readBuffered: this.readBuffer.queue.length, writeBuffered: this.writeQueue.buffered }
      },
    },
    state: 'connecting',
    initiator: 'none',
    errorClose: undefined,
    peerClose: undefined,
    error: undefined,
    readError: undefined,
    closeTimeout: options.closeTimeout,
    socketWasClean: false,
    unclean: false,
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

/** The connection machine (pure: its `attachTransport` action expects a {@link Transport} as `input.socket`). */
export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
    output: {} as CloseInfo,
    emitted: {} as WsEvent,
  },
  delays: {
    closeTimeout: ({ context }) => context.closeTimeout,
  },
  guards: {
    noPeerClose: ({ context }) => context.peerClose === undefined,
  },
  actions: {
    enterState: enqueueActions(({ context, enqueue }, params: { to: State }) => {
      enqueue.emit({ type: 'state', from: context.state, to: params.to })
      enqueue.assign({ state: params.to })
    }),
    sendCloseFrame: ({ context, event }) => {
      const io = context.io
      const { code, reason } = event.type === 'close'
        ? { code: event.code ?? 1000, reason: event.reason ?? '' }
        : { code: CLOSE_CODE_ON_TEXT, reason: TEXT_REASON }
      io.writeQueue.handAllAndRefuse(() => new ConnectionClosedError('The connection is closing.'))
      io.transport?.close(code, reason)
    },
    rememberLocalClose: assign(({ context, event }) => ({
      initiator: 'local' as const,
      closeTimeout: event.type === 'close' && event.timeout !== undefined ? event.timeout : context.closeTimeout,
    })),
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
        : context.error ?? new WsStreamError('The connection was aborted.', 'ERR_WS_ABORTED', { cause: reason })
      return { unclean: true, error }
    }),
    /** Connects the socket through its transport; the ws and standard machines provide their own. */
    attachTransport: ({ context, self }) => attachTransport(asTransport(context.io.socket), context, self as unknown as ConnectionSelf),
    startKeepAlive: ({ context, self }) => startKeepAlive(context, self as unknown as KeepAliveTarget),
    stopKeepAlive: ({ context }) => {
      context.io.keepAlive?.stop()
      context.io.keepAlive = undefined
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
      entry: [{ type: 'enterState', params: { to: 'open' } }, 'startKeepAlive'],
      exit: 'stopKeepAlive',
      on: {
        close: { target: 'closingSent', actions: ['rememberLocalClose', 'sendCloseFrame'] },
        protocolClose: { target: 'closingSent', actions: 'rememberProtocolClose' },
        textReceived: { target: 'closingSent', actions: ['rememberTextRejected', 'reportTextRejected', 'sendCloseFrame'] },
        peerClose: { target: 'closingReceived', actions: ['rememberPeerClose', 'reportCloseFrame'] },
        socketClosed: { target: 'closed', actions: ['rememberSocketClosed', 'rememberReset'] },
        keepAliveTimeout: { target: 'closed', actions: ['rememberKeepAliveTimeout', 'reportKeepAliveTimeout', 'terminateSocket'] },
      },
    },
    closingSent: {
      entry: { type: 'enterState', params: { to: 'closingSent' } },
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
    closingReceived: {
      entry: { type: 'enterState', params: { to: 'closingReceived' } },
      after: {
        closeTimeout: { target: 'closed', actions: ['rememberCloseTimeout', 'terminateSocket'] },
      },
      on: {
        socketClosed: { target: 'closed', actions: 'rememberSocketClosed' },
      },
    },
    closed: {
      type: 'final',
      entry: [{ type: 'enterState', params: { to: 'closed' } }, 'settleIo', 'reportClosed'],
    },
  },
  output: ({ context }) => closeInfo(context),
})

/** The connection machine's actor logic type. */
export type ConnectionMachine = typeof connectionMachine
