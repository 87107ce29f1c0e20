/**
 * The browser build in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core; no
 * browser is downloaded): the page loads dist/src/browser.js with an import map that knows only
 * xstate and p-timeout, connects to our Node WsStreamServer over loopback, streams 10 MiB each
 * way (SHA-256 on both sides: node:crypto here, crypto.subtle in the page), reads the event
 * stream, and closes with a code both sides see. Skips, saying why, without Chromium or playwright-core.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Teardown } from './support/helpers.js'
import { WsStreamServer, type CloseInfo, type WsEvent, type WsStream } from '../src/index.js'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const root = fileURLToPath(new URL('..', import.meta.url))
const SIZE = 10 * 1024 * 1024

type Playwright = typeof import('playwright-core')
let playwright: Playwright | undefined
let missing: string | undefined
if (!existsSync(CHROMIUM)) missing = `${CHROMIUM} is missing (apt-get install chromium; .ci/apt-packages lists it)`
else if (!existsSync(join(root, 'dist/src/browser.js'))) missing = 'dist/src/browser.js is missing (npm run build)'
else {
  try {
    playwright = await import('playwright-core')
  } catch (error) {
    missing = `playwright-core cannot be loaded (${(error as Error).message})`
  }
}

/** Serves the page, dist/ and the two runtime dependencies, nothing else, on 127.0.0.1:0. */
async function pageServer(t: Teardown): Promise<{ url: string; requested: string[] }> {
  const allowed = ['dist/', 'node_modules/xstate/dist/', 'node_modules/p-timeout/']
  const types: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.map': 'application/json' }
  const requested: string[] = []
  const server: Server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)).slice(1)
    if (path === 'favicon.ico') {
      response.writeHead(204).end()
      return
    }
    requested.push(path)
    const file = path === '' ? join(root, 'test/fixtures/browser/index.html') : join(root, path)
    if ((path !== '' && !allowed.some((prefix) => path.startsWith(prefix))) || path.split(sep).includes('..')) {
      response.writeHead(404).end()
      return
    }
    try {
      const body = await readFile(file)
      response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body)
    } catch {
      response.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requested }
}

/** What the page reports back. */
interface PageResult {
  sentSha256: string
  receivedSha256: string
  receivedBytes: number
  events: WsEvent[]
  info: CloseInfo
  ms: number
  stats: { bytesRead: number; bytesWritten: number; messagesIn: number; messagesOut: number }
}

t.test('the browser build streams 10 MiB each way to a Node WsStreamServer and closes with a code both sides see', { skip: missing }, async (t) => {
  const { url, requested } = await pageServer(t)
  // The server's 10 MiB: incompressible, from node:crypto.
  const { randomBytes } = await import('node:crypto')
  const serverData = randomBytes(SIZE)
  const server = new WsStreamServer({ host: '127.0.0.1', port: 0 })
  t.teardown(() => server.close({ timeout: 1000 }))
  await server.listening
  const serverSide = new Promise<{ sha256: string; bytes: number; events: WsEvent[]; info: CloseInfo }>((resolve, reject) => {
    server.once('connection', (stream: WsStream) => {
      const events: WsEvent[] = []
      stream.on('*', (event) => events.push(event))
      const sending = (async () => {
        for (let at = 0; at < SIZE; at += 256 * 1024) await stream.write(serverData.subarray(at, at + 256 * 1024))
        await stream.flush()
      })()
      const receiving = (async () => {
        const hash = createHash('sha256')
        let bytes = 0
        for await (const chunk of stream) {
          hash.update(chunk)
          bytes += chunk.length
        }
        return { sha256: hash.digest('hex'), bytes }
      })()
      Promise.all([sending, receiving, stream.closed])
        .then(([, received, info]) => resolve({ ...received, events, info }), reject)
    })
  })

  const browser = await playwright!.chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true, timeout: 30_000 })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const consoleErrors: string[] = []
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()) })
  await page.goto(url)
  await page.waitForFunction(() => (window as unknown as { loaded?: string }).loaded !== undefined, undefined, { timeout: 20_000 })
  t.equal(await page.evaluate(() => (window as unknown as { loaded: string }).loaded), 'ok', 'dist/src/browser.js loads with only xstate and p-timeout mapped')
  t.notOk(requested.some((path) => /(^|\/)(ws|node:)|node_modules\/(?!xstate|p-timeout)/.test(path)), 'nothing from ws, node:* or other packages was requested')
  t.notOk(requested.some((path) => /(duplex|server|connect|node|transport\/ws)\.js$/.test(path) && !path.endsWith('connect-standard.js')),
    'no Node-only module of ours was loaded')

  const wsUrl = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
  const result: PageResult = await page.evaluate(async ({ wsUrl, size }) => {
    type Lib = typeof import('../src/browser.js')
    const lib = (window as unknown as { lib: Lib }).lib
    const hex = (buffer: ArrayBuffer): string => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('')
    // The page's 10 MiB: a xorshift32 sequence, made here so nothing is shipped in.
    const sent = new Uint8Array(size)
    let x = 0x9e3779b9
    for (let i = 0; i < size; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5
      sent[i] = x & 0xff
    }
    const started = performance.now()
    const stream = await lib.connect(wsUrl, { timeout: 10_000 })
    const events: unknown[] = []
    const collecting = (async () => { for await (const event of stream.events()) events.push(event) })()
    const sending = (async () => {
      for (let at = 0; at < size; at += 100_000) await stream.write(sent.subarray(at, at + 100_000))
      await stream.flush()
    })()
    const received = new Uint8Array(size)
    let filled = 0
    while (filled < size) {
      const chunk = await stream.read(size - filled)
      if (chunk === null) break
      received.set(chunk, filled)
      filled += chunk.length
    }
    await sending
    const ms = performance.now() - started
    // Only now: a browser drops messages that arrive after its own close().
    const info = await stream.close(4321, 'done, thanks')
    await collecting
    return {
      sentSha256: hex(await crypto.subtle.digest('SHA-256', sent)),
      receivedSha256: hex(await crypto.subtle.digest('SHA-256', received.subarray(0, filled))),
      receivedBytes: filled,
      events: events as WsEvent[],
      info,
      ms,
      stats: stream.stats,
    }
  }, { wsUrl, size: SIZE })
  const server_ = await serverSide

  t.equal(result.receivedBytes, SIZE, 'the page read 10 MiB')
  t.equal(result.receivedSha256, createHash('sha256').update(serverData).digest('hex'), 'the page got the server\'s bytes (sha256)')
  t.equal(server_.bytes, SIZE, 'the server read 10 MiB')
  t.equal(server_.sha256, result.sentSha256, 'the server got the page\'s bytes (sha256)')
  t.match(result.info, { code: 4321, reason: 'done, thanks', wasClean: true, initiator: 'local' }, 'the page\'s CloseInfo')
  t.match(server_.info, { code: 4321, reason: 'done, thanks', wasClean: true, initiator: 'remote' }, 'the server\'s CloseInfo')
  t.ok(server_.events.some((e) => e.type === 'closeFrame' && e.code === 4321), 'the server saw the page\'s Close frame as an event')
  const types = result.events.map((e) => e.type === 'state' ? `state:${e.to}` : e.type)
  t.same(types.slice(-4), ['state:closingSent', 'closeFrame', 'state:closed', 'closed'], 'the page\'s event stream ends with the close handshake')
  t.match(result.events.find((e) => e.type === 'closeFrame'), { code: 4321, reason: 'done, thanks' }, 'the echoed Close frame reached the page as an event')
  t.match(result.stats, { bytesRead: SIZE, bytesWritten: SIZE }, 'stats count both directions')
  t.same(consoleErrors, [], 'no error on the page console')
  t.comment(`10 MiB each way, concurrently, in Chromium over loopback: ${result.ms.toFixed(0)} ms (${result.stats.messagesOut} messages out, ${result.stats.messagesIn} in; paused ${types.filter((x) => x === 'paused').length} times)`)
})
