/**
 * `ws-stream listen --workers N`: the primary of a node:cluster. It runs no WebSocket itself; it
 * forks N workers that share the port (each one runs `listen` as usual), replaces a worker that
 * dies, serves the admin address for all of them (metrics summed by prom-client's
 * `AggregatorRegistry`), and on SIGINT/SIGTERM has every worker drain, then exits 0.
 *
 * @module
 */
import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client'
import type { ConnectionInfo } from '../metrics.js'
import type { AdminRoute, AdminSource, Readiness } from '../admin.js'
import { exitCodes, type ListenCommand } from './args.js'
import { drainRequest, serveAdmin, statusRequest, type Closable, type WorkerStatus } from './admin.js'
import type { Reporter } from './report.js'

/** How long the primary waits for a worker's status before it answers without that worker. */
const STATUS_TIMEOUT_MS = 2000

/**
 * The dashboard watches one server's actors in-process; the primary has none, and relaying every
 * worker's events over IPC is not built. It says so rather than showing a partial picture.
 */
const dashboardUnavailable: AdminRoute = (_request, response) => {
  response.writeHead(501, { 'Content-Type': 'text/plain; charset=utf-8' })
    .end('The dashboard is not served with --workers: run listen without --workers to use it. /metrics, /readyz and /connections cover every worker.\n')
}

/** Runs the primary of `listen --workers N`; resolves with the exit status. */
export async function runPrimary(options: ListenCommand, reporter: Reporter): Promise<number> {
  const count = options.workers!
  const own = new Registry()
  const restarts = new Counter({
    name: 'ws_stream_worker_restarts_total',
    help: 'Workers that died while serving and were replaced.',
    registers: [own],
  })
  const live = new Gauge({
    name: 'ws_stream_workers',
    help: 'Worker processes running.',
    registers: [own],
    collect() {
      this.set(Object.keys(cluster.workers ?? {}).length)
    },
  })
  void live
  const listening = new Set<number>()
  let draining = false
  let where: string | undefined
  let failed: number | undefined
  let nextRequest = 0
  const pending = new Map<number, (status: WorkerStatus) => void>()

  cluster.on('message', (_worker, message: WorkerStatus) => {
    if (message?.type === 'ws-stream:status') pending.get(message.requestId)?.(message)
  })

  const started = new Promise<void>((resolve, reject) => {
    cluster.on('listening', (worker, address) => {
      where ??= `ws://${address.address?.includes(':') ? `[${address.address}]` : address.address ?? options.host}:${address.port}`
      listening.add(worker.id)
      if (listening.size === count) resolve()
    })
    cluster.on('exit', (worker, code, signal) => {
      const wasListening = listening.delete(worker.id)
      if (draining) return
      if (!wasListening) {
        // A worker that never listened (cannot bind, bad options) would fail again: give up.
        failed = code ?? exitCodes.failure
        reject(new Error(`worker ${worker.process.pid} exited before listening (${code ?? signal})`))
        return
      }
      restarts.inc()
      reporter.error(`worker ${worker.process.pid} died (${signal ?? `exit ${code}`}); starting another`)
      cluster.fork()
    })
  })
  for (let i = 0; i < count; i++) cluster.fork()

  const everyWorker = (): Worker[] => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
  /**
   * Drains (a message, not a signal: after Ctrl-C the workers got SIGINT from the terminal too, and
   * a second signal would make them exit at once) or kills every worker; resolves once all exited.
   */
  const stopAll = async (how: 'drain' | 'kill'): Promise<void> => {
    const exits = everyWorker().map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve()
      w.once('exit', () => resolve())
      if (how === 'kill') w.process.kill('SIGKILL')
      else if (w.isConnected() && listening.has(w.id)) w.send({ type: drainRequest })
      // A worker still starting has no connection to drain.
      else w.process.kill('SIGTERM')
    }))
    await Promise.all(exits)
  }

  try {
    await started
  } catch (error) {
    reporter.error((error as Error).message)
    draining = true
    await stopAll('kill')
    return failed === exitCodes.cannotListen ? exitCodes.cannotListen : exitCodes.failure
  }

  /**
   * Asks every listening worker for its status (readiness, connections, metrics); a worker that
   * exits or does not answer in time is left out, so that one dying worker never stalls a scrape.
   */
  const statuses = async (): Promise<WorkerStatus[]> => {
    const asked = everyWorker().filter((w) => w.isConnected() && listening.has(w.id))
    return (await Promise.all(asked.map((w) => new Promise<WorkerStatus | undefined>((resolve) => {
      const requestId = ++nextRequest
      const settle = (status: WorkerStatus | undefined): void => {
        clearTimeout(timer)
        pending.delete(requestId)
        w.off('exit', gone)
        resolve(status)
      }
      const gone = (): void => settle(undefined)
      const timer = setTimeout(gone, STATUS_TIMEOUT_MS)
      pending.set(requestId, settle)
      w.once('exit', gone)
      w.send({ type: statusRequest, requestId }, (error: Error | null) => { if (error) gone() })
    })))).filter((s): s is WorkerStatus => s !== undefined)
  }
  const source: AdminSource = {
    async metrics() {
      // Summed by each metric's aggregator (the default sum; max for ws_stream_draining).
      const all = [...(await statuses()).map((s) => s.metrics), await own.getMetricsAsJSON()]
      const registry = AggregatorRegistry.aggregate(all)
      return { contentType: registry.contentType, body: await registry.metrics() }
    },
    async readiness(): Promise<Readiness> {
      if (draining) return { ready: false, status: 'draining' }
      const all = await statuses()
      // The cluster hands connections to workers in turn: one full worker refuses its share.
      const notReady = all.find((s) => !s.readiness.ready)
      if (notReady) return notReady.readiness
      return all.length > 0 ? { ready: true, status: 'accepting' } : { ready: false, status: 'draining' }
    },
    async connections(): Promise<ConnectionInfo[]> {
      return (await statuses()).flatMap((s) => s.connections)
    },
  }
  let admin: Closable = { close: async () => {} }
  if (options.admin) {
    try {
      admin = await serveAdmin(source, options.admin, reporter, { 'GET /': dashboardUnavailable })
    } catch (error) {
      const err = error as NodeJS.ErrnoException
      reporter.error(`cannot listen on the admin address ${options.admin.host}:${options.admin.port}: ${err.code ?? err.message}`)
      draining = true
      await stopAll('kill')
      return exitCodes.cannotListen
    }
  }
  reporter.info(`listening on ${where} (${count} workers)`)

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
  const again = (): never => {
    for (const w of everyWorker()) w.process.kill('SIGKILL')
    process.exit(signal === 'SIGINT' ? exitCodes.sigint : exitCodes.sigterm)
  }
  process.once('SIGINT', again)
  process.once('SIGTERM', again)
  draining = true
  reporter.info(`${signal}: draining ${everyWorker().length} worker(s)`)
  await stopAll('drain')
  await admin.close()
  reporter.info('stopped: every worker drained')
  return exitCodes.ok
}
