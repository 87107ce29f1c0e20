/**
 * The connection machine: the lifecycle and close handshake of one WebSocket connection.
 *
 * ```
 * connecting ──socketOpen──▶ open ──close / protocolClose / textReceived──▶ closingSent ──┐
 *      │                      │ ──peerClose──────────────────────────────▶ closingReceived ┤
 *      └──socketClosed / close / abort──▶ closed ◀──socketClosed / closeTimeout / abort────┘
 * ```
 *
 * Pure: no socket library is imported here. The socket is reached through the invoked actor
 * `transport`, which speaks the {@link Transport} interface; the package's public
 * `connectionMachine` provides one for `ws` sockets. Data never passes through the machine as
 * events: the transport pushes received bytes into the {@link ReadBuffer} in the context and the
 * stream façade writes into the {@link WriteQueue}; the machine sees control events only.
 *
 * @module
 */
import { assign, emit, enqueueActions, fromCallback, setup, stopChild } from 'xstate'
import { ConnectionClosedError, ConnectionResetError, ProtocolError, ReceivedTextError, TimeoutError, WsStreamError } from '../src/errors.js'
import { resolveOptions, type ResolvedOptions, type WsStreamOptions } from '../src/options.js'
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
  /** Starts reporting to `sink`; returns a function that stops it. */
  attach(sink: TransportSink): () => void
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

/** What the invoked `transport` actor is given. */
export interface TransportActorInput {
  socket: unknown
  io: ConnectionIO
  options: ResolvedOptions
}

/**
 * Wires a transport to the connection's buffers and reports socket happenings to the machine.
 * Shared by every transport flavour; returns the cleanup.
 */
export function runTransport(
  transport: Transport,
  { io, options }: TransportActorInput,
  sendBack: (event: ConnectionEvent) => void,
): () => void {
  const { readBuffer, writeQueue, pinger } = io
  io.transport = transport
  let socketClosed = false
  const start = (): void => {
    writeQueue.bind(transport.send, transport.copiesOnSend === true)
    pinger.bind((data) => transport.ping(data))
  }
  readBuffer.onBackpressure = (full) => sendBack({ type: full ? 'readBufferFull' : 'readBufferDrained' })
  const detach = transport.attach({
    open() {
      start()
      sendBack({ type: 'socketOpen' })
    },
    message(data, isBinary) {
      if (isBinary || options.text === 'bytes') {
        readBuffer.push(data)
      } else if (!readBuffer.ended) {
        // Data after a rejected text message is dropped: reads end with what came before it.
        readBuffer.end()
        sendBack({ type: 'textReceived' })
      }
    },
    ping: (data) => sendBack({ type: 'ping', data }),
    pong(data) {
      pinger.pong(data)
      sendBack({ type: 'pong', data })
    },
    peerClose(code, reason) {
      // The echo follows synchronously: accepted bytes must reach the socket before it.
      writeQueue.handAllAndRefuse(new ConnectionClosedError('The peer closed the connection.'))
      readBuffer.end()
      sendBack({ type: 'peerClose', code, reason })
    },
    protocolClose(code) {
      writeQueue.handAllAndRefuse(new ConnectionClosedError('The connection is closing after a protocol error.'))
      sendBack({ type: 'protocolClose', code })
    },
    error: (error) => sendBack({ type: 'socketError', error }),
    closed(code, reason, wasClean) {
      socketClosed = true
      sendBack({ type: 'socketClosed', code, reason, wasClean })
    },
  })
  if (transport.isOpen) {
    start()
    sendBack({ type: 'socketOpen' })
  }
  return () => {
    detach()
    readBuffer.onBackpressure = undefined
    if (!socketClosed) {
      // Stopped from outside (a parent stopped, actor.stop()) or done without the socket's close
      // event: nothing may be left open or pending.
      transport.terminate()
      const gone = new ConnectionResetError('The connection actor stopped before the connection closed.')
      readBuffer.end(gone)
      writeQueue.fail(gone)
      pinger.fail(gone)
    }
  }
}

function isTransport(socket: unknown): socket is Transport {
  return typeof (socket as Transport | undefined)?.attach === 'function'
}

/** The pure machine's transport: the socket must already be a {@link Transport}. */
export const transportLogic = fromCallback<ConnectionEvent, TransportActorInput>(({ input, sendBack }) => {
  if (!isTransport(input.socket)) {
    throw new TypeError('This connection machine needs a Transport as input.socket; use the package\'s connectionMachine for ws sockets.')
  }
  return runTransport(input.socket, input, sendBack)
})

/**
 * Pings every `interval`; reports `keepAliveTimeout` when a pong is overdue. Any sign of life in
 * the window counts as an answer: received bytes (a pong can queue behind them), or a pause by our
 * own read backpressure (while paused, the pong cannot be read at all).
 */
export const keepAliveLogic = fromCallback<ConnectionEvent, { options: ResolvedOptions; io: ConnectionIO }>(
  ({ input: { options, io }, sendBack }) => {
    if (!options.keepAlive) return
    const { interval, timeout } = options.keepAlive
    const { readBuffer, pinger } = io
    let deadline: ReturnType<typeof setTimeout> | undefined
    const tick = setInterval(() => {
      if (deadline !== undefined || readBuffer.paused) return
      let answered = false
      const bytesBefore = readBuffer.bytesIn
      const pausesBefore = readBuffer.pauses
      pinger.ping().then(() => {
        answered = true
        clearTimeout(deadline)
        deadline = undefined
      }, () => {})
      deadline = setTimeout(() => {
        deadline = undefined
        const alive = answered || readBuffer.paused || readBuffer.bytesIn !== bytesBefore || readBuffer.pauses !== pausesBefore
        if (!alive) sendBack({ type: 'keepAliveTimeout' })
      }, timeout)
    }, interval)
    return () => {
      clearInterval(tick)
      clearTimeout(deadline)
    }
  },
)

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

/** The connection machine (pure: its `transport` actor expects a {@link Transport} as `input.socket`). */
export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
    output: {} as CloseInfo,
    emitted: {} as WsEvent,
  },
  actors: {
    transport: transportLogic,
    keepAlive: keepAliveLogic,
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
      io.writeQueue.handAllAndRefuse(new ConnectionClosedError('The connection is closing.'))
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
    // Spawned only when enabled: an actor per idle connection is memory a server holds thousands of times.
    startKeepAlive: enqueueActions(({ context, enqueue }) => {
      if (context.options.keepAlive) {
        enqueue.spawnChild('keepAlive', { id: 'keepAlive', input: { options: context.options, io: context.io } })
      }
    }),
    stopKeepAlive: stopChild('keepAlive'),
    terminateSocket: ({ context }) => context.io.transport?.terminate(),
    pauseSocket: ({ context }) => context.io.transport?.pause(),
    resumeSocket: ({ context }) => context.io.transport?.resume(),
    reportPaused: emit({ type: 'paused' as const }),
    reportResumed: emit({ type: 'resumed' as const }),
    reportPing: emit(({ event }) => ({ type: 'ping' as const, data: (event as { data: Uint8Array }).data })),
    reportPong: emit(({ event }) => ({ type: 'pong' as const, data: (event as { data: Uint8Array }).data })),
    settleIo: ({ context }) => {
      const { io } = context
      const gone = new ConnectionClosedError('The connection is closed.', 0, { cause: context.error })
      io.readBuffer.end(context.readError)
      io.writeQueue.fail(gone)
      io.pinger.fail(gone)
    },
    reportClosed: emit(({ context }) => ({ type: 'closed' as const, info: closeInfo(context) })),
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => createContext(input),
  invoke: {
    id: 'transport',
    src: 'transport',
    input: ({ context }) => ({ socket: context.io.socket, io: context.io, options: context.options }),
  },
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
