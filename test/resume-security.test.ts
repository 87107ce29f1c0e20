/**
 * The resume handshake against clients that lie: forged, replayed and stolen tokens, garbage
 * handshakes. Each is refused with the Close code that says why (4404, 4409, 1002), the server
 * emits 'resumeRefused' with the reason, and it keeps serving. Tokens carry 128 bits of randomness
 * and never travel in the URL.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { WebSocket } from 'ws'
import { connect, WsStreamServer, type ResumeRefusal } from '../src/index.js'
import { cutProxy } from './support/cut-proxy.js'
import { waitFor, within } from './support/helpers.js'
import { collectUnhandled } from './support/process.js'
import { clientResume, closeOf, echo, rawResumeClient, resumeLog, resumeSetup, sessionOf, type ResumeSetup } from './support/resume.js'

const unhandled = collectUnhandled(t, { uncaught: true })

/** The reasons of every 'resumeRefused' the server emits from now on. */
function refusals(setup: ResumeSetup): ResumeRefusal[] {
  const seen: ResumeRefusal[] = []
  setup.server.on('resumeRefused', (reason) => seen.push(reason))
  return seen
}

/** A raw client's first message after the upgrade, parsed. */
async function firstReply(ws: WebSocket): Promise<Record<string, unknown>> {
  const [data] = (await within(once(ws, 'message'), 5000, 'the reply')) as [Buffer]
  return JSON.parse(data.toString()) as Record<string, unknown>
}

/** Presents `token` on a new raw socket to `url`; resolves with how the server closed it. */
async function presentToken(t: Parameters<typeof rawResumeClient>[0], url: string, token: string, received = 0) {
  const ws = await rawResumeClient(t, url)
  const closing = closeOf(ws)
  ws.send(JSON.stringify({ type: 'resume', token, received, window: 65536 }))
  return within(closing, 5000, 'the refusal')
}

/** The server still serves: a new resume client's echo works. */
async function stillServes(t: Parameters<typeof rawResumeClient>[0], setup: ResumeSetup, what = 'ping'): Promise<string> {
  const stream = await setup.client()
  await stream.write(what)
  const back = Buffer.from((await within(stream.read(), 5000, 'the echo'))!).toString()
  await stream.close()
  return back
}

t.test('a forged token is refused 4404 and the server keeps serving', async (t) => {
  const setup = await resumeSetup(t)
  const seen = refusals(setup)
  const forged = `${randomBytes(9).toString('base64url')}.${randomBytes(16).toString('base64url')}`
  t.same(await presentToken(t, setup.direct, forged), { code: 4404, reason: 'Unknown session' }, 'a random token')
  // An existing session's id with a made-up secret is no better.
  const stream = await setup.client()
  const [id] = sessionOf(stream).token.split('.')
  t.same(await presentToken(t, setup.direct, `${id}.${randomBytes(16).toString('base64url')}`), { code: 4404, reason: 'Unknown session' }, "a real id with a forged secret")
  t.same(await presentToken(t, setup.direct, `${id}.`), { code: 4404, reason: 'Unknown session' }, 'a real id with no secret')
  t.same(seen, ['unknown', 'unknown', 'unknown'], "'resumeRefused' says unknown each time")
  await stream.write('still mine')
  t.equal(Buffer.from((await stream.read())!).toString(), 'still mine', "the session's owner is unaffected")
  t.equal(await stillServes(t, setup), 'ping', 'a new client is served')
})

t.test('a replayed token (the one before a resumption) is refused 4404', async (t) => {
  const setup = await resumeSetup(t)
  const seen = refusals(setup)
  const stream = await setup.client()
  const log = resumeLog(stream)
  const before = sessionOf(stream).token
  setup.proxy.cut()
  await waitFor(() => log.resumptions === 1, 10_000, 'the resumption')
  const after = sessionOf(stream).token
  t.not(after, before, 'the token rotated')
  // The client acknowledges at once on the new socket; until the server hears it, the old token may still be needed.
  await stream.write('x')
  t.equal(Buffer.from((await stream.read())!).toString(), 'x', 'the resumed stream works')
  setup.proxy.cut()
  await waitFor(() => setup.server.counts.interrupted === 1, 10_000, 'the server to notice the second cut')
  // Race the client to its own session: the server keeps the session free (interrupted) for a moment.
  t.same(await presentToken(t, setup.direct, before), { code: 4404, reason: 'Unknown session' }, 'the old token is unknown')
  t.same(seen.filter((r) => r === 'unknown'), ['unknown'], "'resumeRefused' says unknown")
  await waitFor(() => log.resumptions === 2, 10_000, 'the owner to resume again')
  await stream.write('y')
  t.equal(Buffer.from((await stream.read())!).toString(), 'y', "the owner's stream carries on")
})

t.test('the token a client resumed with stays good until the server hears it on the new socket (a cut may take the answer)', async (t) => {
  const setup = await resumeSetup(t)
  const seen = refusals(setup)
  // A hand-driven client: hello, then a resume whose answer it never takes up.
  const first = await rawResumeClient(t, setup.direct)
  first.send(JSON.stringify({ type: 'hello', window: 65536 }))
  const welcome = await firstReply(first)
  t.equal(welcome.type, 'welcome')
  const token = welcome.token as string
  first.terminate()
  await waitFor(() => setup.server.counts.interrupted === 1, 5000, 'the server to see the loss')
  const second = await rawResumeClient(t, setup.direct)
  second.send(JSON.stringify({ type: 'resume', token, received: 0, window: 65536 }))
  const resumed = await firstReply(second)
  t.equal(resumed.type, 'resumed', 'resumed once')
  second.terminate() // as if a cut took the answer: the client still has only the old token
  await waitFor(() => setup.server.counts.interrupted === 1, 5000, 'the server to see the loss')
  const third = await rawResumeClient(t, setup.direct)
  third.send(JSON.stringify({ type: 'resume', token, received: 0, window: 65536 }))
  const again = await firstReply(third)
  t.equal(again.type, 'resumed', 'the same token resumes again')
  t.not(again.token, resumed.token, 'with another new token')
  // Now the client speaks on the new socket (an acknowledgement): the old token is spent.
  third.send(JSON.stringify({ type: 'ack', received: 0 }))
  third.send(Buffer.from('hi'))
  const [echoed] = (await once(third, 'message')) as [Buffer]
  t.equal(echoed.toString(), 'hi', 'the session echoes on the resumed socket')
  third.terminate()
  await waitFor(() => setup.server.counts.interrupted === 1, 5000, 'the server to see the loss')
  t.same(await presentToken(t, setup.direct, token), { code: 4404, reason: 'Unknown session' }, 'the old token is refused once the client used the new one')
  const fourth = await rawResumeClient(t, setup.direct)
  fourth.send(JSON.stringify({ type: 'resume', token: again.token, received: 2, window: 65536 }))
  t.equal((await firstReply(fourth)).type, 'resumed', 'the newest token works')
  t.same(seen, ['unknown'], "one refusal, 'unknown'")
  t.equal(setup.accepted.length, 1, 'one server connection throughout')
})

t.test('a stolen token presented while its owner is connected is refused 4409; the owner keeps working', async (t) => {
  const setup = await resumeSetup(t)
  const seen = refusals(setup)
  const stream = await setup.client()
  const token = sessionOf(stream).token
  t.same(await presentToken(t, setup.direct, token), { code: 4409, reason: 'Session attached elsewhere' }, 'refused 4409')
  t.same(seen, ['attached'], "'resumeRefused' says attached")
  // The server pinged the owner's socket to see whether it lives: it does, and keeps its session.
  await stream.write('mine')
  t.equal(Buffer.from((await within(stream.read(), 5000, 'the echo'))!).toString(), 'mine', "the owner's stream works")
  t.equal(stream.state, 'open', 'and stays open')
  t.equal(sessionOf(stream).token, token, "the owner's token did not change")
  t.equal(setup.accepted.length, 1, 'one server connection')
})

t.test('a client that asks for the subprotocol and sends garbage is closed 1002; the server keeps serving', async (t) => {
  const setup = await resumeSetup(t)
  const seen = refusals(setup)
  const garbage: Array<[string, string | Buffer]> = [
    ['a binary message', Buffer.from([1, 2, 3])],
    ['bad JSON', '{"type": "hello"'],
    ['JSON that is not an object', '42'],
    ['an unknown type', '{"type":"gimme","window":1}'],
    ['hello without a window', '{"type":"hello"}'],
    ['a negative window', '{"type":"hello","window":-1}'],
    ['resume without a token', '{"type":"resume","received":0,"window":1}'],
    ['an oversized token', JSON.stringify({ type: 'resume', token: 'x'.repeat(129), received: 0, window: 1 })],
    ['an ack first', '{"type":"ack","received":0}'],
  ]
  for (const [what, message] of garbage) {
    const ws = await rawResumeClient(t, setup.direct)
    const closing = closeOf(ws)
    ws.send(message)
    t.match(await within(closing, 5000, what), { code: 1002 }, `${what}: 1002`)
  }
  t.same(seen, garbage.map(() => 'malformed'), "'resumeRefused' says malformed each time")
  t.equal(setup.server.connections.size, 0, 'no connection was made of them')
  t.equal(await stillServes(t, setup), 'ping', 'the server keeps serving')
})

t.test('a resume with an offset the server cannot resend from is refused 1002 (malformed)', async (t) => {
  const setup = await resumeSetup(t)
  const seen = refusals(setup)
  const stream = await setup.client()
  const token = sessionOf(stream).token
  setup.proxy.down = true
  setup.proxy.cut()
  await waitFor(() => setup.server.counts.interrupted === 1, 5000, 'the server to see the loss')
  // The server sent nothing yet: a client claiming 1,000 bytes received lies.
  t.match(await presentToken(t, setup.direct, token, 1000), { code: 1002 }, 'refused 1002')
  t.same(seen, ['malformed'], "'resumeRefused' says malformed")
})

t.test('tokens carry at least 128 random bits and never travel in the URL', async (t) => {
  // Our own HTTP server in front, to see every upgrade request as it arrives.
  const http = createServer()
  const requests: IncomingMessage[] = []
  http.on('upgrade', (request: IncomingMessage) => requests.push(request))
  const server = new WsStreamServer({ server: http, resume: { timeout: 5000 }, handler: echo })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  t.teardown(async () => {
    await server.close({ timeout: 1000 })
    http.close()
  })
  const proxy = await cutProxy((http.address() as AddressInfo).port)
  t.teardown(() => proxy.close())
  const url = `${proxy.url}/some/path?x=1`
  const stream = await connect(url, { resume: clientResume })
  t.teardown(() => stream.abort())
  const log = resumeLog(stream)
  const tokens = [sessionOf(stream).token]
  for (let i = 1; i <= 3; i++) {
    proxy.cut()
    await waitFor(() => log.resumptions === i, 10_000, `resumption ${i}`)
    tokens.push(sessionOf(stream).token)
  }
  t.equal(new Set(tokens).size, tokens.length, 'a new token at each resumption')
  for (const token of tokens) {
    const [id, secret] = token.split('.')
    t.match(secret, /^[A-Za-z0-9_-]+$/, 'the secret is base64url')
    t.ok(Buffer.from(secret!, 'base64url').length >= 16, `the secret has at least 16 bytes (${Buffer.from(secret!, 'base64url').length})`)
    t.equal(id, tokens[0]!.split('.')[0], 'the id stays')
  }
  t.ok(requests.length >= 4, `the server saw the first upgrade and the resumptions (${requests.length})`)
  for (const request of requests) {
    t.equal(request.url, '/some/path?x=1', 'every request has the original URL')
    const headers = JSON.stringify(request.headers)
    for (const token of tokens) t.notOk(headers.includes(token.split('.')[1]!), 'no secret in the headers')
  }
  await stream.close()
})

t.test('no unhandled rejection or uncaught error', async (t) => {
  t.same(unhandled, [])
})
