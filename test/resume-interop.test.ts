/**
 * Resume stays optional: peers that do not speak `ws-stream.resume.v1` get plain streams from a
 * `resume` server (a plain ws client, python3-websockets), and a resume client against a plain server
 * gets a plain stream and a 'resumeUnavailable' event.
 */
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { WebSocket } from 'ws'
import { connect, WsStreamServer, type WsEvent } from '../src/index.js'
import { rawClient, urlOf, within } from './support/helpers.js'
import { probePython, startPeer, type PeerResult } from './support/interop.js'
import { collectUnhandled } from './support/process.js'
import { clientResume, echo, resumeSetup, sessionOf } from './support/resume.js'

const PEER = fileURLToPath(new URL('./peers/ws_peer.py', import.meta.url))
const unhandled = collectUnhandled(t, { uncaught: true })

t.test('a plain ws client (no subprotocol) gets a plain echo from a resume server', async (t) => {
  const { direct, accepted } = await resumeSetup(t)
  const ws = await rawClient(t, direct)
  t.equal(ws.protocol, '', 'no subprotocol chosen')
  ws.send(Buffer.from('plain hello'))
  const [data] = (await within(once(ws, 'message'), 5000, 'the echo')) as [Buffer]
  t.equal(data.toString(), 'plain hello', 'echoed')
  t.equal(accepted.length, 1, 'one connection')
  t.notOk(accepted[0]!.actor.getSnapshot().context.io.transport?.resumable, 'the server stream is not resumable')
  ws.close(1000)
  t.match(await within(accepted[0]!.closed, 5000, 'the server stream'), { code: 1000, wasClean: true }, 'a clean close')
})

t.test('a client offering other subprotocols besides resume to a resume server is resumable; one offering only others is not', async (t) => {
  const { direct } = await resumeSetup(t)
  const ws = new WebSocket(direct, ['chat'])
  t.teardown(() => ws.terminate())
  await new Promise((resolve) => ws.once('open', resolve))
  t.equal(ws.protocol, 'chat', "another subprotocol is the server's choice as before")
  const resumable = await connect(direct, { resume: clientResume, protocols: ['chat'] })
  t.teardown(() => resumable.abort())
  t.ok(sessionOf(resumable).token, 'offering both gives a resumable session')
  await resumable.close()
})

const { version, skip } = probePython('websockets', 'python3-websockets')

t.test('python3-websockets, which does not resume, gets a plain echo from a resume server', { skip }, async (t) => {
  t.comment(`python3-websockets ${version}`)
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', resume: { timeout: 5000 }, handler: echo })
  await server.listening
  t.teardown(() => server.close({ timeout: 1000 }))
  const size = 1024 * 1024
  const peer = startPeer(t, PEER, ['client', urlOf(server), String(size), 'me', '4000', 'bye'])
  const theirs = await peer.line<PeerResult>()
  t.equal(theirs.receivedBytes, size, 'Python got every byte back')
  t.equal(theirs.received, theirs.sent, 'sha256 of the echo equals what it sent')
  await peer.exited
})

t.test("a resume client against a plain server gets a plain stream and 'resumeUnavailable'", async (t) => {
  const server = new WsStreamServer({ port: 0, host: '127.0.0.1', handler: echo })
  await server.listening
  t.teardown(() => server.close({ timeout: 1000 }))
  const stream = await connect(urlOf(server), { resume: clientResume })
  t.teardown(() => stream.abort())
  const events: WsEvent[] = []
  stream.on('*', (event) => events.push(event))
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(events.filter((e) => e.type === 'resumeUnavailable'), [{ type: 'resumeUnavailable' }], "one 'resumeUnavailable', after connect() resolved")
  t.notOk(stream.actor.getSnapshot().context.io.transport?.resumable, 'the stream is plain')
  await stream.write('over plain')
  t.equal(Buffer.from((await stream.read())!).toString(), 'over plain', 'the echo works')
  t.match(await stream.close(), { wasClean: true }, 'a clean close')
})

t.test('no unhandled rejection or uncaught error', async (t) => {
  t.same(unhandled, [])
})
