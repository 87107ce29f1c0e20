/**
 * `ws-stream listen --admin HOST:PORT`: the admin endpoints on a plain HTTP server of their own,
 * and, in a `--workers` child, the answers to the primary's questions (metrics, readiness,
 * connections) over the cluster's IPC channel instead.
 *
 * @module
 */
import cluster from 'node:cluster'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { MetricObjectWithValues, MetricValue } from 'prom-client'
import { createAdminHandler, readinessOf, serverAdminSource, type AdminRoute, type AdminSource } from '../admin.js'
import { createDashboard } from '../dashboard.js'
import { createMetrics } from '../metrics.js'
import type { WsStreamServer } from '../server.js'
import type { ListenCommand } from './args.js'
import type { Reporter } from './report.js'

/** A worker's answer to {@link statusRequest}. */
export interface WorkerStatus {
  type: 'ws-stream:status'
  requestId: number
  readiness: ReturnType<typeof readinessOf>
  connections: ReturnType<ReturnType<typeof createMetrics>['connections']>
  /** The worker's registry as `getMetricsAsJSON()` gives it, for `AggregatorRegistry.aggregate()`. */
  metrics: MetricObjectWithValues<MetricValue<string>>[]
}

/** The primary's question to a worker. */
export const statusRequest = 'ws-stream:status?'

/** The primary's request that a worker drain (as on SIGTERM). */
export const drainRequest = 'ws-stream:drain'

// Listening from the moment this module loads, so that a drain asked for between the worker's
// 'listening' (when the primary may ask) and the wait for signals is not lost.
let drainRequested = false
let onDrain: (() => void) | undefined
if (cluster.isWorker) {
  process.on('message', (message: { type?: string }) => {
    if (message?.type !== drainRequest) return
    drainRequested = true
    onDrain?.()
  })
}

/**
 * Calls `drain` when a drain is asked for (at once if it already was): in a worker by the primary,
 * in a single process by the dashboard's drain button ({@link requestDrain}).
 */
export function onDrainRequest(drain: () => void): void {
  onDrain = drain
  if (drainRequested) drain()
}

/** Drains `listen` as SIGTERM does: the dashboard's `POST /drain`. */
export function requestDrain(): void {
  drainRequested = true
  onDrain?.()
}

/** Something to stop when the command ends. */
export interface Closable {
  close(): Promise<void>
}

/**
 * Starts what `listen` serves besides WebSockets: the admin address (`--admin`) in a process of its
 * own, the IPC answers in a worker. Throws if the admin address cannot be bound.
 */
export async function startAdmin(server: WsStreamServer, options: ListenCommand, reporter: Reporter): Promise<Closable> {
  const metrics = createMetrics(server)
  if (cluster.isWorker) {
    // Our own request rather than prom-client's clusterMetrics(), whose scrape hangs for 5 s
    // when a worker dies while it is asked; the primary aggregates with AggregatorRegistry.aggregate().
    const answer = (message: { type?: string; requestId?: number }): void => {
      if (message?.type !== statusRequest) return
      void metrics.registry.getMetricsAsJSON().then((json) => {
        const status: WorkerStatus = {
          type: 'ws-stream:status',
          requestId: message.requestId!,
          readiness: readinessOf(server),
          connections: metrics.connections().map((c) => ({ ...c, id: `w${cluster.worker!.id}.${c.id}` })),
          metrics: json,
        }
        if (process.connected) process.send?.(status)
      })
    }
    process.on('message', answer)
    return { close: async () => { process.off('message', answer) } }
  }
  if (options.admin === undefined) return { close: async () => {} }
  const dashboard = createDashboard(server, { ...(options.adminToken === undefined ? {} : { token: options.adminToken }), drain: requestDrain })
  try {
    const admin = await serveAdmin(serverAdminSource(server, metrics), options.admin, reporter, dashboard.routes)
    return { close: async () => { dashboard.close(); await admin.close() } }
  } catch (error) {
    dashboard.close()
    throw error
  }
}

/**
 * Serves the admin endpoints of `source` and `routes` on `address`; prints where. Rejects if it
 * cannot bind.
 */
export async function serveAdmin(source: AdminSource, address: { host: string; port: number }, reporter: Reporter, routes: Record<string, AdminRoute> = {}): Promise<Closable> {
  const http: Server = createServer(createAdminHandler(source, routes))
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(address.port, address.host, () => {
      http.off('error', reject)
      resolve()
    })
  })
  const { address: host, port, family } = http.address() as AddressInfo
  reporter.info(`admin on http://${family === 'IPv6' ? `[${host}]` : host}:${port}`)
  return {
    close: () => new Promise<void>((resolve) => {
      http.close(() => resolve())
      http.closeAllConnections()
    }),
  }
}
