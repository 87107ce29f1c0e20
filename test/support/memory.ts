/**
 * Memory probes for the tests that check a bound: live memory after full collections, taken once
 * or until it settles.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'

export const MiB = 1024 * 1024

/** V8's full collection, or undefined where it could not be exposed. */
export const gc: (() => void) | undefined = exposeGc()

function exposeGc(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc')
    return runInNewContext('gc') as () => void
  } catch {
    return undefined
  }
}

export interface MemoryOptions {
  /** Count ArrayBuffer memory (where Buffers live) besides the JS heap (default true). */
  arrayBuffers?: boolean
}

/** Live JS heap plus ArrayBuffer memory, after two full collections. */
export function liveMemory({ arrayBuffers = true }: MemoryOptions = {}): number {
  gc?.()
  gc?.()
  const { heapUsed, arrayBuffers: buffers } = process.memoryUsage()
  return heapUsed + (arrayBuffers ? buffers : 0)
}

/**
 * {@link liveMemory} once two samples 50 ms apart agree within 1 MiB (a second of samples at most):
 * garbage of what ran before can swing a single sample by tens of MiB on a loaded machine.
 */
export async function settledMemory(options?: MemoryOptions): Promise<number> {
  let last = liveMemory(options)
  for (let i = 0; i < 20; i++) {
    await sleep(50)
    const now = liveMemory(options)
    if (Math.abs(now - last) < MiB) return now
    last = now
  }
  return last
}
