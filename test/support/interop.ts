/**
 * The Python interop tests' shared half (interop-python: python3-websockets; interop-autobahn:
 * python3-autobahn): start a peer script under /usr/bin/python3, read its JSON lines, and the
 * 10 MiB both-ways exchange with its checks.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type { Test } from 'tap'
import { connect, WsStreamServer, type CloseInfo, type WsStream } from '../../src/index.js'
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


/** How one Python peer is named and what it says in its Close frames. */
export interface PeerSuite {
  /** The peer script (test/peers/*.py): `client URL SIZE CLOSER CODE REASON` and `server SIZE CLOSER CODE REASON`. */
  script: string
  /** Who the peer is, in test names ("a Python", "an autobahn"). */
  who: string
  /** Close reasons it sends, as client and as server (non-ASCII ones show both ends decode UTF-8). */
  reasons: { client: string; server: string }
}

/**
 * The exchange every peer passes: 10 MiB both ways, as client and as server, each side closing in
 * turn; both sides must see all the bytes (sha256) and the closer's code and reason.
 */
export function exchangeSuite(t: Test, { script, who, reasons }: PeerSuite): void {
  for (const closer of ['python', 'us'] as const) {
    const closes = closer === 'us' ? 'we close' : 'it closes'
    t.test(`${who} client exchanges 10 MiB both ways with our server; ${closes}, and both see the code and reason`, async (t) => {
      const server = new WsStreamServer({ port: 0, host: '127.0.0.1', maxPayload: 2 * 1024 * 1024 })
      await server.listening
      t.teardown(() => server.close({ timeout: 1000 }))
      const port = (server.address() as { port: number }).port
      const code = closer === 'python' ? 4001 : 4002
      const reason = closer === 'python' ? reasons.client : 'bye from node ✓'
      const accepted = once(server, 'connection') as Promise<[WsStream]>
      const peer = startPeer(t, script, ['client', `ws://127.0.0.1:${port}`, String(SIZE), closer === 'python' ? 'me' : 'them', String(code), reason])
      const [stream] = await accepted
      const ours = await exchange(stream, closer === 'us' ? { code, reason } : undefined)
      checkExchange(t, ours, await peer.line<PeerResult>(), { code, reason, closer })
      await peer.exited
    })

    t.test(`our client exchanges 10 MiB both ways with ${who} server; ${closes}, and both see the code and reason`, async (t) => {
      const code = closer === 'python' ? 4003 : 4004
      const reason = closer === 'python' ? reasons.server : 'client says bye ✓'
      const peer = startPeer(t, script, ['server', String(SIZE), closer === 'python' ? 'me' : 'them', String(code), reason])
      const { port } = await peer.line<{ port: number }>()
      const stream = await connect(`ws://127.0.0.1:${port}`, { maxPayload: 2 * 1024 * 1024 })
      t.teardown(() => stream.abort())
      const ours = await exchange(stream, closer === 'us' ? { code, reason } : undefined)
      checkExchange(t, ours, await peer.line<PeerResult>(), { code, reason, closer })
      await peer.exited
    })
  }
}
