/**
 * The `ws-stream` binary's TLS and proxy flags end to end, with real parts started by the test on
 * loopback: openssl-made certificates and tinyproxy; and bad flag values, exit status 2.
 * (Headers, subprotocols, compression and unix sockets: cli-flags.test.ts.)
 */
import { join } from 'node:path'
import t from 'tap'
import { cli } from './support/cli.js'
import { echoThrough, listenOn, makeCertificates, opensslSkip, startTinyproxy, tempDir, tinyproxySkip } from './support/ecosystem.js'

t.test('TLS: listen --cert/--key serves wss; connect --ca trusts it, --insecure skips it loudly, a wrong or missing CA exits 7', { skip: opensslSkip }, async (t) => {
  const certs = makeCertificates(t)
  const server = await listenOn(t, ['0', '--echo', '--cert', certs.cert, '--key', certs.key])
  t.match(server.url, /^wss:\/\/127\.0\.0\.1:\d+$/, 'it says wss://')
  const url = server.url.replace('127.0.0.1', 'localhost')

  const trusted = await echoThrough(t, [url, '--ca', certs.ca])
  t.same(trusted, { code: 0, stdout: 'ping\n', stderr: '' }, '--ca: the echo came back and it exited 0')

  const insecure = await echoThrough(t, [server.url, '--insecure'])
  t.equal(insecure.code, 0)
  t.equal(insecure.stdout, 'ping\n')
  t.match(insecure.stderr, /WARNING: --insecure: the server's certificate is NOT verified/)
  const quietInsecure = await echoThrough(t, [server.url, '--insecure', '-q'])
  t.match(quietInsecure.stderr, /WARNING: --insecure/, 'the warning is printed under --quiet too')

  for (const [what, extra] of [['no --ca', []], ['a wrong --ca', ['--ca', certs.wrongCa]]] as const) {
    const rejected = await echoThrough(t, [url, ...extra])
    t.equal(rejected.code, 7, `${what}: exit 7`)
    t.match(rejected.stderr, /the server's certificate was rejected: UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/, `${what}: the message says why`)
    t.equal(rejected.stdout, '')
  }
})

t.test('proxy: connect --proxy and the environment go through tinyproxy; --proxy wins; NO_PROXY exempts', { skip: tinyproxySkip }, async (t) => {
  const proxy = await startTinyproxy(t, { user: 'alice', password: 'secret' })
  const server = await listenOn(t, ['0', '--echo'])
  const [, port] = /:(\d+)$/.exec(server.url)!
  const carried = (): number => (proxy.log().match(new RegExp(`: CONNECT 127\\.0\\.0\\.1:${port} `, 'g')) ?? []).length

  const explicit = await echoThrough(t, [server.url, '--proxy', proxy.url])
  t.same([explicit.code, explicit.stdout], [0, 'ping\n'], '--proxy with credentials')
  t.equal(carried(), 1, 'the proxy carried it')

  const clean = { ...process.env, HTTP_PROXY: '', http_proxy: '', HTTPS_PROXY: '', https_proxy: '', NO_PROXY: '', no_proxy: '' }
  const fromEnv = await echoThrough(t, [server.url], 'ping\n', { ...clean, HTTP_PROXY: proxy.url })
  t.same([fromEnv.code, fromEnv.stdout], [0, 'ping\n'], 'HTTP_PROXY for ws://')
  t.match(fromEnv.stderr, /using the proxy http:\/\/alice:\*\*\*@127\.0\.0\.1:\d+\/ from the environment/, 'it says so, password hidden')
  t.equal(carried(), 2)

  const exempt = await echoThrough(t, [server.url], 'ping\n', { ...clean, http_proxy: proxy.url, NO_PROXY: 'example.com,127.0.0.1' })
  t.same([exempt.code, exempt.stdout], [0, 'ping\n'], 'NO_PROXY lists the host: straight there')
  t.equal(carried(), 2, 'not through the proxy')

  const wins = await echoThrough(t, [server.url, '--proxy', proxy.url], 'ping\n', { ...clean, HTTP_PROXY: 'http://127.0.0.1:1' })
  t.same([wins.code, wins.stdout], [0, 'ping\n'], '--proxy wins over the environment')
  t.equal(carried(), 3)

  const noAuth = await echoThrough(t, [server.url, '--proxy', `http://127.0.0.1:${proxy.port}`])
  t.equal(noAuth.code, 4, 'a proxy that refuses: exit 4')
  t.match(noAuth.stderr, /refused the WebSocket upgrade with HTTP 40[17] \(through the proxy http:\/\/127\.0\.0\.1:\d+\/: the answer may be the proxy's\)/)

  const badEnv = await echoThrough(t, [server.url], 'ping\n', { ...clean, HTTP_PROXY: 'http://:8080' })
  t.equal(badEnv.code, 2, 'a proxy variable without a host: exit 2')
  t.match(badEnv.stderr, /HTTP_PROXY must be an http:\/\/ or https:\/\/ proxy URL with a host/)
})

t.test('the binary: a bad file or flag value is a message naming the flag, exit 2, nothing left running (the parser\'s other cases: cli-parse.test.ts)', { skip: opensslSkip }, async (t) => {
  const certs = makeCertificates(t)
  const dir = tempDir(t)
  const cases: Array<[string, string[], RegExp]> = [
    ['a missing --cert file', ['listen', '0', '--echo', '--cert', join(dir, 'nope.pem'), '--key', certs.key], /--cert: cannot read '.*nope\.pem': ENOENT/],
    ['a --key of another certificate', ['listen', '0', '--echo', '--cert', certs.cert, '--key', join(certs.dir, 'wrong.key')], /--key '.*wrong\.key' does not match --cert/],
    ['a missing --ca file', ['connect', 'wss://127.0.0.1:1', '--ca', join(dir, 'nope.pem')], /--ca: cannot read '.*nope\.pem': ENOENT/],
    ['a proxy URL without a host', ['connect', 'ws://127.0.0.1:1', '--proxy', 'http://:3128'], /--proxy must be an http:\/\/ or https:\/\/ proxy URL with a host/],
    ['a header without a colon', ['connect', 'ws://127.0.0.1:1', '-H', 'Authorization Bearer x'], /--header takes 'Name: value', got 'Authorization Bearer x' \(no colon\)/],
  ]
  for (const [what, args, message] of cases) {
    const c = cli(t, args)
    c.child.stdin.end()
    t.equal(await c.exited, 2, `${what}: exit 2`)
    t.match(c.stderr(), message, `${what}: the message names the flag`)
    t.notMatch(c.stderr(), /listening on/, `${what}: nothing was started`)
  }
})
