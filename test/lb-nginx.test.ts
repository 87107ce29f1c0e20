/**
 * Behind nginx: docs/deploy/nginx.conf (the file the docs show, addresses filled in as envsubst
 * would) in front of two `ws-stream listen --echo` backends. Clients verify their echoes; one
 * backend drains (SIGTERM): its clients get 1001 through nginx and reconnect to the other.
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { connect, type WsStream } from '../src/index.js'
import { get } from './support/admin.js'
import { cli, freePort, tcpReady, which } from './support/cli.js'

const CLIENTS = 20
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function echoRound(stream: WsStream): Promise<boolean> {
  const chunk = randomBytes(4096)
  await stream.write(chunk)
  return sha(await stream.readExactly(chunk.length)) === sha(chunk)
}

const nginx = which('nginx') ?? which('/usr/sbin/nginx')

t.test('nginx with the documented config: echoes pass, a draining backend\'s clients get 1001 and reconnect', { skip: nginx ? false : 'nginx not installed: apt-get install nginx' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ws-stream-nginx-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [front, aPort, aAdmin, bPort, bAdmin] = await Promise.all(Array.from({ length: 5 }, freePort))
  const backends = [[aPort!, aAdmin!], [bPort!, bAdmin!]].map(([port, admin]) =>
    cli(t, ['listen', String(port), '--echo', '--admin', `127.0.0.1:${admin}`, '-q']))
  await Promise.all([aPort!, bPort!].map((port) => tcpReady(port)))

  const vars: Record<string, string> = { WS_FRONTEND: `127.0.0.1:${front}`, BACKEND_A: `127.0.0.1:${aPort}`, BACKEND_B: `127.0.0.1:${bPort}` }
  const site = readFileSync(new URL('../docs/deploy/nginx.conf', import.meta.url), 'utf8')
    .replace(/\$\{(WS_FRONTEND|BACKEND_A|BACKEND_B)\}/g, (_, name: string) => vars[name]!)
  writeFileSync(join(dir, 'ws-stream.conf'), site)
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub))
  // The main config around it, as Debian's /etc/nginx/nginx.conf includes conf.d/*.conf in http {}.
  writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  include ${dir}/ws-stream.conf;
}
`)
  const proxy = spawn(nginx!, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let said = ''
  proxy.stderr.setEncoding('utf8').on('data', (s: string) => { said += s })
  const exited = new Promise((resolve) => proxy.once('close', resolve))
  t.teardown(async () => {
    // SIGTERM: the master stops its workers too (SIGKILL would orphan them).
    if (proxy.exitCode === null && proxy.signalCode === null) proxy.kill('SIGTERM')
    await exited
  })
  await tcpReady(front!).catch((error: Error) => { throw new Error(`${error.message}; nginx said: ${said}`) })

  const url = `ws://127.0.0.1:${front}`
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(url)))
  t.teardown(() => { for (const c of clients) c.abort() })
  t.same(await Promise.all(clients.map(echoRound)), clients.map(() => true), 'every echo through nginx is intact')

  const openOnA = Number((await get(`http://127.0.0.1:${aAdmin}/metrics`)).body.match(/^ws_stream_connections\{state="open"\} (\d+)/m)?.[1])
  t.ok(openOnA > 0 && openOnA < CLIENTS, `least_conn spread the clients (${openOnA} on a)`)
  backends[0]!.child.kill('SIGTERM')
  t.equal(await backends[0]!.exited, 0, 'backend a drains and exits 0')
  const codes = await Promise.all(clients.map(async (c) => (c.state === 'open' ? undefined : (await c.closed).code)))
  t.equal(codes.filter((code) => code === 1001).length, openOnA, 'each of its clients got 1001 through nginx')

  const again = await Promise.all(codes.filter((code) => code === 1001).map(() => connect(url)))
  t.teardown(() => { for (const c of again) c.abort() })
  t.same(await Promise.all(again.map(echoRound)), again.map(() => true), 'they reconnect (to b) and echo')
  const started = Date.now()
  const infos = await Promise.all([...clients, ...again].filter((c) => c.state === 'open').map((c) => c.close(1000)))
  t.ok(infos.every((info) => info.code === 1000 && info.wasClean), `the rest close cleanly through nginx (${Date.now() - started} ms)`)
})
