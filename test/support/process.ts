/**
 * What a test leaves behind in its process: active sockets and timers, unhandled rejections and
 * uncaught errors (invariant 4 of docs/architecture.md).
 */
import type { Teardown } from './helpers.js'

/** The process's active resources (sockets, servers, timers, …) counted by type; only types matching `only` if given. */
export function resourceCounts(only?: RegExp): Map<string, number> {
  const counts = new Map<string, number>()
  for (const type of process.getActiveResourcesInfo()) {
    if (only === undefined || only.test(type)) counts.set(type, (counts.get(type) ?? 0) + 1)
  }
  return counts
}

/**
 * Collects every unhandled rejection (and, with `uncaught`, every uncaught exception) from now
 * until `t` ends; the returned array fills as they happen.
 */
export function collectUnhandled(t: Teardown, { uncaught = false }: { uncaught?: boolean } = {}): unknown[] {
  const seen: unknown[] = []
  const collect = (reason: unknown): void => { seen.push(reason) }
  process.on('unhandledRejection', collect)
  if (uncaught) process.on('uncaughtExceptionMonitor', collect)
  t.teardown(() => {
    process.off('unhandledRejection', collect)
    process.off('uncaughtExceptionMonitor', collect)
  })
  return seen
}
