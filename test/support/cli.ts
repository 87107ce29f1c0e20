/**
 * Helpers for the tests that drive the real `ws-stream` binary (dist/src/cli.js, built by `npm test`).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import type { Teardown } from './helpers.js'

export const cliPath = new URL('../../dist/src/cli.js', import.meta.url).pathname

/** A running `ws-stream` process with its output collected as it comes. */
export interface Cli {
  child: ChildProcessWithoutNullStreams
  stdout(): Buffer
  stderr(): string
  /** Resolves with the exit status (or 128 + signal). */
  exited: Promise<number>
  /** Resolves with the first match of `pattern` in stderr; rejects after `ms`. */
  waitForStderr(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>
}

/** Spawns `node dist/src/cli.js ...args` (in `env`, default ours); the process is killed at teardown if still running. */
export function cli(t: Teardown, args: string[], env?: NodeJS.ProcessEnv): Cli {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: 'pipe', ...(env ? { env } : {}) })
  const out: Buffer[] = []
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  child.stdin.on('error', () => {}) // the process may exit before reading all of stdin
  const exited = new Promise<number>((resolve) => {
    child.once('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)))
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return {
    child,
    exited,
    stdout: () => Buffer.concat(out),
    stderr: () => err,
    waitForStderr(pattern, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const match = err.match(pattern)
          if (match) {
            clearTimeout(timer)
            child.stderr.off('data', check)
            child.off('close', onClose)
            resolve(match)
          }
          return Boolean(match)
        }
        const onClose = (): void => {
          if (!check()) {
            clearTimeout(timer)
            reject(new Error(`ws-stream exited before printing ${pattern}; stderr: ${err}`))
          }
        }
        const timer = setTimeout(() => {
          child.stderr.off('data', check)
          child.off('close', onClose)
          reject(new Error(`no ${pattern} on stderr within ${ms} ms; stderr: ${err}`))
        }, ms)
        if (check()) return
        child.stderr.on('data', check)
        child.once('close', onClose)
      })
    },
  }
}

/** Starts `ws-stream listen 0 ...args` and resolves with it and its ws:// URL, from its "listening on" line. */
export async function listen(t: Teardown, args: string[]): Promise<Cli & { url: string; port: number }> {
  const server = cli(t, ['listen', '0', ...args])
  const [, url, port] = await server.waitForStderr(/listening on (ws:\/\/127\.0\.0\.1:(\d+))/)
  return { ...server, url: url!, port: Number(port) }
}

/** Resolves once `cli` has received `n` bytes on stdout; rejects after `ms`. */
export async function stdoutLength(c: Cli, n: number, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (c.stdout().length < n) {
    if (Date.now() > deadline) throw new Error(`only ${c.stdout().length} of ${n} bytes on stdout after ${ms} ms`)
    if (c.child.exitCode !== null) throw new Error(`ws-stream exited after ${c.stdout().length} of ${n} bytes; stderr: ${c.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
  return found.status === 0 ? found.stdout.trim() : undefined
}

/** A loopback TCP port that was free a moment ago (for peers that cannot be told to take port 0). */
export async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; rejects after `ms`. */
export async function tcpReady(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
