/**
 * Every server program the docs show survives misbehaving clients.
 *
 * The programs are extracted, not copied: a fenced ```js block of README.md or docs/*.md is a
 * server program when it imports from 'ws-stream-actor' and constructs a `WsStreamServer`
 * (blocks without the import are fragments and are not run); every examples/*.js that constructs
 * one is a program too, except examples/inspector.js (it needs the Stately inspector relay).
 * So a snippet that creates a server must be a complete program.
 *
 * Each runs in a child process with test/fixtures/doc-server-preload.mjs, which makes it listen
 * on 127.0.0.1 port 0 and report the port, and turns `server.close()` into a no-op so that an
 * example that drains after its own demo keeps serving (the program is otherwise untouched). After
 * a baseline probe, each misbehaving client in turn — a reset mid-stream, a clean Close
 * mid-stream (our connect(): 1 MiB written, close(1000) at once), one message over maxPayload, a
 * text message, a client that never reads, then 100 of those at once — and after each a probe:
 * the same well-behaved client as the baseline (write, read what comes back within a second,
 * close cleanly) must get the same answer, and the process must still be running with no
 * unhandled rejection or uncaught error on its stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { connect } from '../src/index.js'

interface Program { name: string; source: string }

const isServerProgram = (code: string): boolean => /from 'ws-stream-actor'/.test(code) && /new WsStreamServer\(/.test(code)

async function extractPrograms(): Promise<Program[]> {
  const programs: Program[] = []
  const markdown = ['README.md', ...(await readdir('docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  for (const file of markdown) {
    const text = await readFile(file, 'utf8')
    let n = 0
    for (const [, code] of text.matchAll(/^```js\n([\s\S]*?)^```$/gm)) {
      n++
      if (isServerProgram(code!)) programs.push({ name: `${file} block ${n}`, source: code! })
    }
  }
  for (const file of (await readdir('examples')).filter((f) => f.endsWith('.js') && f !== 'inspector.js')) {
    const source = await readFile(`examples/${file}`, 'utf8')
    if (isServerProgram(source)) programs.push({ name: `examples/${file}`, source })
  }
  return programs
}

const preload = new URL('./fixtures/doc-server-preload.mjs', import.meta.url).href
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const PING = Buffer.from('ping\n')

/** Starts `program` in a child; resolves with its port once it reported one, and its output so far. */
async function start(t: Test, dir: string, program: Program): Promise<{ child: ChildProcess; port: number; output: { stdout: string; stderr: string } }> {
  const file = join(dir, `${program.name.replace(/[^a-z0-9]+/gi, '-')}.mjs`)
  await writeFile(file, program.source)
  const child = spawn(process.execPath, ['--import', preload, file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const output = { stdout: '', stderr: '' }
  child.stdout!.on('data', (d) => { output.stdout += d })
  child.stderr!.on('data', (d) => { output.stderr += d })
  const deadline = Date.now() + 15_000
  let port: number | undefined
  while (port === undefined) {
    const match = /@@listening (\d+)/.exec(output.stdout)
    if (match) port = Number(match[1])
    else if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${program.name} did not listen: ${output.stderr}`)
    else await sleep(10)
  }
  // Let an example finish its own demo (it calls server.close() at the end) before we interfere.
  const demoDeadline = Date.now() + 1500
  while (!output.stdout.includes('@@close') && Date.now() < demoDeadline) await sleep(10)
  return { child, port, output }
}

/** A well-behaved client: writes a line, takes what comes back within a second, closes cleanly. */
async function probe(url: string): Promise<{ answer: string; clean: boolean }> {
  const stream = await connect(url, { timeout: 5000 })
  try {
    await stream.write(PING)
    // A program may answer, stay silent, or refuse the line (a gunzip that is not fed gzip): the
    // same as in the baseline is what counts.
    const answer = await Promise.race([
      stream.read().then((reply) => (reply === null ? 'end' : 'bytes'), (error: { code?: string }) => `error ${error.code}`),
      sleep(1000).then(() => 'silent'),
    ])
    const info = await stream.close(1000, '', { timeout: 3000 })
    return { answer, clean: info.wasClean }
  } finally {
    stream.abort()
  }
}

async function openRaw(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url)
  ws.on('error', () => {})
  await once(ws, 'open')
  return ws
}

/** Resolves once `ws` closed, or after `ms`. */
async function closedOrAfter(ws: WebSocket, ms: number): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return
  await Promise.race([once(ws, 'close'), sleep(ms)])
}

const misbehaving: Array<[string, (url: string) => Promise<void>]> = [
  ['a reset mid-stream (ws.terminate())', async (url) => {
    const ws = await openRaw(url)
    ws.send(Buffer.alloc(256 * 1024, 1))
    ws.send(PING)
    await sleep(20)
    ws.terminate()
  }],
  ['a clean Close mid-stream (our connect(): write 1 MiB, close(1000) at once)', async (url) => {
    const stream = await connect(url, { timeout: 5000 })
    void stream.write(new Uint8Array(1024 * 1024).fill(2))
    await stream.close(1000, '', { timeout: 3000 })
  }],
  ['one message over maxPayload', async (url) => {
    const ws = await openRaw(url)
    ws.send(Buffer.alloc(1024 * 1024 + 1, 3))
    await closedOrAfter(ws, 3000)
    ws.terminate()
  }],
  ['a text message', async (url) => {
    const ws = await openRaw(url)
    ws.send(Buffer.from('ping\n'))
    ws.send('text, not bytes\n')
    await closedOrAfter(ws, 3000)
    ws.terminate()
  }],
  ['a client that never reads', async (url) => {
    const ws = await openRaw(url)
    ws.pause()
    for (let i = 0; i < 8; i++) ws.send(Buffer.alloc(256 * 1024, 4))
    await sleep(500)
    ws.terminate()
  }],
  ['100 clients that never read, at once', async (url) => {
    const clients = await Promise.all(Array.from({ length: 100 }, () => openRaw(url)))
    for (const ws of clients) {
      ws.pause()
      ws.send(Buffer.alloc(64 * 1024, 5))
      ws.send(PING)
    }
    await sleep(1000)
    for (const ws of clients) ws.terminate()
  }],
]

const programs = await extractPrograms()
// About ten seconds per program on a quiet machine, twelve programs: more than the default file timeout.
t.setTimeout(600_000)

t.test('the extraction finds the documented server programs', async (t) => {
  const names = programs.map((p) => p.name)
  t.ok(names.some((n) => n.startsWith('README.md')), 'the README server')
  t.ok(names.some((n) => n.startsWith('docs/server-and-connect.md')), 'server-and-connect')
  t.ok(names.some((n) => n.startsWith('docs/getting-started.md')), 'getting-started')
  t.ok(names.includes('examples/echo-server.js'))
  t.ok(programs.length >= 10, `${programs.length} programs: ${names.join(', ')}`)
})

for (const program of programs) {
  t.test(`${program.name} keeps serving through misbehaving clients`, { timeout: 90_000 }, async (t) => {
    const dir = t.testdir({})
    const { child, port, output } = await start(t, dir, program)
    const url = `ws://127.0.0.1:${port}`
    const baseline = await probe(url)
    t.comment(`baseline: ${JSON.stringify(baseline)}`)
    for (const [name, client] of misbehaving) {
      await client(url).catch((error: unknown) => t.comment(`${name}: the client saw ${String(error)}`))
      await sleep(100)
      t.equal(child.exitCode, null, `${name}: the process is still running`)
      if (child.exitCode !== null) break
      t.same(await probe(url), baseline, `${name}: a well-behaved client is served as before`)
    }
    t.notMatch(output.stderr, /unhandled|uncaught|Node\.js v\d/i, `no unhandled rejection or uncaught error:\n${output.stderr}`)
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    }
  })
}
