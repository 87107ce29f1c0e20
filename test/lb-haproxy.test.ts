/**
 * Behind a real load balancer: HAProxy (docs/deploy/haproxy.cfg, the file the docs show) in front
 * of two `ws-stream listen --echo` backends, health-checked on /readyz; 200 clients stream and
 * check every echo while the backends restart one at a time; a real Prometheus scrapes both admin
 * addresses. HAProxy rather than nginx here because its health checks on a separate port
 * (/readyz on the admin address) are in the open-source build; nginx's are not.
 *
 * Every echo round trip is verified before anything closes (send a chunk, read the same length
 * back, compare sha256), so the test does not depend on what happens to bytes in flight at a Close.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { connect, type WsStream } from '../src/index.js'
import { get } from './support/admin.js'
import { cli, freePort, which, type Cli } from './support/cli.js'

const CLIENTS = 200
const haproxyConfig = new URL('../docs/deploy/haproxy.cfg', import.meta.url).pathname
type Teardown = { teardown(fn: () => unknown): void }

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(100)
  }
}

/** A process the test started, killed at teardown. */
function daemon(t: Teardown, command: string, args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { output += s })
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { output += s })
  const exited = new Promise((resolve) => child.once('close', resolve))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return { child, output: () => output }
}

/** One `ws-stream listen --echo` backend on fixed ports, restartable on the same ones. */
class Backend {
  process: Cli | undefined
  constructor(readonly t: Teardown, readonly name: string, readonly port: number, readonly adminPort: number) {}
  get admin(): string {
    return `http://127.0.0.1:${this.adminPort}`
  }

  async start(): Promise<void> {
    this.process = cli(this.t, ['listen', String(this.port), '--echo', '--admin', `127.0.0.1:${this.adminPort}`, '--drain-timeout', '5000', '-q'])
    await until(`backend ${this.name} ready`, 15_000, async () => ((await get(`${this.admin}/readyz`)).status === 200 ? true : undefined))
  }

  /** SIGTERM, as Kubernetes stops a pod; resolves with the exit status. */
  stop(): Promise<number> {
    this.process!.child.kill('SIGTERM')
    return this.process!.exited
  }
}

/** HAProxy's view of a server (`UP`, `DOWN`, …) from its stats socket. */
function serverStatus(socketPath: string, server: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath)
    let text = ''
    socket.setEncoding('utf8').on('data', (s: string) => { text += s })
    socket.on('error', reject)
    socket.on('end', () => {
      const row = text.split('\n').find((line) => line.startsWith(`ws_stream,${server},`))
      resolve(row?.split(',')[17])
    })
    socket.write('show stat\n')
  })
}

/** The outcome counters of the client fleet. */
interface Tally {
  rounds: number
  corrupted: number
  drained: number
  reconnected: number
  failures: string[]
}

/**
 * One client: connect, then echo rounds (a random 1–16 KiB chunk, its echo read back and compared
 * by sha256) until told to stop. A 1001 (its backend drains) means: reconnect, which must succeed.
 */
async function client(url: string, tally: Tally, running: () => boolean, streams: Set<WsStream>): Promise<void> {
  let reconnecting = false
  while (running()) {
    let stream: WsStream
    try {
      stream = await connect(url, { timeout: 10_000 })
    } catch (error) {
      tally.failures.push(`connect${reconnecting ? ' (reconnect)' : ''}: ${(error as Error).message}`)
      return
    }
    if (reconnecting) tally.reconnected++
    streams.add(stream)
    try {
      while (running()) {
        const chunk = randomBytes(1024 + Math.floor(Math.random() * 15 * 1024))
        await stream.write(chunk)
        const echo = await stream.readExactly(chunk.length)
        if (sha(echo) !== sha(chunk)) tally.corrupted++
        tally.rounds++
        await sleep(20 + Math.random() * 40)
      }
      await stream.close(1000)
      return
    } catch {
      const info = await stream.closed
      if (info.code === 1001) {
        tally.drained++
        reconnecting = true
      } else {
        tally.failures.push(`closed with ${info.code} ${info.reason}`)
        return
      }
    } finally {
      streams.delete(stream)
    }
  }
}

const haproxyBinary = which('haproxy') ?? which('/usr/sbin/haproxy')
const skip = haproxyBinary ? false : 'haproxy not installed: apt-get install haproxy'

t.test('a rolling restart behind HAProxy: no refused connection, every drained client gets 1001 and reconnects, no echo corrupted; Prometheus counts the clients', { skip }, async (t) => {
  const prometheusBinary = which('prometheus')
  const dir = mkdtempSync(join(tmpdir(), 'ws-stream-lb-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [front, aPort, aAdmin, bPort, bAdmin, promPort] = await Promise.all(Array.from({ length: 6 }, freePort))
  const backends = [new Backend(t, 'a', aPort!, aAdmin!), new Backend(t, 'b', bPort!, bAdmin!)]
  await Promise.all(backends.map((b) => b.start()))

  const stats = join(dir, 'haproxy.sock')
  const haproxy = daemon(t, haproxyBinary!, ['-db', '-f', haproxyConfig], {
    HAPROXY_STATS: stats,
    WS_FRONTEND: `127.0.0.1:${front}`,
    BACKEND_A: `127.0.0.1:${aPort}`, ADMIN_A_HOST: '127.0.0.1', ADMIN_A_PORT: String(aAdmin),
    BACKEND_B: `127.0.0.1:${bPort}`, ADMIN_B_HOST: '127.0.0.1', ADMIN_B_PORT: String(bAdmin),
  })
  const up = (name: string) => until(`HAProxy to see ${name} UP`, 15_000, async () => ((await serverStatus(stats, name)) === 'UP' ? true : undefined))
  await up('a').catch((error: Error) => { throw new Error(`${error.message}; haproxy said: ${haproxy.output()}`) })
  await up('b')

  let prometheus: ReturnType<typeof daemon> | undefined
  if (prometheusBinary) {
    const config = join(dir, 'prometheus.yml')
    writeFileSync(config, [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: ws-stream',
      `    static_configs: [{ targets: ['127.0.0.1:${aAdmin}', '127.0.0.1:${bAdmin}'] }]`,
      '',
    ].join('\n'))
    prometheus = daemon(t, prometheusBinary, [
      `--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
    ])
  }

  const tally: Tally = { rounds: 0, corrupted: 0, drained: 0, reconnected: 0, failures: [] }
  let running = true
  const streams = new Set<WsStream>()
  t.teardown(() => { running = false; for (const s of streams) s.abort() })
  const url = `ws://127.0.0.1:${front}`
  const fleet = Array.from({ length: CLIENTS }, () => client(url, tally, () => running, streams))
  await until(`${CLIENTS} clients streaming`, 20_000, async () => (streams.size === CLIENTS && tally.rounds >= 2 * CLIENTS ? true : undefined))
  t.same(tally.failures, [], 'every client connected')

  if (prometheus) {
    const query = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('sum(ws_stream_connections{state="open"})')}`
    const open = await until('Prometheus to count the clients', 20_000, async () => {
      const { body } = await get(query)
      const value = Number((JSON.parse(body) as { data: { result: Array<{ value: [number, string] }> } }).data.result[0]?.value[1])
      return value === CLIENTS ? value : undefined
    }).catch((error: Error) => { throw new Error(`${error.message}; prometheus said: ${prometheus!.output()}`) })
    t.equal(open, CLIENTS, 'sum(ws_stream_connections{state="open"}) through Prometheus is the number of clients')
  } else {
    t.pass('Prometheus scrape', { skip: 'prometheus not installed: apt-get install prometheus' })
  }

  // The rolling restart, under that load.
  const onEach: number[] = []
  for (const backend of backends) {
    const before = tally.drained
    onEach.push(Number((await get(`${backend.admin}/metrics`)).body.match(/^ws_stream_connections\{state="open"\} (\d+)/m)?.[1]))
    t.equal(await backend.stop(), 0, `backend ${backend.name} exits 0 after its drain`)
    await until(`the clients of ${backend.name} to reconnect`, 15_000, async () => (streams.size === CLIENTS ? true : undefined))
    t.ok(tally.drained - before >= onEach.at(-1)!, `every client of ${backend.name} (${onEach.at(-1)}) got 1001 (${tally.drained - before})`)
    await backend.start()
    await up(backend.name)
  }
  t.ok(onEach.every((n) => n > 0), `both backends held clients (${onEach.join(', ')})`)
  const roundsBefore = tally.rounds
  await until('more echoes after the restart', 10_000, async () => (tally.rounds > roundsBefore + CLIENTS ? true : undefined))
  running = false
  await Promise.all(fleet)

  t.same(tally.failures, [], 'no connection was refused or failed its handshake, no unexpected close')
  t.equal(tally.corrupted, 0, `no echo corrupted (${tally.rounds} rounds checked)`)
  t.equal(tally.reconnected, tally.drained, `every drained client reconnected (${tally.drained})`)
})
