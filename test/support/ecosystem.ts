/**
 * Real parts for the TLS, proxy and unix socket tests, each made or started by the test in a temp
 * dir on loopback: certificates from `openssl` (a CA, a server certificate for localhost and
 * 127.0.0.1 signed by it, and an unrelated "wrong" CA), and tinyproxy as the HTTP CONNECT proxy.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli, freePort, tcpReady, which, type Cli } from './cli.js'
import type { Teardown } from './helpers.js'

/** A temp dir removed at teardown. */
export function tempDir(t: Teardown, prefix = 'ws-stream-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export const opensslSkip = which('openssl') ? false : 'openssl is not installed (apt-get install openssl)'
export const tinyproxyPath = which('tinyproxy') ?? (spawnSync('test', ['-x', '/usr/bin/tinyproxy']).status === 0 ? '/usr/bin/tinyproxy' : undefined)
export const tinyproxySkip = tinyproxyPath ? false : 'tinyproxy is not installed (apt-get install tinyproxy)'

export interface Certificates {
  dir: string
  /** The CA that signed `cert`. */
  ca: string
  /** A CA that signed nothing here. */
  wrongCa: string
  /** A certificate for localhost and 127.0.0.1, and its key. */
  cert: string
  key: string
}

function openssl(args: string[], cwd: string): void {
  const run = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 20_000 })
  if (run.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${run.stderr}`)
}

/** Makes a CA, a server certificate signed by it (SAN localhost, 127.0.0.1) and a wrong CA, in a temp dir. */
export function makeCertificates(t: Teardown): Certificates {
  const dir = tempDir(t, 'ws-stream-tls-')
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(['req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ws-stream test CA'], dir)
  openssl(['req', '-x509', ...key, '-keyout', 'wrong.key', '-out', 'wrong.pem', '-days', '2', '-subj', '/CN=ws-stream wrong CA'], dir)
  openssl(['req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir)
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.cnf'], dir)
  return { dir, ca: join(dir, 'ca.pem'), wrongCa: join(dir, 'wrong.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') }
}

/** A running tinyproxy (`log()` reads its log file, where each tunnel is a `CONNECT host:port` line) on 127.0.0.1 (basic auth when `auth` is given: letters and digits only, tinyproxy's config grammar); killed at teardown. */
export async function startTinyproxy(t: Teardown, auth?: { user: string; password: string }): Promise<{ port: number; url: string; log: () => string }> {
  const dir = tempDir(t, 'ws-stream-proxy-')
  const port = await freePort()
  const config = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    'MaxClients 20',
    'LogLevel Connect',
    'Allow 127.0.0.1',
    // A file: its log on a pipe would be block-buffered, and the tests read it as they go.
    `LogFile "${join(dir, 'tinyproxy.log')}"`,
    // No ConnectPort line: CONNECT may reach any port (the test servers' ports are random).
    ...(auth ? [`BasicAuth ${auth.user} ${auth.password}`] : []),
  ]
  writeFileSync(join(dir, 'tinyproxy.conf'), `${config.join('\n')}\n`)
  const child = spawn(tinyproxyPath!, ['-d', '-c', join(dir, 'tinyproxy.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { log += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { log += d })
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  await Promise.race([
    tcpReady(port),
    exited.then(() => { throw new Error(`tinyproxy exited before listening: ${log}`) }),
  ])
  const credentials = auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@` : ''
  const logFile = join(dir, 'tinyproxy.log')
  return { port, url: `http://${credentials}127.0.0.1:${port}`, log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : log) }
}

/** Feeds `input` to `ws-stream connect ...args`, ends stdin once the echo is back, resolves with the outcome. */
export async function echoThrough(t: Teardown, args: string[], input = 'ping\n', env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const client = cli(t, ['connect', ...args], env)
  client.child.stdin.write(input)
  const deadline = Date.now() + 15_000
  while (client.stdout().length < input.length && client.child.exitCode === null && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  client.child.stdin.end()
  const code = await client.exited
  return { code, stdout: client.stdout().toString(), stderr: client.stderr() }
}

/** Starts `ws-stream listen ...args` and resolves with its URL from the "listening on" line. */
export async function listenOn(t: Teardown, args: string[]): Promise<Cli & { url: string }> {
  const server = cli(t, ['listen', ...args])
  const [, url] = await server.waitForStderr(/listening on (\S+)/)
  return { ...server, url: url! }
}
