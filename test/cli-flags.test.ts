/**
 * The `ws-stream` binary's header, subprotocol, compression and unix socket flags end to end: a
 * ws server that records each upgrade request's headers, unix sockets in a temp dir.
 * (TLS and proxies: cli-tls-proxy.test.ts.)
 */
import { existsSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { WebSocketServer } from 'ws'
import { cli } from './support/cli.js'
import { echoThrough, listenOn, tempDir } from './support/ecosystem.js'

/** A plain ws server that records each upgrade request and echoes. */
async function recordingServer(t: Test, options: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const requests: IncomingMessage[] = []
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options })
  await new Promise((resolve) => wss.once('listening', resolve))
  t.teardown(() => new Promise<void>((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(() => resolve()) }))
  wss.on('connection', (ws, request) => {
    requests.push(request)
    ws.on('message', (data, binary) => ws.send(data, { binary }))
  })
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, requests }
}

t.test('connect -H, --protocol and --compress reach the server in the upgrade request', async (t) => {
  const server = await recordingServer(t, { perMessageDeflate: true, handleProtocols: (offered) => offered.has('v2') ? 'v2' : false })
  const result = await echoThrough(t, [server.url, '-H', 'Authorization: Bearer abc', '--header', 'X-Trace:  one ', '-H', 'x-trace: two', '--protocol', 'v2', '--protocol', 'v1', '--compress', '-v'])
  t.equal(result.code, 0)
  t.equal(result.stdout, 'ping\n')
  const [request] = server.requests
  t.equal(request?.headers.authorization, 'Bearer abc')
  t.equal(request?.headers['x-trace'], 'one, two', 'a repeated header is one field, in order')
  t.equal(request?.headers['sec-websocket-protocol'], 'v2,v1', 'the subprotocols in order of preference')
  t.match(request?.headers['sec-websocket-extensions'], /permessage-deflate/, '--compress offers permessage-deflate')

  const plain = await echoThrough(t, [server.url])
  t.equal(plain.code, 0)
  t.equal(server.requests[1]?.headers['sec-websocket-extensions'], undefined, 'no compression unless asked')
})

t.test('listen --protocol accepts only its subprotocols; a client offering none of them is refused with 400', async (t) => {
  const server = await listenOn(t, ['0', '--echo', '--protocol', 'chat', '--protocol', 'v2'])
  const offered = await echoThrough(t, [server.url, '--protocol', 'v9', '--protocol', 'v2', '-v'])
  t.equal(offered.code, 0, 'one of ours offered: accepted')
  t.equal(offered.stdout, 'ping\n')
  for (const args of [[], ['--protocol', 'v9']]) {
    const refused = await echoThrough(t, [server.url, ...args])
    t.equal(refused.code, 4, `offering ${args.length ? 'v9' : 'nothing'}: exit 4`)
    t.match(refused.stderr, /refused the WebSocket upgrade with HTTP 400/)
  }
})

t.test('listen --compress negotiates permessage-deflate with connect --compress; bytes arrive intact', async (t) => {
  const server = await listenOn(t, ['0', '--echo', '--compress'])
  const text = 'the quick brown fox jumps over the lazy dog\n'.repeat(20_000)
  const result = await echoThrough(t, [server.url, '--compress'], text)
  t.equal(result.code, 0)
  t.equal(result.stdout, text, 'all 880 kB back')
})

t.test('unix sockets: listen --unix and connect ws+unix:path:/request-path; the socket file is gone after a SIGTERM drain', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'echo.sock')
  const server = await listenOn(t, ['--unix', path, '--echo'])
  t.equal(server.url, `ws+unix:${path}`)
  t.ok(existsSync(path), 'the socket file exists while listening')
  for (const url of [`ws+unix:${path}`, `ws+unix:${path}:/some/path?x=1`]) {
    const result = await echoThrough(t, [url])
    t.same([result.code, result.stdout], [0, 'ping\n'], url)
  }
  await server.waitForStderr(/#2 unix closed: code 1000/)

  // A connection still open when SIGTERM comes: drained with 1001, then the file is removed.
  const open = cli(t, ['connect', `ws+unix:${path}`])
  open.child.stdin.write('hold\n')
  while (open.stdout().length < 5) await new Promise((resolve) => setTimeout(resolve, 10))
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'listen exits 0 after the drain')
  t.equal(await open.exited, 101, 'the open connection was drained with 1001')
  t.notOk(existsSync(path), 'the socket file is removed')

  const gone = await echoThrough(t, [`ws+unix:${path}`])
  t.equal(gone.code, 3, 'nothing listens there any more: exit 3')
  t.match(gone.stderr, /ENOENT|ECONNREFUSED/)
})

t.test('listen --unix on a path already in use exits 6 and leaves the other listener\'s file alone', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'busy.sock')
  await listenOn(t, ['--unix', path, '--echo'])
  const second = cli(t, ['listen', '--unix', path, '--echo'])
  t.equal(await second.exited, 6)
  t.match(second.stderr(), new RegExp(`cannot listen on ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: EADDRINUSE`))
  t.ok(existsSync(path), 'the first listener\'s socket file is still there')
})
