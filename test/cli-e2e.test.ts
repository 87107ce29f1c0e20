/**
 * The `ws-stream` binary end to end, as users run it: real processes, real loopback sockets, and
 * real peers nobody here wrote (redis-server and redis-cli, websockify) where they are installed.
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { WsStreamServer } from '../src/index.js'
import { cli, cliPath, freePort, listen, stdoutLength, tcpReady, which } from './support/cli.js'

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

t.test('a 4 MiB binary file goes through connect → listen --echo and comes back with the same sha256', async (t) => {
  const server = await listen(t, ['--echo'])
  const file = randomBytes(4 * 1024 * 1024)
  const client = cli(t, ['connect', server.url, '--progress'])
  client.child.stdin.write(file)
  // WebSocket has no half-close: stdin stays open until the echo is back, then its end closes with 1000.
  await stdoutLength(client, file.length)
  client.child.stdin.end()
  t.equal(await client.exited, 0, 'closed with 1000: exit 0')
  t.equal(sha256(client.stdout()), sha256(file), 'sha256 equal')
  t.match(client.stderr(), /in 4\.0 MiB {2}out 4\.0 MiB {2}[\d.]+ [KMG]?i?B\/s/, 'the progress line counts both directions')
  await server.waitForStderr(/#1 127\.0\.0\.1:\d+ closed: code 1000, clean, initiator remote/)
})

t.test('the peer\'s close code is connect\'s exit status: 1008 → 108, 4000 → 99, 1000 → 0', async (t) => {
  for (const [code, status] of [[1008, 108], [4000, 99], [1000, 0]] as const) {
    const server = new WsStreamServer({ host: '127.0.0.1', port: 0 })
    t.teardown(() => server.close({ timeout: 0 }))
    await server.listening
    server.on('connection', async (stream) => {
      await stream.write(`closing with ${code}\n`)
      await stream.close(code, 'test')
    })
    const client = cli(t, ['connect', `ws://127.0.0.1:${(server.address() as AddressInfo).port}`])
    t.equal(await client.exited, status, `${code} → exit ${status}`)
    t.equal(client.stdout().toString(), `closing with ${code}\n`, 'the bytes before the Close reached stdout')
    if (code !== 1000) t.match(client.stderr(), new RegExp(`closed: code ${code} "test", clean, initiator remote`))
  }
})

t.test('listen --exec bridges each connection to its own command; the command\'s exit closes with 1000', async (t) => {
  const server = await listen(t, ['--exec', 'read line; echo "got $line from $$"'])
  const run = async (text: string): Promise<string> => {
    const client = cli(t, ['connect', server.url])
    client.child.stdin.write(`${text}\n`) // stdin stays open: the server side ends the connection
    t.equal(await client.exited, 0)
    return client.stdout().toString()
  }
  const [a, b] = await Promise.all([run('alpha'), run('beta')])
  t.match(a, /^got alpha from (\d+)\n$/)
  t.match(b, /^got beta from (\d+)\n$/)
  t.not(a.match(/\d+/)![0], b.match(/\d+/)![0], 'one process per connection')
})

t.test('listen --to a closed port closes the connection with 1014 Bad Gateway (connect exits 114)', async (t) => {
  const server = await listen(t, ['--to', `127.0.0.1:${await freePort()}`])
  const client = cli(t, ['connect', server.url])
  t.equal(await client.exited, 114)
  await server.waitForStderr(/cannot reach 127\.0\.0\.1:\d+: ECONNREFUSED/)
})

t.test('SIGTERM drains listen: its connections get 1001 (connect exits 101) and it exits 0', async (t) => {
  const server = await listen(t, ['--echo'])
  const client = cli(t, ['connect', server.url])
  client.child.stdin.write('still here\n')
  await stdoutLength(client, 'still here\n'.length)
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)
  t.equal(await client.exited, 101)
  t.match(server.stderr(), /SIGTERM: draining 1 connection\(s\)/)
  t.match(server.stderr(), /stopped: 1 closed cleanly, 0 terminated/)
  t.match(client.stderr(), /closed: code 1001 "Going Away", clean, initiator remote/)
})

t.test('SIGINT makes connect close with 1000 and exit 130', async (t) => {
  const server = await listen(t, ['--echo'])
  const client = cli(t, ['connect', server.url, '--verbose'])
  client.child.stdin.write('x')
  await stdoutLength(client, 1)
  client.child.kill('SIGINT')
  t.equal(await client.exited, 130)
  t.match(client.stderr(), /\[client\] state open → closingSent/)
  t.match(client.stderr(), /\[client\] closed code 1000, clean, initiator local/)
})

const redisServer = which('redis-server')
const redisCli = which('redis-cli')
const websockify = which('websockify')

t.test('redis-cli ⇄ ws-stream connect ⇄ ws-stream listen --to ⇄ redis-server', {
  skip: redisServer && redisCli ? false : 'needs redis-server and redis-cli on PATH (Debian packages redis-server, redis-tools)',
}, async (t) => {
  if (!redisServer || !redisCli) return
  const redisPort = await freePort()
  const redis = spawn(redisServer, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  t.teardown(async () => {
    if (redis.exitCode === null) {
      redis.kill('SIGTERM')
      await once(redis, 'exit')
    }
  })
  await tcpReady(redisPort)
  const bridge = await listen(t, ['--to', `127.0.0.1:${redisPort}`])

  // redis-cli speaks TCP: each of its connections gets its own `ws-stream connect` on stdin/stdout.
  const front = net.createServer((socket) => {
    const client = cli(t, ['connect', bridge.url, '--quiet'])
    socket.pipe(client.child.stdin)
    client.child.stdout.pipe(socket)
    socket.on('error', () => client.child.kill())
  })
  front.listen(0, '127.0.0.1')
  await once(front, 'listening')
  t.teardown(() => new Promise((resolve) => front.close(resolve)))
  const frontPort = (front.address() as AddressInfo).port

  /** Runs redis-cli; with `stdin`, redis-cli -x sends it as the command's last argument. */
  const redisCliRun = (args: string[], stdin?: string): Promise<string> => new Promise((resolve, reject) => {
    const child = spawn(redisCli, ['-h', '127.0.0.1', '-p', String(frontPort), ...(stdin === undefined ? [] : ['-x']), ...args])
    child.stdin.end(stdin)
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
    const timer = setTimeout(() => child.kill(), 20_000)
    child.on('error', reject)
    child.on('close', () => { clearTimeout(timer); resolve(out.trim()) })
  })
  const big = randomBytes(200_000).toString('hex')
  t.equal(await redisCliRun(['PING']), 'PONG')
  t.equal(await redisCliRun(['SET', 'greeting', 'hello over a websocket']), 'OK')
  t.equal(await redisCliRun(['GET', 'greeting']), 'hello over a websocket')
  t.equal(await redisCliRun(['SET', 'big'], big), 'OK')
  t.equal(await redisCliRun(['STRLEN', 'big']), String(big.length), 'a 400 kB value went through')
  t.equal(sha256(Buffer.from(await redisCliRun(['GET', 'big']))), sha256(Buffer.from(big)), 'and came back intact')
  await bridge.waitForStderr(/#6 127\.0\.0\.1:\d+ closed: code 1000, clean, initiator remote/)
})

t.test('ws-stream connect talks to websockify fronting a TCP echo service', {
  skip: websockify ? false : 'needs websockify on PATH (Debian package websockify)',
}, async (t) => {
  if (!websockify) return
  const echo = net.createServer((socket) => socket.on('error', () => {}).pipe(socket)).listen(0, '127.0.0.1')
  await once(echo, 'listening')
  t.teardown(() => new Promise((resolve) => echo.close(resolve)))
  const wsPort = await freePort()
  const proxy = spawn(websockify, [`127.0.0.1:${wsPort}`, `127.0.0.1:${(echo.address() as AddressInfo).port}`], { stdio: 'ignore' })
  t.teardown(async () => {
    if (proxy.exitCode === null) {
      proxy.kill('SIGTERM')
      await once(proxy, 'exit')
    }
  })
  await tcpReady(wsPort)
  const data = randomBytes(1024 * 1024)
  const client = cli(t, ['connect', `ws://127.0.0.1:${wsPort}`])
  client.child.stdin.write(data)
  await stdoutLength(client, data.length)
  client.child.stdin.end()
  t.equal(await client.exited, 0, 'websockify answered our Close with 1000')
  t.equal(sha256(client.stdout()), sha256(data), '1 MiB through websockify and back, sha256 equal')
})

t.test('the binary starts with a node shebang so that npm can link it', async (t) => {
  const { readFile } = await import('node:fs/promises')
  t.match((await readFile(cliPath, 'utf8')).split('\n')[0], '#!/usr/bin/env node')
})

/** A plain ws server on loopback whose connections are handed to `onConnection`; closed at teardown. */
async function wsPeer(t: Test, onConnection: (socket: WebSocket) => void): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  wss.on('connection', (socket) => {
    socket.on('error', () => {})
    onConnection(socket)
  })
  t.teardown(async () => {
    for (const socket of wss.clients) socket.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`
}

t.test('--text bytes lets a text message into the stream; without it the text closes with 1003 (exit 103)', async (t) => {
  const url = await wsPeer(t, (socket) => {
    socket.send('some binary first\n', { binary: true })
    socket.send('then text\n', { binary: false })
    setTimeout(() => socket.close(1000), 50)
  })
  const bytes = cli(t, ['connect', url, '--text', 'bytes'])
  t.equal(await bytes.exited, 0)
  t.equal(bytes.stdout().toString(), 'some binary first\nthen text\n')
  const reject = cli(t, ['connect', url])
  t.equal(await reject.exited, 103)
  t.equal(reject.stdout().toString(), 'some binary first\n', 'the binary before the text still arrives')
})

t.test('--close-timeout bounds the close against a peer that stopped reading: exit 106 at the deadline', async (t) => {
  const url = await wsPeer(t, (socket) => socket.pause())
  const client = cli(t, ['connect', url, '--close-timeout', '300', '--verbose'])
  client.child.stdin.end('bye\n')
  t.equal(await client.exited, 106)
  t.match(client.stderr(), /closed code 1006, unclean, initiator local \(ERR_WS_TIMEOUT: The close handshake did not finish within 300 ms\.\)/)
})

t.test('--quiet prints nothing for an unclean end, only the exit status tells', async (t) => {
  const url = await wsPeer(t, (socket) => socket.close(1008, 'policy'))
  const client = cli(t, ['connect', url, '--quiet'])
  t.equal(await client.exited, 108)
  t.equal(client.stderr(), '')
})

const hasIpv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = net.createServer()
  probe.once('error', () => resolve(false))
  probe.listen(0, '::1', () => probe.close(() => resolve(true)))
})

t.test('--host binds another address: listen on ::1 and connect to it', {
  skip: hasIpv6Loopback ? false : 'this machine has no ::1 (IPv6 loopback)',
}, async (t) => {
  const server = cli(t, ['listen', '0', '--echo', '--host', '::1'])
  const [, url] = await server.waitForStderr(/listening on (ws:\/\/\[::1\]:\d+)/)
  const client = cli(t, ['connect', url!])
  client.child.stdin.write('over IPv6\n')
  await stdoutLength(client, 'over IPv6\n'.length)
  client.child.stdin.end()
  t.equal(await client.exited, 0)
  t.equal(client.stdout().toString(), 'over IPv6\n')
})
