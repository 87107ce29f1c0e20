#!/usr/bin/env node
// `npm run screenshot`: regenerates docs/dashboard.png. Starts a WsStreamServer with the admin
// address and the dashboard on loopback, connects three clients (one of them closing slowly, so a
// closing state shows), opens the page in headless Chromium (/usr/bin/chromium, driven by
// playwright-core; no browser is downloaded), selects a connection and writes the screenshot.
//
//   node scripts/dashboard-screenshot.mjs [--out file.png]
import { createServer } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'
import { WsStreamServer, adminHandler, connect, createDashboard } from '../dist/src/index.js'

const repository = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({ options: { out: { type: 'string' } } })
const out = values.out ?? join(repository, 'docs', 'dashboard.png')

const server = new WsStreamServer({ port: 0, host: '127.0.0.1' })
await server.listening
server.on('connection', async (stream) => {
  // Echo until the peer closes.
  for await (const chunk of stream) await stream.write(chunk)
})
const dashboard = createDashboard(server, { token: 'example-token' })
const admin = createServer(adminHandler(server, { routes: dashboard.routes }))
await new Promise((resolve) => admin.listen(0, '127.0.0.1', resolve))
const base = `http://127.0.0.1:${admin.address().port}`
const url = `ws://127.0.0.1:${server.address().port}`

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] })
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
  await page.goto(base)
  const clients = []
  for (let i = 0; i < 3; i++) {
    const client = await connect(url)
    await client.write(Buffer.alloc(1000 * (i + 1), 'x'))
    await client.readExactly(1000 * (i + 1))
    clients.push(client)
  }
  await page.waitForFunction(() => document.querySelectorAll('#rows tbody tr').length === 3)
  await page.click('#rows tbody tr:nth-child(2)')
  await page.waitForSelector('#machine svg .current')
  await page.waitForSelector('#server-machine svg')
  await new Promise((resolve) => setTimeout(resolve, 1200)) // a byte-count delta and a chart sample
  await page.screenshot({ path: out, fullPage: true })
  console.log(`wrote ${out}`)
  for (const client of clients) await client.close()
} finally {
  await browser.close()
  dashboard.close()
  admin.close()
  admin.closeAllConnections()
  await server.close({ timeout: 1000 })
}
