/**
 * The admin dashboard: `GET /` on the admin address, one self-contained page (its script, its styles
 * and Mermaid's build are served from here; nothing from other hosts) that lists the live connections,
 * draws a selected connection's machine from the machine's own definition with its current state
 * highlighted, shows the server machine and the drain's progress, and updates over server-sent
 * events (`GET /events`).
 *
 * Deltas, not the list: every `interval` the viewers get one message with the connections added,
 * changed (state, paused) and closed since the last, and every fourth one the byte counts that moved.
 * Each viewer has a bounded buffer (`maxViewerBuffer`): while its socket's buffer is over it, its
 * messages are dropped and counted, and once the socket drains it gets a fresh snapshot. A slow page
 * costs the server at most that many bytes and never a wait.
 *
 * `POST /drain` exists only with a `token`, and requires `Authorization: Bearer <token>`.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { pureConnectionMachine, type WsEvent } from '../machines/connection.js'
import type { AdminRoute } from './admin.js'
import { describe } from './cli/report.js'
import { highlighted, machineJSON, mermaid, statePath } from './diagram.js'
import { formatAddress } from './metrics.js'
import { pageHtml, pageScript } from './dashboard-page.js'
import { serverMachine, type WsStreamServer } from './server.js'
import type { WsStream } from './stream.js'

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /** With a token, the page offers a drain button and `POST /drain` drains with `Authorization: Bearer <token>`. */
  token?: string
  /** What a drain does (default `server.close()`; the CLI drains as on SIGTERM). */
  drain?: () => void
  /** Bytes a viewer's socket may hold unsent before its messages are dropped (default 1 MiB). */
  maxViewerBuffer?: number
  /** Milliseconds between two deltas (default 250). */
  interval?: number
}

/** One connection as the dashboard lists it. */
export interface DashboardRow {
  id: string
  remoteAddress: string
  /** The state with its substate, `closingReceived.flushing`. */
  state: string
  bytesIn: number
  bytesOut: number
  paused: boolean
  /** `performance.now()` milliseconds at the accept, for the age. */
  acceptedAt: number
}

/** One viewer of `GET /events`, as {@link Dashboard.viewers} reports it. */
export interface DashboardViewer {
  /** Bytes its socket holds unsent now, and the most it has held. */
  buffered: number
  maxBuffered: number
  /** Messages dropped because it was behind. */
  dropped: number
}

/** The dashboard of one server (see {@link createDashboard}). */
export interface Dashboard {
  /** The routes, for {@link AdminOptions.routes}: `GET /`, `GET /events`, `GET /connection`, `GET /assets/*`, and `POST /drain` with a token. */
  readonly routes: Record<string, AdminRoute>
  /** The viewers attached now. */
  viewers(): DashboardViewer[]
  /** Stops observing the server and ends every viewer's stream. */
  close(): void
}

/** Events remembered per connection. */
const EVENT_LOG = 30
/** Closed connections remembered for the detail view. */
const CLOSED_KEPT = 100
/** Samples of the per-state counts: one every 2 s for 6 minutes. */
const HISTORY = 180
const SAMPLE_MS = 2000

interface Tracked {
  row: DashboardRow
  stream: WsStream
  events: { at: number; type: WsEvent['type']; text: string }[]
  sent: { bytesIn: number; bytesOut: number }
  /** Reads the byte counts and the pause into `row`. */
  update: () => void
  unsubscribe: () => void
}

interface Viewer {
  response: ServerResponse
  dropped: number
  maxBuffered: number
  /** Waiting for the socket to drain, to send a snapshot. */
  behind: boolean
}

const require = createRequire(import.meta.url)

/**
 * The dashboard of `server`. Mount its routes on the admin address:
 *
 * ```ts
 * const dashboard = createDashboard(server, { token: process.env.ADMIN_TOKEN })
 * http.createServer(adminHandler(server, { routes: dashboard.routes })).listen(9090, '127.0.0.1')
 * ```
 */
export function createDashboard(server: WsStreamServer, options: DashboardOptions = {}): Dashboard {
  const { token, drain = () => void server.close(), maxViewerBuffer = 1024 * 1024, interval = 250 } = options
  const tracked = new Map<string, Tracked>()
  const closed = new Map<string, Tracked>()
  const viewers = new Set<Viewer>()
  const history: { at: number; counts: Record<string, number> }[] = []
  const pending = { added: new Set<string>(), changed: new Set<string>(), closed: new Set<string>() }
  const diagrams = { connection: mermaid(machineJSON(pureConnectionMachine), { notes: false }).body, server: mermaid(machineJSON(serverMachine), { notes: false }).body }
  let drainInfo: { startedAt: number; startedWith: number } | undefined
  let serverState = ''
  let ticks = 0

  const now = (): number => performance.now()
  const onConnection = (stream: WsStream, request: IncomingMessage): void => {
    const id = stream.actor.id
    const io = stream.actor.getSnapshot().context.io
    const t: Tracked = {
      row: { id, remoteAddress: formatAddress(request.socket.remoteAddress, request.socket.remotePort), state: stream.state, bytesIn: 0, bytesOut: 0, paused: false, acceptedAt: now() },
      stream,
      events: [{ at: Date.now(), type: 'state', text: `accepted from ${formatAddress(request.socket.remoteAddress, request.socket.remotePort)} (${stream.state})` }],
      sent: { bytesIn: 0, bytesOut: 0 },
      update: () => {
        t.row.bytesIn = io.readBuffer.bytesIn
        t.row.bytesOut = io.writeQueue.bytesOut
        t.row.paused = io.readBuffer.paused
      },
      unsubscribe: () => {},
    }
    tracked.set(id, t)
    pending.added.add(id)
    t.unsubscribe = stream.on('*', (event) => {
      t.events.push({ at: Date.now(), type: event.type, text: describe(event) })
      if (t.events.length > EVENT_LOG) t.events.shift()
      if (event.type === 'closed') {
        t.update()
        t.row.state = 'closed'
        t.unsubscribe()
        tracked.delete(id)
        closed.set(id, t)
        if (closed.size > CLOSED_KEPT) closed.delete(closed.keys().next().value!)
        if (!pending.added.delete(id)) pending.closed.add(id)
        pending.changed.delete(id)
        return
      }
      if (event.type === 'state' || event.type === 'paused' || event.type === 'resumed') pending.changed.add(id)
    })
  }
  server.on('connection', onConnection)

  const stateOf = (t: Tracked): string => {
    const snapshot = t.stream.actor.getSnapshot()
    return snapshot.status === 'active' ? statePath(snapshot.value) : 'closed'
  }
  const counts = (): Record<string, number> => {
    const c: Record<string, number> = { connecting: 0, open: 0, interrupted: 0, closingSent: 0, closingReceived: 0 }
    for (const t of tracked.values()) {
      const top = t.row.state.split('.')[0]!
      if (top in c) c[top]!++
    }
    return c
  }
  /** The server's state and drain; with its highlighted diagram when `drawn` (the state moved). */
  const serverStatus = (drawn = true): object => {
    const snapshot = server.actor.getSnapshot()
    const state = statePath(snapshot.value)
    if (state !== 'listening' && drainInfo === undefined) drainInfo = { startedAt: now(), startedWith: tracked.size }
    return {
      state,
      ...(drawn ? { diagram: highlighted(diagrams.server, state) } : {}),
      drain: drainInfo && { elapsedMs: Math.round(now() - drainInfo.startedAt), startedWith: drainInfo.startedWith, remaining: tracked.size, timeoutMs: snapshot.context.drain.timeout },
    }
  }
  const rowOf = (t: Tracked): DashboardRow => {
    t.update()
    t.sent.bytesIn = t.row.bytesIn
    t.sent.bytesOut = t.row.bytesOut
    return { ...t.row, acceptedAt: Math.round(t.row.acceptedAt) }
  }
  const snapshotMessage = (dropped: number): string => sse('snapshot', {
    now: Math.round(now()),
    rows: [...tracked.values()].map(rowOf),
    history,
    server: serverStatus(),
    token: token !== undefined,
    dropped,
  })

  const write = (viewer: Viewer, message: string): void => {
    const { response } = viewer
    if (viewer.behind || response.writableLength > maxViewerBuffer) {
      viewer.dropped++
      if (!viewer.behind) {
        viewer.behind = true
        response.once('drain', () => {
          viewer.behind = false
          response.write(snapshotMessage(viewer.dropped))
        })
      }
      return
    }
    response.write(message)
    viewer.maxBuffered = Math.max(viewer.maxBuffered, response.writableLength)
  }

  const flush = (): void => {
    ticks++
    if (ticks % (SAMPLE_MS / interval) === 0 || history.length === 0) {
      history.push({ at: Math.round(now()), counts: counts() })
      if (history.length > HISTORY) history.shift()
    }
    // Substates (closingReceived.flushing) move without a `state` event: look at the closing ones.
    for (const t of tracked.values()) {
      const state = stateOf(t)
      if (state !== t.row.state) {
        t.row.state = state
        pending.changed.add(t.row.id)
      }
    }
    const state = statePath(server.actor.getSnapshot().value)
    const serverMoved = state !== serverState
    serverState = state
    const bytes: [string, number, number][] = []
    if (ticks % 4 === 0) {
      for (const t of tracked.values()) {
        t.update()
        if (t.row.bytesIn === t.sent.bytesIn && t.row.bytesOut === t.sent.bytesOut) continue
        t.sent.bytesIn = t.row.bytesIn
        t.sent.bytesOut = t.row.bytesOut
        bytes.push([t.row.id, t.row.bytesIn, t.row.bytesOut])
      }
    }
    const empty = pending.added.size + pending.changed.size + pending.closed.size + bytes.length === 0
    if (viewers.size === 0 || (empty && !serverMoved && drainInfo === undefined && ticks % 4 !== 0)) {
      pending.added.clear(); pending.changed.clear(); pending.closed.clear()
      return
    }
    const message = sse('delta', {
      now: Math.round(now()),
      added: [...pending.added].flatMap((id) => { const t = tracked.get(id); return t ? [rowOf(t)] : [] }),
      changed: [...pending.changed].flatMap((id) => { const t = tracked.get(id); return t ? [{ id, state: t.row.state, paused: t.row.paused }] : [] }),
      closed: [...pending.closed],
      bytes,
      sample: history.at(-1),
      server: serverStatus(serverMoved),
    })
    pending.added.clear(); pending.changed.clear(); pending.closed.clear()
    for (const viewer of viewers) write(viewer, message)
  }
  const timer = setInterval(flush, interval).unref()

  const routes: Record<string, AdminRoute> = {
    'GET /': (_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...securityHeaders }).end(pageHtml)
    },
    'GET /assets/dashboard.js': (_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', ...securityHeaders }).end(pageScript)
    },
    'GET /assets/mermaid.js': async (_request, response) => {
      const body = await readFile(require.resolve('mermaid/dist/mermaid.min.js'))
      response.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'max-age=3600' }).end(body)
    },
    'GET /connection': (request, response) => {
      const id = new URL(request.url ?? '/', 'http://x').searchParams.get('id') ?? ''
      const t = tracked.get(id) ?? closed.get(id)
      if (t === undefined) return json(response, 404, { error: `no connection ${id}` })
      const row = tracked.has(id) ? rowOf(t) : { ...rowOf(t), state: 'closed' }
      json(response, 200, { ...row, events: t.events, diagram: highlighted(diagrams.connection, row.state) })
    },
    'GET /events': (request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' })
      const viewer: Viewer = { response, dropped: 0, maxBuffered: 0, behind: false }
      viewers.add(viewer)
      response.write(snapshotMessage(0))
      const leave = (): void => { viewers.delete(viewer) }
      request.socket.once('close', leave)
      response.once('close', leave)
    },
  }
  if (token !== undefined) {
    const expected = createHash('sha256').update(token).digest()
    routes['POST /drain'] = (request, response) => {
      const header = request.headers.authorization
      if (header === undefined || !header.startsWith('Bearer ')) {
        response.setHeader('WWW-Authenticate', 'Bearer')
        return json(response, 401, { error: 'Authorization: Bearer <token> required' })
      }
      // Hashes of equal length, compared in constant time: the token's length leaks nothing either.
      const given = createHash('sha256').update(header.slice('Bearer '.length)).digest()
      if (!timingSafeEqual(given, expected)) return json(response, 403, { error: 'wrong token' })
      drain()
      json(response, 202, { draining: true })
    }
  }

  return {
    routes,
    viewers: () => [...viewers].map((v) => ({ buffered: v.response.writableLength, maxBuffered: v.maxBuffered, dropped: v.dropped })),
    close() {
      clearInterval(timer)
      server.off('connection', onConnection)
      for (const t of tracked.values()) t.unsubscribe()
      tracked.clear()
      for (const v of viewers) v.response.end()
      viewers.clear()
    },
  }
}

/** The page runs only its own script: no inline code, nothing from elsewhere. */
const securityHeaders = {
  'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  'X-Content-Type-Options': 'nosniff',
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(body))
}
