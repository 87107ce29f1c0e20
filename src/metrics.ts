/**
 * Prometheus metrics of a {@link WsStreamServer}, made with `prom-client`.
 *
 * Nothing here runs per message. Connection counts by state, bytes, read pauses and accepted
 * connections are read from the actors when the registry is scraped (prom-client's `collect()`);
 * the rest is counted at the few control points of a connection's life: accepted, first Close,
 * closed, a pong of the keep-alive, an upgrade refused. Labels are bounded: states, close codes
 * (numbers from 1000 to 4999), initiators, HTTP statuses; never a connection id.
 *
 * @module
 */
import { performance } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { CloseInfo, ConnectionIO, State } from '../machines/connection.js'
import type { WsStreamServer } from './server.js'
import type { WsStream } from './stream.js'

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /**
   * The registry the metrics are registered in: pass your own to serve them from your `/metrics`
   * beside your other metrics (default: a new registry of their own, `metrics.registry`).
   */
  registry?: Registry
  /** Prepended to every metric name (default `ws_stream_`; the names in the docs assume it). */
  prefix?: string
}

/** One live connection as `GET /connections` lists it. */
export interface ConnectionInfo {
  /** The connection's actor id (`c1`, `c2`, … per server). */
  id: string
  state: State
  /**
   * The peer's address and port as the server saw it (`127.0.0.1:53412`, `[::1]:53412`; `unknown`
   * when the socket was already gone the first time the connection was listed).
   */
  remoteAddress: string
  bytesIn: number
  bytesOut: number
  /** Whether reading is paused by backpressure (the reader is behind by more than the high-water mark). */
  paused: boolean
  /** Seconds since the connection was accepted. */
  ageSeconds: number
}

/** The metrics of one server (see {@link createMetrics}). */
export interface WsStreamMetrics {
  /** The registry holding them: `await registry.metrics()` is the Prometheus text. */
  readonly registry: Registry
  /** The live connections, for `GET /connections`. */
  connections(): ConnectionInfo[]
  /** Stops observing the server and removes the metrics from the registry. */
  remove(): void
}

/** Seconds: close handshakes are milliseconds on a LAN and up to the close timeout when a peer is stuck. */
const closeHandshakeBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30]
/** Seconds: connections live from a request's length to days. */
const durationBuckets = [0.1, 1, 10, 60, 300, 1800, 3600, 21_600, 86_400]
/** Seconds: keep-alive round trips, loopback to intercontinental plus a loaded peer. */
const rttBuckets = [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]

const liveStates: readonly State[] = ['connecting', 'open', 'interrupted', 'closingSent', 'closingReceived']

/** What we remember of one live connection. */
interface Tracked {
  stream: WsStream
  io: ConnectionIO
  /**
   * Asked for the peer's address only when the connection is first listed: the first ask is a
   * getpeername() system call, 10 µs, the largest per-connection cost the metrics had.
   */
  socket: Socket
  remoteAddress: string | undefined
  acceptedAt: number
  /** The pinger's listener before ours, put back by {@link WsStreamMetrics.remove}. */
  previousListener: ((ms: number) => void) | undefined
}

/**
 * Observes `server` and keeps its metrics (names as in docs/deploy.md; with the default prefix):
 * `ws_stream_connections{state}`, `ws_stream_connections_accepted_total`,
 * `ws_stream_upgrades_refused_total{status}`, `ws_stream_connections_closed_total{code,initiator,clean}`,
 * `ws_stream_received_bytes_total`, `ws_stream_sent_bytes_total`, `ws_stream_close_handshake_seconds`,
 * `ws_stream_connection_duration_seconds`, `ws_stream_read_paused_total`, `ws_stream_ping_rtt_seconds`,
 * `ws_stream_draining`, and for resumable streams `ws_stream_interruptions_total`,
 * `ws_stream_resumptions_total`, `ws_stream_resume_refused_total{reason}`. Call it before the server accepts connections: earlier ones are counted in
 * the totals that the server's actor keeps (accepted) but not in the others.
 *
 * ```ts
 * const server = new WsStreamServer({ port: 8080 })
 * const metrics = createMetrics(server, { registry: myRegistry })   // or its own registry
 * ```
 */
export function createMetrics(server: WsStreamServer, { registry = new Registry(), prefix = 'ws_stream_' }: MetricsOptions = {}): WsStreamMetrics {
  const names: string[] = []
  const registers = [registry]
  /** Registers under `prefix` and remembers the name, so that {@link WsStreamMetrics.remove} can undo it. */
  const named = (name: string): string => {
    names.push(prefix + name)
    return prefix + name
  }
  const tracked = new Map<WsStream, Tracked>()
  // Totals of the connections that have closed, so that scrape-time sums stay monotonic.
  const ended = { bytesIn: 0, bytesOut: 0, pauses: 0 }

  /** A counter whose value is a running total read at scrape time. */
  const totalCounter = (name: string, help: string, total: () => number): Counter => new Counter({
    name: named(name),
    help,
    registers,
    collect() {
      this.reset()
      this.inc(total())
    },
  })
  const sumLive = (pick: (io: ConnectionIO) => number): number => {
    let sum = 0
    for (const t of tracked.values()) sum += pick(t.io)
    return sum
  }

  new Gauge({
    name: named('connections'),
    help: 'Live connections by state of their machine.',
    labelNames: ['state'],
    registers,
    collect() {
      const counts = server.counts
      for (const state of liveStates) this.set({ state }, counts[state])
    },
  })
  totalCounter('connections_accepted_total', 'Connections accepted (WebSocket handshakes completed).',
    () => server.actor.getSnapshot().context.accepted)
  totalCounter('received_bytes_total', 'Payload bytes received from peers.',
    () => ended.bytesIn + sumLive((io) => io.readBuffer.bytesIn))
  totalCounter('sent_bytes_total', 'Payload bytes handed to the sockets.',
    () => ended.bytesOut + sumLive((io) => io.writeQueue.bytesOut))
  totalCounter('read_paused_total', 'Times a connection paused its socket because its reader was behind (read backpressure).',
    () => ended.pauses + sumLive((io) => io.readBuffer.pauses))
  new Gauge({
    name: named('draining'),
    help: '1 once the server has begun to drain (it no longer accepts), else 0.',
    registers,
    // Over workers: 1 when any drains.
    aggregator: 'max',
    collect() {
      this.set(server.actor.getSnapshot().value === 'listening' ? 0 : 1)
    },
  })
  const refused = new Counter({
    name: named('upgrades_refused_total'),
    help: 'WebSocket upgrades refused, by HTTP status (503: full or draining).',
    labelNames: ['status'],
    registers,
  })
  const interruptions = new Counter({
    name: named('interruptions_total'),
    help: 'Resumable connections whose socket dropped without a Close (each interruption counts once).',
    registers,
  })
  const resumptions = new Counter({
    name: named('resumptions_total'),
    help: 'Interrupted resumable connections that resumed on a new socket.',
    registers,
  })
  const resumeRefused = new Counter({
    name: named('resume_refused_total'),
    help: 'Resume handshakes refused, by reason (unknown: forged, expired or used token; attached: the session has a live socket; malformed).',
    labelNames: ['reason'],
    registers,
  })
  const closed = new Counter({
    name: named('connections_closed_total'),
    help: 'Connections closed, by close code, who sent the first Close (local, remote, none) and whether the handshake was clean.',
    labelNames: ['code', 'initiator', 'clean'],
    registers,
  })
  const closeHandshake = new Histogram({
    name: named('close_handshake_seconds'),
    help: 'Seconds from the first Close frame (either side) to the end of the connection.',
    buckets: closeHandshakeBuckets,
    registers,
  })
  const duration = new Histogram({
    name: named('connection_duration_seconds'),
    help: 'Seconds from the accepted handshake to the end of the connection.',
    buckets: durationBuckets,
    registers,
  })
  const rtt = new Histogram({
    name: named('ping_rtt_seconds'),
    help: 'Round trips of pings (keep-alive and stream.ping()), from ping to pong.',
    buckets: rttBuckets,
    registers,
  })

  const onRefused = (status: number): void => refused.inc({ status: String(status) })
  const onResumeRefused = (reason: string): void => resumeRefused.inc({ reason })
  const onInterrupted = (): void => interruptions.inc()
  const onResumed = (): void => resumptions.inc()
  // One listener for every connection rather than a closure each, unless another one was there first.
  const observeRoundTrip = (ms: number): void => rtt.observe(ms / 1000)
  const onConnection = (stream: WsStream, request: IncomingMessage): void => {
    const { io } = stream.actor.getSnapshot().context
    const previousListener = io.pinger.roundTripListener
    io.pinger.roundTripListener = previousListener === undefined ? observeRoundTrip : (ms) => {
      previousListener(ms)
      observeRoundTrip(ms)
    }
    // Only resumable connections can be interrupted: only they pay for the two listeners.
    if (io.transport?.resumable !== undefined) {
      stream.on('interrupted', onInterrupted)
      stream.on('sessionResumed', onResumed)
    }
    const t: Tracked = { stream, io, socket: request.socket, remoteAddress: undefined, acceptedAt: performance.now(), previousListener }
    tracked.set(stream, t)
    void stream.closed.then((info) => end(t, info))
  }
  const end = (t: Tracked, info: CloseInfo): void => {
    if (!tracked.delete(t.stream)) return
    ended.bytesIn += t.io.readBuffer.bytesIn
    ended.bytesOut += t.io.writeQueue.bytesOut
    ended.pauses += t.io.readBuffer.pauses
    const now = performance.now()
    closed.inc({ code: String(info.code), initiator: info.initiator, clean: String(info.wasClean) })
    duration.observe((now - t.acceptedAt) / 1000)
    // The machine notes when the first Close went, so no listener on every connection's transitions.
    const { closeStartedAt } = t.stream.actor.getSnapshot().context
    if (closeStartedAt !== undefined) closeHandshake.observe((now - closeStartedAt) / 1000)
  }
  server.on('refused', onRefused)
  server.on('resumeRefused', onResumeRefused)
  server.on('connection', onConnection)

  return {
    registry,
    connections() {
      const now = performance.now()
      return [...tracked.values()].map((t) => ({
        id: t.stream.actor.id,
        state: t.stream.state,
        remoteAddress: (t.remoteAddress ??= formatAddress(t.socket.remoteAddress, t.socket.remotePort)),
        bytesIn: t.io.readBuffer.bytesIn,
        bytesOut: t.io.writeQueue.bytesOut,
        paused: t.io.readBuffer.paused,
        ageSeconds: Math.round(now - t.acceptedAt) / 1000,
      }))
    },
    remove() {
      server.off('refused', onRefused)
      server.off('resumeRefused', onResumeRefused)
      server.off('connection', onConnection)
      for (const t of tracked.values()) t.io.pinger.roundTripListener = t.previousListener
      tracked.clear()
      for (const name of names) registry.removeSingleMetric(name)
    },
  }
}

/** `127.0.0.1:53412`, `[::1]:53412`, or `unknown` (a unix socket). */
export function formatAddress(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown'
  return `${address.includes(':') ? `[${address}]` : address}:${port ?? 0}`
}
