/**
 * The glue between one {@link Transport} and one connection actor: received bytes go into the read
 * buffer, the write queue and pinger get the socket once it opens, and socket happenings (and the
 * reader taking the end of input) become the machine's control events.
 *
 * Shared by every transport flavour. The connection machine itself (machines/connection.ts) is pure:
 * its `attachTransport` entry action is provided here, through {@link transportAttacher}.
 *
 * @module
 */
import type { ConnectionContext, ConnectionEvent, ConnectionIO, Transport, TransportSink } from '../../machines/connection.js'
import { ConnectionClosedError, ConnectionResetError } from '../errors.js'

/** The parts of the connection actor that {@link attachTransport} uses. */
export interface ConnectionSelf {
  send(event: ConnectionEvent): void
  subscribe(observer: { complete?: () => void; error?: (error: unknown) => void }): unknown
}

/**
 * Connects one transport to the connection's buffers and reports socket happenings to the machine.
 * One object per connection with its handlers on the prototype: a server holds thousands of these,
 * so no closure per handler.
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
    this.io.readBuffer.listener = this
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

  /** The application took the end of input (a read returned `null`): it may be done. */
  inputTaken(): void {
    this.#report({ type: 'inputTaken' })
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
    // RFC 6455 5.5.1: the peer sends no data after its Close, and every message before it has been
    // delivered: the Close is the end of input, in stream order. Whether and when we answer is the
    // machine's decision (ordered close); it needs to know whether the application was reading.
    const { readBuffer } = this.io
    const idle = readBuffer.idle
    readBuffer.end()
    this.#report({ type: 'peerClose', code, reason, idle })
  }

  protocolClose(code: number): void {
    // ws sends its Close right after this call: accepted bytes must reach the socket before it.
    this.io.writeQueue.handAllAndRefuse(() => new ConnectionClosedError('The connection is closing after a protocol error.'))
    this.#report({ type: 'protocolClose', code })
  }

  error(error: Parameters<TransportSink['error']>[0]): void {
    this.#report({ type: 'socketError', error })
  }

  interrupted(error: Parameters<TransportSink['error']>[0]): void {
    this.#report({ type: 'transportLost', error })
  }

  resumed(): void {
    this.#report({ type: 'legResumed' })
  }

  acknowledged(bytes: number): void {
    this.io.writeQueue.acknowledged(bytes)
  }

  closed(code: number, reason: string, wasClean: boolean): void {
    this.#socketClosed = true
    this.#report({ type: 'socketClosed', code, reason, wasClean })
  }

  /** The actor ended or was stopped: detach, and if the socket is still up, take it down. */
  dispose(): void {
    const { io, transport } = this
    transport.detach()
    io.readBuffer.listener = undefined
    io.keepAlive?.stop()
    io.flushWatch?.stop()
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
 * {@link Transport}s: `pureConnectionMachine.provide({ actions: { attachTransport: transportAttacher(f) } })`.
 */
export function transportAttacher(
  toTransport: (socket: unknown) => Transport,
): (args: { context: ConnectionContext; self: unknown }) => void {
  return ({ context, self }) => attachTransport(toTransport(context.io.socket), context, self as ConnectionSelf)
}

/** The socket itself, when it is a {@link Transport} already (the pure machine's input). */
export function asTransport(socket: unknown): Transport {
  if (typeof (socket as Transport | undefined)?.attach !== 'function') {
    throw new TypeError('This connection machine needs a Transport as input.socket; use the package\'s connectionMachine for ws sockets.')
  }
  return socket as Transport
}
