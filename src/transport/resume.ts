/**
 * A resumable session: one connection's {@link Transport} that outlives its sockets.
 *
 * Each end counts the data bytes it has received and now and then tells the other (`ack`); each end
 * keeps what it sent until the other confirms it. When the socket drops without a Close the machine
 * goes `interrupted`; a new socket (a client's reconnect, presented to the server with the session's
 * token) is adopted here, both ends say how much they have received, and each resends the rest:
 * every byte exactly once, in order, on the same stream. The wire format is in docs/resume.md.
 *
 * The machine decides (when a loss interrupts, how long to wait, when to try again); this object
 * only moves bytes and reports what its sockets do.
 *
 * @module
 */
import type { ResumeControl, Transport, TransportSink } from '../../machines/connection.js'
import { copyPool } from '../copy-pool.js'
import { ConnectionResetError, ProtocolError, type WsStreamError } from '../errors.js'
import type { WsLeg } from './ws.js'

/** The subprotocol that announces a resumable session (`Sec-WebSocket-Protocol`). */
export const resumeProtocol = 'ws-stream.resume.v1'

/** How a resumable stream behaves while its connection is down. */
export interface ResumeOptions {
  /** Milliseconds an interrupted session may take to resume; then it ends as a reset, on both ends (default 30000). */
  timeout?: number
  /** A client's first delay before reconnecting, in ms; it doubles per attempt, with jitter (default 100). */
  minDelay?: number
  /** A client's longest delay between attempts, in ms (default 5000). */
  maxDelay?: number
}

/** The resume options' defaults. */
export const defaultResumeOptions: Readonly<Required<ResumeOptions>> = Object.freeze({ timeout: 30_000, minDelay: 100, maxDelay: 5_000 })

/** The control messages of the resume protocol (text messages; data goes as binary ones). */
export type ResumeMessage =
  | { type: 'hello'; window: number }
  | { type: 'welcome'; token: string; window: number }
  | { type: 'resume'; token: string; received: number; window: number }
  | { type: 'resumed'; token: string; received: number }
  | { type: 'ack'; received: number }

/** The Close codes of a refused resume. */
export const refusal = {
  /** No such session: never issued, expired, already resumed with this token, or ended. */
  unknown: 4404,
  /** The session is attached to a live connection. */
  attached: 4409,
} as const

const MAX_TOKEN = 128

/** Parses one control message; `undefined` for anything that is not one. */
export function parseResumeMessage(data: Uint8Array | string): ResumeMessage | undefined {
  let m: Record<string, unknown>
  try {
    m = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (m === null || typeof m !== 'object') return undefined
  const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  const token = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_TOKEN
  switch (m.type) {
    case 'hello':
      return count(m.window) ? { type: 'hello', window: m.window } : undefined
    case 'welcome':
      return token(m.token) && count(m.window) ? { type: 'welcome', token: m.token, window: m.window } : undefined
    case 'resume':
      return token(m.token) && count(m.received) && count(m.window)
        ? { type: 'resume', token: m.token, received: m.received, window: m.window }
        : undefined
    case 'resumed':
      return token(m.token) && count(m.received) ? { type: 'resumed', token: m.token, received: m.received } : undefined
    case 'ack':
      return count(m.received) ? { type: 'ack', received: m.received } : undefined
    default:
      return undefined
  }
}

/** A control message as it goes on the wire. */
export function resumeMessage(message: ResumeMessage): string {
  return JSON.stringify(message)
}

/** A client's way to reconnect: one attempt that opens a socket and resumes this session on it. */
export type Reconnect = (session: ResumeSession, signal: AbortSignal) => Promise<void>

/** What makes a session. */
export interface SessionInit {
  /** The first socket, open, its handshake done. */
  leg: WsLeg
  /** The peer's window (its `writeHighWaterMark`): we acknowledge at least every quarter of it. */
  peerWindow: number
  /** Milliseconds to wait for a resumption. */
  timeout: number
  /** A client's reconnecting (with its backoff); absent on a server. */
  reconnect?: { minDelay: number; maxDelay: number; attempt: Reconnect }
  /** Called once, when the connection ends for good (a server forgets the session). */
  onEnd?: () => void
}

/** Unacknowledged received bytes wait at most this long for an acknowledgement (ms). */
const ACK_DELAY = 50

/**
 * One resumable connection's transport. Its current socket's transport (a leg) reports to it through
 * a {@link LegSink}, so it sees everything the socket does before the machine does.
 */
export class ResumeSession implements Transport {
  readonly retainsSent = true
  readonly copiesOnSend = false
  readonly resumable: ResumeControl
  /** The client's current token (a server keeps its own record of the session). */
  token = ''
  #leg: WsLeg | undefined
  #sink: TransportSink | undefined
  #received = 0
  #sent = 0
  #acked = 0
  /** Sent bytes `[#acked, #sent)`, kept to resend. */
  #retained: Uint8Array[] = []
  #retainedHead = 0
  readonly #ackEvery: number
  #ackSent = 0
  #ackTimer: ReturnType<typeof setTimeout> | undefined
  /** A Close went or came: the socket's end is the connection's end. */
  #closing = false
  #ended = false
  /** The application's read buffer is full: acknowledgements wait (see {@link pause}). */
  #paused = false
  /** The socket itself was paused: the peer sent far past its window while we held our acknowledgements. */
  #legPaused = false
  /** Bytes the peer may send past our last acknowledgement before we stop reading the socket. */
  readonly #unackedLimit: number
  /** Why the socket went, when it said (a reset), for the `interrupted` event. */
  #lossError: WsStreamError | undefined
  readonly #onEnd: (() => void) | undefined
  readonly #legSink = new LegSink(this)

  constructor({ leg, peerWindow, timeout, reconnect, onEnd }: SessionInit) {
    this.#leg = leg
    this.#ackEvery = Math.max(1, Math.floor(peerWindow / 4))
    // A peer of ours stops at its window plus the writes it queued meanwhile (about its window again).
    this.#unackedLimit = 2 * peerWindow + MiB
    this.#onEnd = onEnd
    this.resumable = {
      timeout,
      ...(reconnect === undefined
        ? {}
        : { reconnect: { minDelay: reconnect.minDelay, maxDelay: reconnect.maxDelay, attempt: (signal: AbortSignal) => reconnect.attempt(this, signal) } }),
      drop: (error) => this.#lose(error, false),
    }
  }

  /** Data bytes received so far: what we tell the peer we have. */
  get received(): number {
    return this.#received
  }

  /** True while a socket is attached (a server refuses a second client then). */
  get attached(): boolean {
    return this.#leg !== undefined
  }

  /**
   * Checks that the attached socket still lives: a ping written to a connection the network reset
   * fails at once, and the loss is noticed even while reading is paused by backpressure (a paused
   * socket reads nothing, so it would not see the reset by itself).
   */
  probe(): void {
    this.#leg?.ping(EMPTY)
  }

  /** True once the connection ended for good. */
  get ended(): boolean {
    return this.#ended
  }

  get isOpen(): boolean {
    return this.#leg?.isOpen ?? false
  }

  attach(sink: TransportSink): void {
    this.#sink = sink
    this.#leg?.attach(this.#legSink)
  }

  detach(): void {
    this.#end()
    this.#leg?.detach()
    this.#sink = undefined
  }

  /**
   * Takes a new socket after an interruption: `peerReceived` is how much of our data the peer has.
   * Whatever it lacks is sent again first; then the machine hears the session resumed. Throws a
   * `ProtocolError` when `peerReceived` is not a position we can resend from.
   */
  adopt(leg: WsLeg, peerReceived: number): void {
    if (this.#ended) throw new ConnectionResetError('The session ended before it could resume.')
    if (peerReceived < this.#acked || peerReceived > this.#sent) {
      throw new ProtocolError(`The peer says it received ${peerReceived} bytes; we can resend from ${this.#acked} to ${this.#sent}.`)
    }
    this.#acknowledge(peerReceived)
    this.#leg = leg
    this.#lossError = undefined
    leg.attach(this.#legSink)
    if (this.#legPaused) leg.pause()
    for (let i = this.#retainedHead; i < this.#retained.length; i++) leg.send(this.#retained[i]!, ignore)
    // The handshake told the peer what we have; saying it once more on the new socket is what tells a
    // server that we have its new token (src/resume.ts keeps the old one good until then).
    this.#sendAck()
    this.#sink?.resumed?.()
  }

  // Transport: what the machine and the write queue call.

  send(message: Uint8Array, done: (error?: Error | null) => void): void {
    this.#retained.push(message)
    this.#sent += message.length
    // A failed send is not the stream's failure: the bytes are kept and go again on the next socket.
    if (this.#leg) this.#leg.send(message, () => done())
    else queueMicrotask(() => done())
  }

  close(code: number, reason: string): void {
    this.#closing = true
    this.#leg?.close(code, reason)
  }

  terminate(): void {
    this.#end()
    this.#leg?.terminate()
  }

  /**
   * Read backpressure. The socket keeps reading: our acknowledgements wait instead, which stops the
   * peer at its window. Pausing the socket would also stop the peer's acknowledgements, which travel
   * behind its data: with both ends' buffers full (an echo), each would wait for the other's
   * acknowledgement forever. A peer that sends on regardless still gets its socket paused.
   */
  pause(): void {
    this.#paused = true
  }

  resume(): void {
    this.#paused = false
    if (this.#legPaused) {
      this.#legPaused = false
      this.#leg?.resume()
    }
    if (this.#received !== this.#ackSent) this.#sendAck()
  }

  ping(data: Uint8Array): void {
    this.#leg?.ping(data)
  }

  // What the current socket reports (through its LegSink).

  /** @internal */
  legMessage(data: Uint8Array, isBinary: boolean): void {
    if (isBinary) {
      this.#received += data.length
      this.#sink?.message(data, true)
      if (!this.#paused) this.#maybeAck()
      else if (!this.#legPaused && this.#received - this.#ackSent > this.#unackedLimit) {
        this.#legPaused = true
        this.#leg?.pause()
      }
      return
    }
    const control = parseResumeMessage(data)
    if (control?.type === 'ack' && control.received >= this.#acked && control.received <= this.#sent) {
      this.#acknowledge(control.received)
      return
    }
    this.#protocolViolation('A resumable session got a text message that is not a valid acknowledgement.')
  }

  /** @internal */
  legPeerClose(code: number, reason: string): void {
    this.#closing = true
    this.#sink?.peerClose(code, reason)
  }

  /** @internal */
  legProtocolClose(code: number): void {
    this.#closing = true
    this.#sink?.protocolClose(code)
  }

  /** @internal */
  legError(error: WsStreamError): void {
    // A reset is the loss itself, reported as `interrupted` when the socket's close follows.
    if (!this.#closing && !this.#ended && error instanceof ConnectionResetError) this.#lossError = error
    else this.#sink?.error(error)
  }

  /** @internal */
  legClosed(code: number, reason: string, wasClean: boolean): void {
    if (this.#closing || this.#ended) {
      this.#sink?.closed(code, reason, wasClean)
      return
    }
    this.#lose(this.#lossError ?? new ConnectionResetError('The connection dropped without a Close.'), true)
  }

  /** @internal */
  get sink(): TransportSink | undefined {
    return this.#sink
  }

  /** The socket is gone but the session is not: detach it and (unless the machine asked) say so. */
  #lose(error: WsStreamError, report: boolean): void {
    const leg = this.#leg
    if (leg === undefined) return
    this.#leg = undefined
    leg.detach()
    leg.terminate()
    clearTimeout(this.#ackTimer)
    this.#ackTimer = undefined
    if (report) this.#sink?.interrupted?.(error)
  }

  #end(): void {
    if (this.#ended) return
    this.#ended = true
    clearTimeout(this.#ackTimer)
    this.#ackTimer = undefined
    this.#retained = []
    this.#retainedHead = 0
    this.#onEnd?.()
  }

  /** The peer has our bytes up to `received`: forget them, and open the write window by as much. */
  #acknowledge(received: number): void {
    let bytes = received - this.#acked
    if (bytes === 0) return
    this.#acked = received
    this.#sink?.acknowledged?.(bytes)
    while (bytes > 0) {
      const first = this.#retained[this.#retainedHead]!
      if (first.length <= bytes) {
        bytes -= first.length
        this.#retained[this.#retainedHead++] = EMPTY
        // The write queue's pooled copy (it leaves those to us): the peer has it, its memory may serve again.
        copyPool.release(first)
      } else {
        this.#retained[this.#retainedHead] = first.subarray(bytes)
        bytes = 0
      }
    }
    if (this.#retainedHead === this.#retained.length) {
      this.#retained.length = 0
      this.#retainedHead = 0
    } else if (this.#retainedHead >= 1024 && this.#retainedHead * 2 >= this.#retained.length) {
      this.#retained = this.#retained.slice(this.#retainedHead)
      this.#retainedHead = 0
    }
  }

  /** Acknowledges at once after a quarter of the peer's window, else within {@link ACK_DELAY}. */
  #maybeAck(): void {
    if (this.#received - this.#ackSent >= this.#ackEvery) this.#sendAck()
    else if (this.#ackTimer === undefined && this.#received !== this.#ackSent && this.#leg !== undefined) {
      this.#ackTimer = setTimeout(ackLater, ACK_DELAY, this)
      this.#ackTimer.unref?.()
    }
  }

  /** @internal The delayed acknowledgement is due. */
  ackDue(): void {
    this.#ackTimer = undefined
    if (this.#received !== this.#ackSent && !this.#paused) this.#sendAck()
  }

  #sendAck(): void {
    if (this.#leg === undefined) return
    this.#ackSent = this.#received
    this.#leg.sendControl(resumeMessage({ type: 'ack', received: this.#received }))
  }

  #protocolViolation(message: string): void {
    if (this.#closing) return
    this.#closing = true
    this.#sink?.error(new ProtocolError(message))
    this.#sink?.protocolClose(1002)
    this.#leg?.close(1002, 'Bad resume message')
  }
}

/** Where a leg reports: to its session, which decides what the machine hears. */
class LegSink implements TransportSink {
  constructor(readonly session: ResumeSession) {}
  open(): void {}
  message(data: Uint8Array, isBinary: boolean): void {
    this.session.legMessage(data, isBinary)
  }
  ping(data: Uint8Array): void {
    this.session.sink?.ping(data)
  }
  pong(data: Uint8Array): void {
    this.session.sink?.pong(data)
  }
  peerClose(code: number, reason: string): void {
    this.session.legPeerClose(code, reason)
  }
  protocolClose(code: number): void {
    this.session.legProtocolClose(code)
  }
  error(error: WsStreamError): void {
    this.session.legError(error)
  }
  closed(code: number, reason: string, wasClean: boolean): void {
    this.session.legClosed(code, reason, wasClean)
  }
}

function ackLater(session: ResumeSession): void {
  session.ackDue()
}

function ignore(): void {}

const EMPTY = new Uint8Array(0)
const MiB = 1024 * 1024
