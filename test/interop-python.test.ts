/**
 * Interop with an implementation nobody here wrote: Debian's python3-websockets, as client and
 * as server (test/peers/ws_peer.py). Each exchanges 10 MiB both ways with our WsStream (sha256
 * compared on both sides) and closes from one side or the other; both sides must see the code
 * and reason. Skips, saying why, when /usr/bin/python3 cannot import websockets.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { connect, WsStream, WsStreamServer, type CloseInfo } from '../src/index.js'
import { bytes, type Teardown } from './support/helpers.js'

const PYTHON = '/usr/bin/python3'
const PEER = fileURLToPath(new URL('./peers/ws_peer.py', import.meta.url))
const SIZE = 10 * 1024 * 1024

const probe = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8' })
const version = probe.status === 0 ? probe.stdout.trim() : undefined
const skip = version === undefined
  ? `python3-websockets is not installed for ${PYTHON} (${(probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)) || 'import failed'}); apt-get install python3-websockets`
  : false

interface PeerResult {
  sent: string
  received: string
  receivedBytes: number
  closeCode: number | null
  closeReason: string
  version: string
}

/** Starts the Python peer; resolves its JSON lines one by one. */
function startPeer(t: Teardown, args: string[]) {
  const child: ChildProcess = spawn(PYTHON, [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
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
async function exchange(stream: WsStream, closeWhenDone?: { code: number; reason: string }) {
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
function checkExchange(
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

t.test('python3-websockets interop', { skip }, async (t) => {
  t.comment(`python3-websockets ${version}`)

  for (const closer of ['python', 'us'] as const) {
    t.test(`a Python client exchanges 10 MiB both ways with our server; ${closer === 'us' ? 'we close' : 'it closes'}, and both see the code and reason`, async (t) => {
      const server = new WsStreamServer({ port: 0, host: '127.0.0.1', maxPayload: 2 * 1024 * 1024 })
      await server.listening
      t.teardown(() => server.close({ timeout: 1000 }))
      const port = (server.address() as { port: number }).port
      const code = closer === 'python' ? 4001 : 4002
      const reason = closer === 'python' ? 'bye from python' : 'bye from node ✓'
      const accepted = once(server, 'connection') as Promise<[WsStream]>
      const peer = startPeer(t, ['client', `ws://127.0.0.1:${port}`, String(SIZE), closer === 'python' ? 'me' : 'them', String(code), reason])
      const [stream] = await accepted
      const ours = await exchange(stream, closer === 'us' ? { code, reason } : undefined)
      const theirs = await peer.line<PeerResult>()
      checkExchange(t, ours, theirs, { code, reason, closer })
      await peer.exited
    })

    if (closer === 'python') {
      t.test('ordered close: a Python client sends 4 MiB and its Close at once; our echo server returns all of it before answering', async (t) => {
        const server = new WsStreamServer({ port: 0, host: '127.0.0.1', maxPayload: 2 * 1024 * 1024 })
        await server.listening
        t.teardown(() => server.close({ timeout: 1000 }))
        const port = (server.address() as { port: number }).port
        const size = 4 * 1024 * 1024
        const served = new Promise<CloseInfo>((resolve) => {
          server.once('connection', async (stream) => {
            for await (const chunk of stream) await stream.write(chunk)
            resolve(await stream.closed)
          })
        })
        const peer = startPeer(t, ['sendclose', `ws://127.0.0.1:${port}`, String(size), '4005', 'done ✓'])
        const theirs = await peer.line<PeerResult>()
        t.equal(theirs.receivedBytes, size, 'Python got every byte back')
        t.equal(theirs.received, theirs.sent, 'sha256 of the echo equals what it sent')
        t.same({ code: theirs.closeCode, reason: theirs.closeReason }, { code: 4005, reason: 'done ✓' }, 'our answer echoed its code and reason')
        t.match(await served, { code: 4005, reason: 'done ✓', wasClean: true, initiator: 'remote' }, 'our CloseInfo')
        await peer.exited
      })
    }

    t.test(`our client exchanges 10 MiB both ways with a Python server; ${closer === 'us' ? 'we close' : 'it closes'}, and both see the code and reason`, async (t) => {
      const code = closer === 'python' ? 4003 : 4004
      const reason = closer === 'python' ? 'server says bye' : 'client says bye ✓'
      const peer = startPeer(t, ['server', String(SIZE), closer === 'python' ? 'me' : 'them', String(code), reason])
      const { port } = await peer.line<{ port: number }>()
      const stream = await connect(`ws://127.0.0.1:${port}`, { maxPayload: 2 * 1024 * 1024 })
      t.teardown(() => stream.abort())
      const ours = await exchange(stream, closer === 'us' ? { code, reason } : undefined)
      const theirs = await peer.line<PeerResult>()
      checkExchange(t, ours, theirs, { code, reason, closer })
      await peer.exited
    })
  }
})
