/**
 * connect()'s `proxy` option and TLS options against real parts on loopback: tinyproxy as the
 * HTTP CONNECT proxy (with and without basic auth), a WsStreamServer on an https server whose
 * certificate openssl made for the test; and proxyFromEnv(), curl's reading of the environment.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import { Agent } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { connect, HandshakeError, proxyFromEnv, WsStreamServer } from '../src/index.js'
import { makeCertificates, opensslSkip, startTinyproxy, tinyproxySkip, type Certificates } from './support/ecosystem.js'

/** An echo WsStreamServer on plain ws:// or, given certificates, wss://; resolves with its port. */
async function echoServer(t: Test, certs?: Certificates): Promise<number> {
  const https = certs ? createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }) : undefined
  if (https) {
    https.listen(0, '127.0.0.1')
    t.teardown(() => new Promise<void>((resolve) => { https.closeAllConnections(); https.close(() => resolve()) }))
  }
  const server = new WsStreamServer(https ? { server: https } : { port: 0, host: '127.0.0.1' })
  await server.listening
  t.teardown(() => server.close({ timeout: 0 }))
  server.on('connection', async (stream) => {
    try {
      for (let chunk; (chunk = await stream.read()) !== null;) await stream.write(chunk)
    } catch {
      // closed under us
    }
  })
  return ((https?.address() ?? server.address()) as AddressInfo).port
}

async function roundTrip(t: Test, url: string, options: Parameters<typeof connect>[1]): Promise<void> {
  const stream = await connect(url, { timeout: 10_000, ...options })
  t.teardown(() => stream.abort())
  await stream.write('hello through\n')
  t.equal(Buffer.from((await stream.readUntil(0x0a))!).toString(), 'hello through\n', 'the echo came back')
  t.match(await stream.close(1000), { code: 1000, wasClean: true })
}

t.test('proxyFromEnv reads the environment as curl does', async (t) => {
  const env = { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2', HTTP_PROXY: 'proxy.example:3128' }
  t.equal(proxyFromEnv('wss://a.example/x', env), 'http://lower:1/', 'wss: https_proxy, lower case first')
  t.equal(proxyFromEnv('ws://a.example/x', env), 'http://proxy.example:3128/', 'ws: HTTP_PROXY; no scheme means http://')
  t.equal(proxyFromEnv('wss://a.example', { HTTP_PROXY: 'http://p:1' }), undefined, 'wss does not use HTTP_PROXY')
  t.equal(proxyFromEnv('ws+unix:/tmp/s', env), undefined, 'a unix socket is never proxied')
  t.equal(proxyFromEnv('wss://a.example', { HTTPS_PROXY: '  ' }), undefined, 'an empty value is unset')
  const noProxy = (list: string, url: string): string | undefined => proxyFromEnv(url, { HTTPS_PROXY: 'http://p:1', NO_PROXY: list })
  t.equal(noProxy('*', 'wss://anything'), undefined, '* exempts every host')
  t.equal(noProxy('example.com', 'wss://example.com'), undefined, 'the host itself')
  t.equal(noProxy('example.com', 'wss://a.b.example.com'), undefined, 'a domain it is in')
  t.equal(noProxy('.example.com', 'wss://a.example.com'), undefined, 'a leading dot is the same')
  t.equal(noProxy('example.com', 'wss://notexample.com'), 'http://p:1/', 'a suffix that is not a domain does not match')
  t.equal(noProxy('other.org, 10.0.0.0/8', 'wss://10.1.2.3:9'), undefined, 'a CIDR range in a list')
  t.equal(noProxy('10.0.0.0/8', 'wss://11.1.2.3'), 'http://p:1/', 'outside the range')
  t.equal(noProxy('::1', 'wss://[::1]:8080'), undefined, 'an IPv6 address')
  t.equal(proxyFromEnv('wss://h', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'h', no_proxy: 'other' }), 'http://p:1/', 'lower-case no_proxy first')
  t.throws(() => proxyFromEnv('wss://h', { HTTPS_PROXY: 'socks5://p:1' }), { code: 'ERR_INVALID_ARG_VALUE', message: /HTTPS_PROXY must be an http:\/\/ or https:\/\/ proxy URL/ })
})

t.test('connect() refuses a bad proxy before opening any socket', async (t) => {
  await t.rejects(connect('ws://127.0.0.1:1', { proxy: 'http://:3128' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /proxy must be .*got 'http:\/\/:3128'/ })
  await t.rejects(connect('ws://127.0.0.1:1', { proxy: 'ftp://p:21' }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(connect('ws://127.0.0.1:1', { proxy: 'http://p:1', agent: new Agent() }), { name: 'TypeError', message: /proxy or agent, not both/ })
  await t.rejects(connect('ws+unix:/tmp/nothing.sock', { proxy: 'http://p:1' }), { name: 'TypeError', message: /ws\+unix: URL cannot go through a proxy/ })
})

t.test('connect() with TLS options', { skip: opensslSkip }, async (t) => {
  const certs = makeCertificates(t)
  const port = await echoServer(t, certs)
  const ca = readFileSync(certs.ca)

  t.test('trusts the CA given in `ca`', (t) => roundTrip(t, `wss://localhost:${port}`, { ca }))
  t.test('skips verification with rejectUnauthorized: false', (t) => roundTrip(t, `wss://127.0.0.1:${port}`, { rejectUnauthorized: false }))
  t.test('rejects with the verification error as the cause when the CA is unknown or wrong', async (t) => {
    for (const options of [{}, { ca: readFileSync(certs.wrongCa) }]) {
      const error = await connect(`wss://localhost:${port}`, { timeout: 10_000, ...options }).catch((e: unknown) => e)
      t.type(error, HandshakeError)
      t.equal((error as HandshakeError).status, undefined, 'no HTTP answer')
      t.match((error as { cause: { code: string } }).cause.code, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/)
    }
  })
})

t.test('connect({ proxy }) tunnels through tinyproxy with HTTP CONNECT', { skip: tinyproxySkip }, async (t) => {
  t.test('ws:// through a proxy without auth', async (t) => {
    const proxy = await startTinyproxy(t)
    const port = await echoServer(t)
    await roundTrip(t, `ws://127.0.0.1:${port}`, { proxy: proxy.url })
    t.match(proxy.log(), new RegExp(`: CONNECT 127\\.0\\.0\\.1:${port} `), 'the proxy carried it')
  })

  t.test('wss:// through a proxy with basic auth; TLS runs inside the tunnel with the call\'s ca', { skip: opensslSkip }, async (t) => {
    const certs = makeCertificates(t)
    const proxy = await startTinyproxy(t, { user: 'alice', password: 'pa55word' })
    const port = await echoServer(t, certs)
    await roundTrip(t, `wss://localhost:${port}`, { proxy: proxy.url, ca: readFileSync(certs.ca) })
    t.match(proxy.log(), new RegExp(`: CONNECT localhost:${port} `), 'the proxy carried it')
  })

  t.test('a proxy that wants credentials answers with its status: a HandshakeError', async (t) => {
    const proxy = await startTinyproxy(t, { user: 'alice', password: 'secret' })
    const port = await echoServer(t)
    for (const url of [`http://127.0.0.1:${proxy.port}`, `http://alice:wrong@127.0.0.1:${proxy.port}`]) {
      const error = await connect(`ws://127.0.0.1:${port}`, { proxy: url, timeout: 10_000 }).catch((e: unknown) => e)
      t.type(error, HandshakeError)
      // tinyproxy answers a failed BasicAuth with 401; other proxies use 407.
      t.ok([401, 407].includes((error as HandshakeError).status!), `${url}: the proxy's 401 or 407, got ${(error as HandshakeError).status}`)
    }
  })
})
