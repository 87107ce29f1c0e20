/**
 * The admin dashboard in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core; no
 * browser is downloaded): three clients show as three `open` rows, a closed one leaves, a selected
 * one's machine is drawn by Mermaid with its current state highlighted, a screenshot is written and
 * is not blank, and every request of the page goes to the admin address. Skips, saying why, without
 * Chromium or playwright-core.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { inflateSync } from 'node:zlib'
import t from 'tap'
import { adminHandler, connect, createDashboard, WsStreamServer, type WsStream } from '../src/index.js'
import { urlOf } from './support/helpers.js'

const CHROMIUM = '/usr/bin/chromium'
let playwright: typeof import('playwright-core') | undefined
let missing: string | undefined
if (!existsSync(CHROMIUM)) missing = `${CHROMIUM} is missing (apt-get install chromium; .ci/apt-packages lists it)`
else {
  try {
    playwright = await import('playwright-core')
  } catch (error) {
    missing = `playwright-core cannot be loaded (${(error as Error).message})`
  }
}
if (missing) t.comment(`skipping: ${missing}`)

/** How many distinct colours the PNG's first rows hold: a blank page has one. (8-bit RGB(A), filter-aware.) */
function distinctColours(png: Buffer, rowsToRead = 200): number {
  let offset = 8
  let width = 0, height = 0, channels = 0
  const idat: Buffer[] = []
  while (offset < png.length) {
    const length = png.readUInt32BE(offset)
    const type = png.toString('latin1', offset + 4, offset + 8)
    const data = png.subarray(offset + 8, offset + 8 + length)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      channels = data[9] === 6 ? 4 : 3
    }
    if (type === 'IDAT') idat.push(data)
    offset += 12 + length
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const colours = new Set<number>()
  let previous = Buffer.alloc(stride)
  for (let y = 0; y < Math.min(height, rowsToRead); y++) {
    const filter = raw[y * (stride + 1)]!
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)))
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? line[x - channels]! : 0
      const b = previous[x]!
      const c = x >= channels ? previous[x - channels]! : 0
      const p = a + b - c
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c)
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter]!
      line[x] = (line[x]! + predictor) & 0xff
    }
    for (let x = 0; x < stride; x += channels) colours.add((line[x]! << 16) | (line[x + 1]! << 8) | line[x + 2]!)
    previous = line
  }
  return colours.size
}

t.test('the dashboard lists three open clients, drops a closed one, highlights a selected one\'s state in its drawn machine, and asks only its own address', { skip: missing }, async (t) => {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
  await server.listening
  const dashboard = createDashboard(server)
  const admin = createServer(adminHandler(server, { routes: dashboard.routes }))
  await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`
  const clients: WsStream[] = []
  const browser = await playwright!.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] })
  t.teardown(async () => {
    await browser.close()
    for (const client of clients) client.abort()
    dashboard.close()
    admin.closeAllConnections()
    await new Promise((resolve) => admin.close(resolve))
    await server.close({ timeout: 0 })
  })
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
  const requests: string[] = []
  page.on('request', (request) => { requests.push(request.url()) })
  const rowsIn = (state: string) => page.$$eval('#rows tbody tr', (trs, state) => trs.filter((tr) => tr.children[2]!.textContent === state).map((tr) => tr.children[0]!.textContent), state)
  await page.goto(base)
  await page.waitForSelector('#server-machine svg')
  t.match(await page.textContent('#notice'), /read-only/, 'without a token the page says it is read-only')

  for (let i = 0; i < 3; i++) clients.push(await connect(urlOf(server)))
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#rows tbody tr td:nth-child(3)')).filter((td) => td.textContent === 'open').length === 3, undefined, { timeout: 10_000 })
  const open = await rowsIn('open')
  t.equal(open.length, 3, `three rows in state open (${open.join(', ')})`)

  const leaving = clients.pop()!
  await leaving.close()
  await page.waitForFunction(() => document.querySelectorAll('#rows tbody tr').length === 2, undefined, { timeout: 10_000 })
  t.equal((await rowsIn('open')).length, 2, 'the closed one left')

  await page.click('#rows tbody tr:nth-child(1)')
  await page.waitForSelector('#machine svg .current', { timeout: 10_000 })
  const highlighted = await page.$$eval('#machine svg .current', (nodes) => nodes.map((n) => n.id))
  t.equal(highlighted.length, 1, `one node highlighted (${highlighted.join(', ')})`)
  t.match(highlighted[0], /-state-open-/, 'the current state, open, is the highlighted node')
  t.match(await page.textContent('#events'), /accepted from 127\.0\.0\.1/, 'its recent events are listed')
  t.match(await page.textContent('#server-state'), 'listening', 'the server machine\'s state')

  const file = join(t.testdirName, 'dashboard.png')
  t.testdir({})
  await page.screenshot({ path: file })
  const png = await readFile(file)
  const colours = distinctColours(png)
  t.ok(png.length > 20_000, `the screenshot is ${png.length} bytes`)
  t.ok(colours > 20, `and not blank: ${colours} colours in its first 200 rows`)

  const elsewhere = requests.filter((url) => !url.startsWith(`${base}/`) && !url.startsWith('data:'))
  t.same(elsewhere, [], `all ${requests.length} requests went to the admin address`)
})
