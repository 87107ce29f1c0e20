/**
 * WsStreamServer: a WebSocket server whose every accepted connection is a {@link WsStream},
 * each one a connection actor started as a child of the server's own actor (the server machine).
 *
 * @module
 */
import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type ServerOptions, type VerifyClientCallbackAsync, type VerifyClientCallbackSync, type WebSocket } from 'ws'
import { createActor, toPromise, type Actor, type InspectionEvent, type Observer } from 'xstate'
import {
  canAccept,
  countConnections,
  serverMachine as pureServerMachine,
  type ConnectionCounts,
  type DrainReport,
} from '../machines/server.js'
import { AsyncQueue } from './async-queue.js'
import { assertCloseFrame } from './close-code.js'
import { connectionMachine } from './machine.js'
import { resolveOptions, type KeepAliveOptions, type ResolvedOptions, type WsStreamOptions } from './options.js'
import { firstMessage, resolveResumeOptions, ResumeRegistry, type ResumeRefusal } from './resume.js'
import { WsStream } from './stream.js'
import { refusal, resumeMessage, resumeProtocol, type ResumeOptions, type ResumeSession } from './transport/resume.js'
import { wsLeg } from './transport/ws.js'
import { invalidArgType, optional, outOfRange, validateBoolean, validateFunction, validateNumber, validateObject, validateString } from './validate.js'

/**
 * The server machine with the ws-ready connection machine provided: each child it spawns takes
 * a ws WebSocket as `input.socket`.
 */
export const serverMachine = pureServerMachine.provide({
  actors: { connection: connectionMachine },
})

/** The server's actor. */
export type ServerActor = Actor<typeof serverMachine>

/**
 * Serves one connection: see {@link WsStreamServerOptions.handler}. Return (or await) everything
 * the connection's work depends on (a `pipeline()`, a read loop), so that its failure is caught.
 */
export type ConnectionHandler = (stream: WsStream, request: IncomingMessage) => unknown

/** What a `'connectionError'` event says besides the error: which connection failed. */
export interface ConnectionErrorInfo {
  /** The connection's id (`c1`, `c2`, …; its actor id). */
  id: string
  /** The connection, aborted by now unless it had closed already. */
  stream: WsStream
  /** Its HTTP upgrade request. */
  request: IncomingMessage
}

/** Options of {@link WsStreamServer}: ws's server options with safer defaults, and ours. */
export interface WsStreamServerOptions extends Omit<ServerOptions, 'WebSocket'> {
  /**
   * Serves each accepted connection, contained: if it throws or its promise rejects (a client that
   * reset, broke the protocol, sent too much), the server emits `'connectionError'` once with the
   * error and the connection, aborts the connection if it is still open, and keeps serving.
   * Without a `'connectionError'` listener the failure is logged to stderr with `console.error`.
   * The connection is left as it is when the handler settles normally (close it, or let the peer).
   * The `'connection'` event and `for await (const stream of server)` still see every connection.
   */
  handler?: ConnectionHandler
  /**
   * Options of every accepted connection. `keepAlive` defaults to `{ interval: 30000, timeout: 10000 }`
   * here (a server should notice dead peers); set it to `false` to turn it off. `id` and `inspect`
   * are per-actor and do not apply: use the server's `inspect`, which sees every connection.
   */
  stream?: WsStreamOptions
  /** Connections open at once; an upgrade over it is refused with HTTP 503 (default: no limit). */
  maxConnections?: number
  /**
   * Milliseconds an upgrade may take: the request headers (with `port`) and an asynchronous
   * `verifyClient` must finish within it, else 408 (default 10000).
   */
  handshakeTimeout?: number
  /**
   * Passed to XState's `createActor` for the server's actor: sees the whole actor system, every
   * connection included (e.g. `createWebSocketInspector(…).inspect` from `@statelyai/inspect`).
   */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
  /** ws's largest incoming message, in bytes (default 1 MiB here; ws's own is 100 MiB). */
  maxPayload?: number
  /** Compression; off unless asked (default false). */
  perMessageDeflate?: ServerOptions['perMessageDeflate']
  /**
   * Resumable streams (`true` for the defaults): a client that offers the subprotocol
   * `ws-stream.resume.v1` gets a session that survives a dropped connection; the server keeps an
   * interrupted session `timeout` ms (default 30000) for its client to come back, then ends it as a
   * reset. Other clients get plain streams. See docs/resume.md.
   */
  resume?: boolean | Pick<ResumeOptions, 'timeout'>
}

/** Options of {@link WsStreamServer.close}. */
export interface ServerCloseOptions {
  /** Milliseconds connections have to finish the close handshake before they are terminated (default 5000). */
  timeout?: number
  /** The close code sent to every connection (default 1001). */
  code?: number
  /** The close reason sent to every connection (default 'Going Away'). */
  reason?: string
}

/** The events of {@link WsStreamServer}. */
export interface WsStreamServerEvents {
  /** A connection was accepted; `request` is the HTTP upgrade request. */
  connection: [stream: WsStream, request: IncomingMessage]
  /** The `handler` of one connection threw or rejected; the connection was aborted, the server serves on. */
  connectionError: [error: unknown, connection: ConnectionErrorInfo]
  /**
   * The HTTP server failed, listening included. A failure to listen with no `'error'` listener and
   * nobody having taken `server.listening` is thrown, as `net.Server` does (see {@link WsStreamServer.listening}).
   */
  error: [error: Error]
  /** An upgrade was refused with HTTP `status` (503 when full or draining, the user's verifyClient's own, 408). */
  refused: [status: number, request: IncomingMessage]
  /** The server stopped after a drain. */
  close: [report: DrainReport]
  /**
   * A resumable session's handshake was refused: `'unknown'` token (forged, expired, used, or its
   * session ended), session `'attached'` to a live connection, or a `'malformed'` handshake.
   */
  resumeRefused: [reason: ResumeRefusal, request: IncomingMessage]
}

/** Connections' default keep-alive on a server. */
export const defaultServerKeepAlive: Readonly<KeepAliveOptions> = Object.freeze({ interval: 30_000, timeout: 10_000 })

const MiB = 1024 * 1024

/**
 * A WebSocket server of byte streams. Give it `{ port, host }` to listen, `{ server }` to share an
 * existing http/https server, or `{ noServer: true }` and call {@link handleUpgrade} yourself.
 * Every accepted connection is a child actor of {@link actor} and a {@link WsStream}.
 */
export class WsStreamServer extends EventEmitter<WsStreamServerEvents> implements AsyncIterable<WsStream> {
  /** The server's actor (the server machine): one child per connection, ids `c1`, `c2`, … */
  readonly actor: ServerActor
  readonly #listening: Promise<void>
  #listeningTaken = false
  #iterated = false
  #listenError: Error | undefined
  readonly #handler: ConnectionHandler | undefined
  readonly #wss: WebSocketServer
  readonly #httpServer: HttpServer | HttpsServer | undefined
  readonly #ownsHttpServer: boolean
  readonly #streamOptions: ResolvedOptions
  readonly #connections = new Set<WsStream>()
  readonly #iterators = new Set<AsyncQueue<WsStream>>()
  #nextId = 0
  #closing: Promise<DrainReport> | undefined
  readonly #resume: ResumeRegistry | undefined
  /** Sockets that chose the resume subprotocol and have not said hello or resume yet. */
  readonly #handshaking = new Set<WebSocket>()
  readonly #handshakeTimeout: number

  /** @param options ws's server options (`port`/`server`/`noServer` and the rest) plus ours. */
  constructor(options: WsStreamServerOptions) {
    super()
    checkServerOptions(options)
    const {
      stream = {},
      maxConnections,
      handshakeTimeout = 10_000,
      inspect,
      verifyClient,
      handler,
      port,
      host,
      backlog,
      server,
      noServer,
      resume,
      handleProtocols,
      ...wsOptions
    } = options
    this.#handler = handler
    this.#handshakeTimeout = handshakeTimeout
    const resumeOptions = resolveResumeOptions(resume, 'options.resume')
    this.#resume = resumeOptions === undefined ? undefined : new ResumeRegistry(resumeOptions)
    resolveOptions(stream, 'options.stream') // `id` and `inspect` do not apply here, but nonsense in them is still an error
    const { id: _id, inspect: _inspect, ...perConnection } = stream
    // Resolved (and checked) here, once: every connection takes this frozen object as it is.
    this.#streamOptions = resolveOptions({ ...perConnection, keepAlive: stream.keepAlive ?? defaultServerKeepAlive }, 'options.stream')

    this.actor = createActor(serverMachine, {
      input: maxConnections === undefined ? {} : { maxConnections },
      ...(inspect ? { inspect } : {}),
    })
    this.actor.start()

    if (port !== undefined) {
      // Our own HTTP server rather than ws's, so that the handshake has a deadline.
      const httpServer = createServer({
        headersTimeout: handshakeTimeout,
        requestTimeout: handshakeTimeout,
        connectionsCheckingInterval: Math.min(1000, handshakeTimeout),
      }, (_req, res) => {
        res.writeHead(426, { 'Content-Type': 'text/plain' }).end('Upgrade Required')
      })
      this.#httpServer = httpServer
      this.#ownsHttpServer = true
      this.#listening = listen(httpServer, () => httpServer.listen({ port, host, backlog }))
    } else {
      this.#httpServer = server
      this.#ownsHttpServer = false
      this.#listening = server === undefined || server.listening ? Promise.resolve() : listen(server)
    }
    this.#listening.catch((error: Error) => this.#failedToListen(error))

    this.#wss = new WebSocketServer({
      clientTracking: false,
      ...wsOptions,
      maxPayload: wsOptions.maxPayload ?? MiB,
      perMessageDeflate: wsOptions.perMessageDeflate ?? false,
      ...(this.#httpServer ? { server: this.#httpServer } : { noServer: true }),
      verifyClient: this.#verifyClient(verifyClient, handshakeTimeout),
      handleProtocols: chooseProtocol(this.#resume !== undefined, handleProtocols),
    })
    this.#wss.on('connection', (socket, request) => this.#accepted(socket, request))
    // ws forwards the HTTP server's errors here; a failure to listen is #failedToListen's to report.
    this.#wss.on('error', (error) => {
      const bindFailure = this.#listenError === undefined && this.#httpServer?.listening === false
      if (!bindFailure && this.listenerCount('error') > 0) this.emit('error', error)
    })
  }

  /**
   * Resolves once the server listens (at once with `noServer`); rejects if it cannot (e.g.
   * `EADDRINUSE`), and then the server actor is in its final `failed` state with the error in its
   * context. Like `net.Server`, a failure to listen is never silent: unless this promise was taken
   * (read this property before the failure, e.g. `await server.listening`), an `'error'` listener
   * exists or a `for await` loop iterates the server, the error is thrown as an uncaught
   * exception one turn after the failure.
   */
  get listening(): Promise<void> {
    this.#listeningTaken = true
    return this.#listening
  }

  /** The server could not listen: the actor says so, and someone hears of it (see {@link listening}). */
  #failedToListen(error: Error): void {
    this.#listenError = error
    if (this.actor.getSnapshot().status === 'active') this.actor.send({ type: 'listenFailed', error })
    for (const queue of this.#iterators) queue.fail(error)
    if (this.listenerCount('error') > 0) {
      this.emit('error', error)
      return
    }
    // One turn of grace for a listener added just after the failure; then, like net.Server, throw.
    setImmediate(() => {
      if (this.#listeningTaken || this.#iterated) return
      if (this.listenerCount('error') > 0) this.emit('error', error)
      else throw error
    })
  }

  /** The accepted connections that are not closed yet. */
  get connections(): ReadonlySet<WsStream> {
    return this.#connections
  }

  /** The live connections by state (`connecting`, `open`, `interrupted`, `closingSent`, `closingReceived`) and their total. */
  get counts(): ConnectionCounts {
    return countConnections(this.actor.getSnapshot())
  }

  /** The address the server listens on (as `net.Server.address()`); throws with `noServer`. */
  address(): AddressInfo | string {
    if (this.#httpServer === undefined) throw new Error('The server is operating in "noServer" mode')
    const address = this.#httpServer.address()
    if (address === null) throw new Error('The server is not listening')
    return address
  }

  /**
   * With `noServer`: completes (or refuses) the WebSocket upgrade of `request`, e.g. from your
   * HTTP server's `'upgrade'` event. The accepted connection arrives as a `'connection'` event.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accepted(ws, request))
  }

  /**
   * Stops accepting, sends every connection a Close (1001 "Going Away" by default), waits up to
   * `timeout` ms for their handshakes, terminates the rest, and resolves with how many closed
   * cleanly and how many did not. Calling it again returns the same promise.
   */
  close({ timeout, code = 1001, reason = 'Going Away' }: ServerCloseOptions = {}): Promise<DrainReport> {
    if (this.#closing) return this.#closing
    assertCloseFrame(code, reason)
    optional(timeout, (v) => validateNumber(v, 'options.timeout', { min: 0 }))
    const stopListening = this.#ownsHttpServer ? closeServer(this.#httpServer!) : Promise.resolve()
    // A server that failed to listen has stopped already (its actor is in `failed`).
    if (this.actor.getSnapshot().status === 'active') {
      this.actor.send({ type: 'drain', code, reason, ...(timeout === undefined ? {} : { timeout }) })
    }
    for (const socket of this.#handshaking) socket.terminate()
    this.#closing = (async () => {
      const report = await toPromise(this.actor)
      for (const queue of this.#iterators) queue.end()
      await new Promise<void>((resolve) => this.#wss.close(() => resolve()))
      if (this.#ownsHttpServer) this.#httpServer!.closeAllConnections()
      await stopListening
      this.emit('close', report)
      return report
    })()
    return this.#closing
  }

  /** Yields each connection accepted from now on, until the server closes. */
  [Symbol.asyncIterator](): AsyncIterator<WsStream> {
    this.#iterated = true
    const queue: AsyncQueue<WsStream> = new AsyncQueue({ onEnd: () => this.#iterators.delete(queue) })
    if (this.#listenError) queue.fail(this.#listenError)
    else if (this.#closing) queue.end()
    else this.#iterators.add(queue)
    return queue
  }

  /** ws's verifyClient: the user's check first, then ours, so that nothing runs between our yes and the upgrade. */
  #verifyClient(
    user: VerifyClientCallbackAsync | VerifyClientCallbackSync | undefined,
    handshakeTimeout: number,
  ): VerifyClientCallbackAsync {
    return (info, callback) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      let decided = false
      const decide = (verified: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders): void => {
        if (decided) return
        decided = true
        clearTimeout(timer)
        if (!verified) {
          this.emit('refused', code ?? 401, info.req)
          return callback(false, code ?? 401, message, headers)
        }
        // ws completes the upgrade synchronously after this callback: the count cannot change in between.
        if (!canAccept(this.actor.getSnapshot())) {
          this.emit('refused', 503, info.req)
          return callback(false, 503, 'Service Unavailable')
        }
        callback(true)
      }
      if (user === undefined) return decide(true)
      if (user.length < 2) return decide((user as VerifyClientCallbackSync)(info))
      timer = setTimeout(() => decide(false, 408, 'Request Timeout'), handshakeTimeout)
      ;(user as VerifyClientCallbackAsync)(info, decide)
    }
  }

  /** An upgraded socket: a resumable session's (once it says hello or resume), else a plain connection. */
  #accepted(socket: WebSocket, request: IncomingMessage): void {
    if (this.#resume !== undefined && socket.protocol === resumeProtocol) this.#resumeHandshake(this.#resume, socket, request)
    else this.#adopt(socket, request)
  }

  /**
   * The first message of a resumable client: `hello` starts a session (a new connection), `resume`
   * brings an interrupted one back on this socket (no new connection: the same stream carries on).
   * Anything else, or nothing within the handshake timeout, is refused.
   */
  #resumeHandshake(registry: ResumeRegistry, socket: WebSocket, request: IncomingMessage): void {
    this.#handshaking.add(socket)
    const timer = setTimeout(() => socket.terminate(), this.#handshakeTimeout)
    const refuse = (reason: ResumeRefusal, code: number, text: string): void => {
      socket.close(code, text)
      this.emit('resumeRefused', reason, request)
    }
    firstMessage(socket, (message) => {
      clearTimeout(timer)
      this.#handshaking.delete(socket)
      if (this.#closing) return socket.close(1001, 'Going Away')
      if (message?.type === 'hello') {
        const { session, token } = registry.create(socket, message.window)
        socket.send(resumeMessage({ type: 'welcome', token, window: this.#streamOptions.writeHighWaterMark }))
        return this.#adopt(session, request)
      }
      if (message?.type !== 'resume') return refuse('malformed', 1002, 'Bad resume handshake')
      const claim = registry.claim(message.token)
      if ('refused' in claim) {
        if (claim.refused === 'attached') {
          // Usually the old connection is dead and only we have not noticed yet: look, so the client's
          // next attempt finds the session free; a live one answers the ping and keeps its session.
          claim.session?.probe()
          return refuse('attached', refusal.attached, 'Session attached elsewhere')
        }
        return refuse('unknown', refusal.unknown, 'Unknown session')
      }
      socket.send(resumeMessage({ type: 'resumed', token: claim.token, received: claim.session.received }))
      try {
        claim.session.adopt(wsLeg(socket), message.received)
      } catch {
        refuse('malformed', 1002, 'Bad resume offset')
        return
      }
      // The client sends nothing on this socket before it has the new token (it acknowledges at once).
      socket.once('message', claim.confirm)
    }).catch(() => {
      // Closed or failed before its first message: nothing was started.
      clearTimeout(timer)
      this.#handshaking.delete(socket)
    })
  }

  /** Turns an upgraded socket into a connection child of the server's actor and its WsStream. */
  #adopt(socket: WebSocket | ResumeSession, request: IncomingMessage): void {
    const id = `c${++this.#nextId}`
    this.actor.send({ type: 'connection.accept', id, input: { socket, options: this.#streamOptions } })
    const child = this.actor.getSnapshot().context.connections[id]
    if (child === undefined) {
      // Only a noServer upgrade that skipped our check (or raced a drain) gets here.
      socket.close(1013, 'Try Again Later')
      return
    }
    const stream = WsStream.fromActor(child)
    this.#connections.add(stream)
    void stream.closed.then(() => this.#connections.delete(stream))
    for (const queue of this.#iterators) queue.push(stream)
    this.emit('connection', stream, request)
    if (this.#handler) this.#serve(this.#handler, { id, stream, request })
  }

  /** Runs the handler for one connection; its failure is contained to that connection. */
  #serve(handler: ConnectionHandler, connection: ConnectionErrorInfo): void {
    let result: unknown
    try {
      result = handler(connection.stream, connection.request)
    } catch (error) {
      this.#connectionFailed(error, connection)
      return
    }
    if (isPromiseLike(result)) result.then(undefined, (error: unknown) => this.#connectionFailed(error, connection))
  }

  #connectionFailed(error: unknown, connection: ConnectionErrorInfo): void {
    if (connection.stream.state !== 'closed') connection.stream.abort(error)
    if (this.listenerCount('connectionError') > 0) this.emit('connectionError', error, connection)
    else console.error(`ws-stream-actor: the handler of connection ${connection.id} failed:`, error)
  }
}

/**
 * ws's handleProtocols: the resume subprotocol when resume is on and the client offers it; never
 * otherwise (ws's default would pick any first offer, and a client would then think it resumable).
 * The rest is the user's choice, or ws's default (the first offered).
 */
function chooseProtocol(
  resume: boolean,
  user: ServerOptions['handleProtocols'],
): NonNullable<ServerOptions['handleProtocols']> {
  return (protocols, request) => {
    if (resume && protocols.has(resumeProtocol)) return resumeProtocol
    const others = new Set([...protocols].filter((p) => p !== resumeProtocol))
    if (user !== undefined) return user(others, request)
    const [first] = others
    return first ?? false
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
}

/** Checks the server's options (ws's own included where ws would accept nonsense silently). */
function checkServerOptions(options: WsStreamServerOptions): void {
  const o = validateObject<WsStreamServerOptions>(options, 'options')
  const { port, server, noServer } = o
  if ([port !== undefined, server !== undefined, noServer === true].filter(Boolean).length !== 1) {
    throw invalidArgType('options', 'an object with exactly one of port, server or noServer: true', options)
  }
  optional(port, (v) => {
    // Node takes a port as a number or a string of digits.
    const number = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
    if (typeof number === 'string') throw outOfRange('options.port', 'an integer >= 0 and <= 65535', v)
    if (typeof number !== 'number') throw invalidArgType('options.port', 'of type number or string', v)
    validateNumber(number, 'options.port', { min: 0, max: 65535, integer: true })
  })
  optional(o.host, (v) => validateString(v, 'options.host'))
  optional(o.backlog, (v) => validateNumber(v, 'options.backlog', { min: 0, integer: true }))
  optional(server, (v) => {
    const s = validateObject<{ listen?: unknown; on?: unknown }>(v, 'options.server')
    if (typeof s.listen !== 'function' || typeof s.on !== 'function') throw invalidArgType('options.server', 'an http.Server or https.Server', v)
  })
  optional(noServer, (v) => validateBoolean(v, 'options.noServer'))
  optional(o.maxConnections, (v) => validateNumber(v, 'options.maxConnections', { min: 0, integer: true, allowInfinity: true }))
  optional(o.handshakeTimeout, (v) => validateNumber(v, 'options.handshakeTimeout', { min: 0, minExclusive: true }))
  optional(o.maxPayload, (v) => validateNumber(v, 'options.maxPayload', { min: 1, integer: true }))
  optional(o.handler, (v) => validateFunction(v, 'options.handler'))
  optional(o.verifyClient, (v) => validateFunction(v, 'options.verifyClient'))
  optional(o.handleProtocols, (v) => validateFunction(v, 'options.handleProtocols'))
  optional(o.path, (v) => validateString(v, 'options.path'))
  optional(o.clientTracking, (v) => validateBoolean(v, 'options.clientTracking'))
  optional(o.skipUTF8Validation, (v) => validateBoolean(v, 'options.skipUTF8Validation'))
  optional(o.perMessageDeflate, (v) => {
    if (typeof v !== 'boolean' && (v === null || typeof v !== 'object')) throw invalidArgType('options.perMessageDeflate', 'of type boolean or object', v)
  })
  optional(o.inspect, (v) => {
    if (typeof v !== 'function' && (v === null || typeof v !== 'object')) throw invalidArgType('options.inspect', 'of type function or an observer object', v)
  })
  optional(o.stream, (v) => validateObject(v, 'options.stream'))
  resolveResumeOptions(o.resume, 'options.resume')
}

/** Resolves once `server` listens (calling `start` to begin), rejects on its first error before that. */
function listen(server: HttpServer | HttpsServer, start?: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening)
      reject(error)
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    start?.()
  })
}

/** Stops `server` listening; resolves once its last connection is gone. */
function closeServer(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    server.closeIdleConnections()
  })
}
