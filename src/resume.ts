/**
 * The handshakes of resumable streams, over ws sockets: a client's first `hello` and later
 * `resume`s, and the server's record of its sessions. The session itself (offsets, acknowledgements,
 * resending) is src/transport/resume.ts; the decisions (when to wait, retry or give up) are the
 * connection machine's. docs/resume.md describes the protocol.
 *
 * @module
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { WebSocket } from 'ws'
import { HandshakeError, ResumeRefusedError } from './errors.js'
import {
  defaultResumeOptions,
  parseResumeMessage,
  refusal,
  resumeMessage,
  ResumeSession,
  type ResumeMessage,
  type ResumeOptions,
} from './transport/resume.js'
import { wsLeg } from './transport/ws.js'
import { optional, validateNumber, validateObject } from './validate.js'

/** `resume` as given (`true` or options) with every default filled in; `undefined` when off. */
export function resolveResumeOptions(resume: unknown, name: string): Required<ResumeOptions> | undefined {
  if (resume === undefined || resume === false) return undefined
  if (resume === true) return { ...defaultResumeOptions }
  const o = validateObject<ResumeOptions>(resume, name)
  const positive = { min: 0, minExclusive: true } as const
  const resolved = {
    timeout: optional(o.timeout, (v) => validateNumber(v, `${name}.timeout`, positive)) ?? defaultResumeOptions.timeout,
    minDelay: optional(o.minDelay, (v) => validateNumber(v, `${name}.minDelay`, { min: 0 })) ?? defaultResumeOptions.minDelay,
    maxDelay: optional(o.maxDelay, (v) => validateNumber(v, `${name}.maxDelay`, { min: 0 })) ?? defaultResumeOptions.maxDelay,
  }
  return { ...resolved, maxDelay: Math.max(resolved.minDelay, resolved.maxDelay) }
}

/**
 * Waits for the first message on `ws` (before any transport is attached) and hands it to `take`,
 * synchronously inside ws's message event, so that whatever follows in the same read already finds
 * the session's transport. Rejects if the socket closes or fails first.
 */
export function firstMessage<T>(ws: WebSocket, take: (message: ResumeMessage | undefined) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      ws.off('message', onMessage)
      ws.off('close', onClose)
      ws.off('error', onError)
    }
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      stop()
      try {
        resolve(take(isBinary ? undefined : parseResumeMessage(data)))
      } catch (error) {
        reject(error)
      }
    }
    const onClose = (code: number, reason: Buffer): void => {
      stop()
      reject(code === refusal.unknown || code === refusal.attached
        ? new ResumeRefusedError(reason.toString() || 'The server refused to resume the session.', code)
        : new HandshakeError(`The connection closed during the resume handshake (${code}).`))
    }
    const onError = (error: Error): void => {
      stop()
      reject(new HandshakeError(`The resume handshake failed: ${error.message}`, undefined, { cause: error }))
    }
    ws.on('message', onMessage)
    ws.on('close', onClose)
    ws.on('error', onError)
  })
}

/**
 * A client's side of a new session: sends `hello` on the open socket and makes the session from the
 * server's `welcome`. `reconnect` opens a new socket and resumes on it (see {@link resumeOn}).
 */
export function startClientSession(
  ws: WebSocket,
  window: number,
  resume: Required<ResumeOptions>,
  reconnect: (session: ResumeSession, signal: AbortSignal) => Promise<void>,
): Promise<ResumeSession> {
  const session = firstMessage(ws, (message) => {
    if (message?.type !== 'welcome') throw new HandshakeError('The server accepted the resume subprotocol but did not welcome the session.')
    const s = new ResumeSession({
      leg: wsLeg(ws),
      peerWindow: message.window,
      timeout: resume.timeout,
      reconnect: { minDelay: resume.minDelay, maxDelay: resume.maxDelay, attempt: reconnect },
    })
    s.token = message.token
    return s
  })
  ws.send(resumeMessage({ type: 'hello', window }))
  return session
}

/**
 * A client's resumption on a newly opened socket: sends `resume` with the session's token and what
 * it has received, and adopts the socket once the server answers `resumed` (with a new token).
 */
export function resumeOn(ws: WebSocket, session: ResumeSession, window: number): Promise<void> {
  const resumed = firstMessage(ws, (message) => {
    if (message?.type !== 'resumed') throw new ResumeRefusedError('The server did not resume the session.', refusal.unknown)
    session.token = message.token
    session.adopt(wsLeg(ws), message.received)
  })
  ws.send(resumeMessage({ type: 'resume', token: session.token, received: session.received, window }))
  return resumed
}

/** Why a server refused a resumption (for `'resumeRefused'` and the metrics). */
export type ResumeRefusal = 'unknown' | 'attached' | 'malformed'

interface SessionRecord {
  session: ResumeSession
  secret: Buffer
  /**
   * The secret the client presented at the last resumption, still good until the client shows it
   * has the new one: a cut can take the `resumed` answer (and the new token in it) with it, and the
   * client then tries again with the token it has.
   */
  previous: Buffer | undefined
}

const SECRET_BYTES = 16 // 128 bits
const ID_BYTES = 9

/**
 * A server's live sessions, by id. A token is `id.secret`: the id finds the record (it is not
 * secret), the secret is compared in constant time, and each resumption issues a new secret, so a
 * token works once. A session leaves the record when its connection ends.
 */
export class ResumeRegistry {
  readonly #sessions = new Map<string, SessionRecord>()

  constructor(readonly options: Required<ResumeOptions>) {}

  get size(): number {
    return this.#sessions.size
  }

  /** A new session on `ws` and its first token. */
  create(ws: WebSocket, peerWindow: number): { session: ResumeSession; token: string } {
    let id: string
    do id = randomBytes(ID_BYTES).toString('base64url')
    while (this.#sessions.has(id))
    const record: SessionRecord = {
      session: new ResumeSession({
        leg: wsLeg(ws),
        peerWindow,
        timeout: this.options.timeout,
        onEnd: () => {
          if (this.#sessions.get(id) === record) this.#sessions.delete(id)
        },
      }),
      secret: randomBytes(SECRET_BYTES),
      previous: undefined,
    }
    this.#sessions.set(id, record)
    return { session: record.session, token: `${id}.${record.secret.toString('base64url')}` }
  }

  /**
   * The session `token` names, with its next token; or why not. A live session with a socket still
   * attached is not handed to a second client. The token the client resumed with stays good until
   * `confirm()` (call it when the client is heard on the new socket, which it only uses once it has
   * the new token): until then the answer carrying the new token may have been lost to a cut.
   */
  claim(token: string): { session: ResumeSession; token: string; confirm: () => void } | { refused: ResumeRefusal; session?: ResumeSession } {
    const dot = token.indexOf('.')
    const record = dot > 0 ? this.#sessions.get(token.slice(0, dot)) : undefined
    const presented = Buffer.from(token.slice(dot + 1), 'base64url')
    const matches = (secret: Buffer | undefined): boolean => secret !== undefined && timingSafeEqual(presented, secret)
    if (record === undefined || record.session.ended || presented.length !== SECRET_BYTES || !(matches(record.secret) || matches(record.previous))) {
      return { refused: 'unknown' }
    }
    if (record.session.attached) return { refused: 'attached', session: record.session }
    const secret = randomBytes(SECRET_BYTES)
    record.secret = secret
    record.previous = presented
    const confirm = (): void => {
      if (record.secret === secret) record.previous = undefined
    }
    return { session: record.session, token: `${token.slice(0, dot)}.${secret.toString('base64url')}`, confirm }
  }
}
