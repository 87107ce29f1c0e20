/**
 * The admin endpoints of a {@link WsStreamServer} as one HTTP request handler, for `ws-stream
 * listen --admin` and for users who mount them in their own HTTP server:
 *
 * - `GET /metrics`: Prometheus text (the server's {@link WsStreamMetrics} registry);
 * - `GET /healthz`: 200 while the process runs;
 * - `GET /readyz`: 200 while the server accepts connections, 503 once it drains or while it is full
 *   (`maxConnections`), so that a load balancer sends new clients elsewhere;
 * - `GET /connections`: the live connections as JSON.
 *
 * More pages plug in through `routes` (the dashboard's `GET /` and `GET /events`).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { canAccept } from '../machines/server.js'
import { createMetrics, type ConnectionInfo, type WsStreamMetrics } from './metrics.js'
import type { WsStreamServer } from './server.js'

/** Whether new connections are welcome, and if not, why. */
export interface Readiness {
  ready: boolean
  /** `accepting`, `draining` (stopped accepting for good) or `full` (at `maxConnections`). */
  status: 'accepting' | 'draining' | 'full'
}

/** A handler of one admin route. */
export type AdminRoute = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>

/** What the admin endpoints report: one server, or (in `ws-stream listen --workers`) all workers. */
export interface AdminSource {
  /** The Prometheus exposition and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>
  readiness(): Readiness | Promise<Readiness>
  connections(): ConnectionInfo[] | Promise<ConnectionInfo[]>
}

/** Options of {@link adminHandler}. */
export interface AdminOptions {
  /** The server's metrics (default: {@link createMetrics} with a registry of their own). */
  metrics?: WsStreamMetrics
  /**
   * More routes, keyed `'METHOD /path'` (e.g. `'GET /'`): they win over the built-in ones. The
   * extension point of the dashboard; a route checks its own authorisation.
   */
  routes?: Record<string, AdminRoute>
}

/** An HTTP request handler: `http.createServer(handler)` or call it from your own router. */
export type AdminHandler = (request: IncomingMessage, response: ServerResponse) => void

/** Readiness of `server`: not while it drains, not at `maxConnections`. */
export function readinessOf(server: WsStreamServer): Readiness {
  const snapshot = server.actor.getSnapshot()
  if (snapshot.value !== 'listening') return { ready: false, status: 'draining' }
  return canAccept(snapshot) ? { ready: true, status: 'accepting' } : { ready: false, status: 'full' }
}

/** The admin source of one server. */
export function serverAdminSource(server: WsStreamServer, metrics: WsStreamMetrics): AdminSource {
  return {
    async metrics() {
      return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }
    },
    readiness: () => readinessOf(server),
    connections: () => metrics.connections(),
  }
}

/**
 * The admin endpoints of `server` as a request handler. Unknown paths get 404, other methods 405.
 *
 * ```ts
 * const server = new WsStreamServer({ port: 8080 })
 * http.createServer(adminHandler(server)).listen(9090, '127.0.0.1')
 * ```
 */
export function adminHandler(server: WsStreamServer, { metrics, routes = {} }: AdminOptions = {}): AdminHandler {
  return createAdminHandler(serverAdminSource(server, metrics ?? createMetrics(server)), routes)
}

/** The admin endpoints over any {@link AdminSource} (the building block of {@link adminHandler}). */
export function createAdminHandler(source: AdminSource, routes: Record<string, AdminRoute> = {}): AdminHandler {
  const builtIn: Record<string, AdminRoute> = {
    'GET /metrics': async (_request, response) => {
      const { contentType, body } = await source.metrics()
      response.writeHead(200, { 'Content-Type': contentType }).end(body)
    },
    'GET /healthz': (_request, response) => {
      text(response, 200, 'ok\n')
    },
    'GET /readyz': async (_request, response) => {
      const { ready, status } = await source.readiness()
      text(response, ready ? 200 : 503, `${status}\n`)
    },
    'GET /connections': async (_request, response) => {
      const body = JSON.stringify(await source.connections())
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(body)
    },
  }
  const table = { ...builtIn, ...routes }
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    // HEAD is GET without the body (Node's response drops it), as probes sometimes send it.
    const method = request.method === 'HEAD' ? 'GET' : request.method
    const route = table[`${method} ${path}`]
    if (route === undefined) {
      const known = Object.keys(table).some((key) => key.endsWith(` ${path}`))
      return text(response, known ? 405 : 404, known ? 'Method Not Allowed\n' : 'Not Found\n')
    }
    Promise.resolve()
      .then(() => route(request, response))
      .catch((error: Error) => {
        if (!response.headersSent) text(response, 500, `${error.message}\n`)
        else response.destroy(error)
      })
  }
}

function text(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end(body)
}
