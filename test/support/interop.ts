/**
 * The Python interop tests' shared half (interop-python: python3-websockets; interop-autobahn:
 * python3-autobahn): start a peer script under /usr/bin/python3, read its JSON lines, and the
 * 10 MiB both-ways exchange with its checks.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type { Test } from 'tap'
import type { CloseInfo, WsStream } from '../../src/index.js'
import { bytes, type Teardown } from './helpers.js'

export const PYTHON = '/usr/bin/python3'
export const SIZE = 10 * 1024 * 1024

/** The module's version under /usr/bin/python3, or a skip reason saying how to install it. */
export function probePython(module: string, debianPackage: string): { version?: string; skip: string | false } {
  const probe = spawnSync(PYTHON, ['-c', `import ${module}; print(${module}.__version__)`], { encoding: 'utf8' })
  if (probe.status === 0) return { version: probe.stdout.trim(), skip: false }
  const why = (probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)) || 'import failed'
  return { skip: `${debianPackage} is not installed for ${PYTHON} (${why}); apt-get install ${debianPackage}` }
}

export interface PeerResult {
  sent: string
  received: string
  receivedBytes: number
  closeCode: number | null
  closeReason: string
  version: string
}

/** Starts the Python peer; resolves its JSON lines one by one. */
export function startPeer(t: Teardown, peer: string, args: string[]) {
  const child: ChildProcess = spawn(PYTHON, [peer, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill() })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const lines: string[] = []
  const waiters: Array<() => void> = []
  let buffered = ''
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString()
    let nl: number
    while ((nl = buffered.indexOf('\n')) !== -1) {
      lines.push(buffered.slice(0, nl))
      buffered = buffered.slice(nl + 1)
      for (const w of waiters.splice(0)) w()
    }
  })
  const exited = once(child, 'exit')
  return {
    async line<T>(ms = 30_000): Promise<T> {
      const deadline = Date.now() + ms
      while (lines.length === 0) {
        if (child.exitCode !== null) throw new Error(`python peer exited ${child.exitCode}: ${stderr}`)
        if (Date.now() > deadline) throw new Error(`python peer said nothing within ${ms} ms: ${stderr}`)
        await Promise.race([new Promise<void>((r) => waiters.push(r)), exited, new Promise((r) => setTimeout(r, 200))])
      }
      return JSON.parse(lines.shift()!) as T
    },
    exited,
    stderr: () => stderr,
  }
}

/** Writes SIZE bytes while reading until the end; returns both hashes and the byte count read. */
export async function exchange(stream: WsStream, closeWhenDone?: { code: number; reason: string }) {
  const data = bytes(SIZE, 42)
  const sentHash = createHash('sha256').update(data).digest('hex')
  const received = createHash('sha256')
  let receivedBytes = 0
  let closing: Promise<CloseInfo> | undefined
  const writing = (async () => {
    for (let at = 0; at < SIZE; at += 64 * 1024) await stream.write(data.subarray(at, at + 64 * 1024))
    await stream.flush()
  })()
  for (;;) {
    const chunk = await stream.read()
    if (chunk === null) break
    received.update(chunk)
    receivedBytes += chunk.length
    if (receivedBytes === SIZE && closeWhenDone) {
      await writing
      closing = stream.close(closeWhenDone.code, closeWhenDone.reason)
    }
  }
  await writing
  const info = await (closing ?? stream.closed)
  return { sent: sentHash, received: received.digest('hex'), receivedBytes, info }
}

/** Both sides got all 10 MiB with the other's hash, and both saw the closer's code and reason. */
export function checkExchange(
  t: Test,
  ours: Awaited<ReturnType<typeof exchange>>,
  theirs: PeerResult,
  { code, reason, closer }: { code: number; reason: string; closer: 'us' | 'python' },
): void {
  t.equal(ours.receivedBytes, SIZE, 'we received 10 MiB')
  t.equal(theirs.receivedBytes, SIZE, 'it received 10 MiB')
  t.equal(ours.received, theirs.sent, 'sha256: what it sent is what we read')
  t.equal(theirs.received, ours.sent, 'sha256: what we sent is what it read')
  t.match(ours.info, { code, reason, wasClean: true, initiator: closer === 'us' ? 'local' : 'remote' }, 'our CloseInfo')
  t.same({ code: theirs.closeCode, reason: theirs.closeReason }, { code, reason }, 'the code and reason Python saw')
}

