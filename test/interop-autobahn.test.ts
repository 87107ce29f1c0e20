/**
 * Interop with a third implementation nobody here wrote: Debian's python3-autobahn, its asyncio
 * WebSocket client and server (test/peers/autobahn_peer.py; not WAMP). 10 MiB both ways with
 * sha256 compared on both sides, close codes and non-ASCII reasons seen on both ends, and ordered
 * close: autobahn sends its data then its Close at once, and our echo (`ws-stream listen --echo`)
 * must return every byte before answering the Close. Skips, saying why, when /usr/bin/python3
 * cannot import autobahn.
 */
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { connect, WsStream, WsStreamServer } from '../src/index.js'
import { listen } from './support/cli.js'
import { checkExchange, exchange, probePython, SIZE, startPeer, type PeerResult } from './support/interop.js'

const PEER = fileURLToPath(new URL('./peers/autobahn_peer.py', import.meta.url))
const { version, skip } = probePython('autobahn', 'python3-autobahn')

t.test('python3-autobahn interop', { skip }, async (t) => {
  t.comment(`python3-autobahn ${version}`)

  for (const closer of ['python', 'us'] as const) {
    t.test(`an autobahn client exchanges 10 MiB both ways with our server; ${closer === 'us' ? 'we close' : 'it closes'}, and both see the code and reason`, async (t) => {
      const server = new WsStreamServer({ port: 0, host: '127.0.0.1', maxPayload: 2 * 1024 * 1024 })
      await server.listening
      t.teardown(() => server.close({ timeout: 1000 }))
      const port = (server.address() as { port: number }).port
      const code = closer === 'python' ? 4001 : 4002
      const reason = closer === 'python' ? 'tschüss from autobahn' : 'bye from node ✓'
      const accepted = once(server, 'connection') as Promise<[WsStream]>
      const peer = startPeer(t, PEER, ['client', `ws://127.0.0.1:${port}`, String(SIZE), closer === 'python' ? 'me' : 'them', String(code), reason])
      const [stream] = await accepted
      const ours = await exchange(stream, closer === 'us' ? { code, reason } : undefined)
      const theirs = await peer.line<PeerResult>()
      checkExchange(t, ours, theirs, { code, reason, closer })
      await peer.exited
    })

    t.test(`our client exchanges 10 MiB both ways with an autobahn server; ${closer === 'us' ? 'we close' : 'it closes'}, and both see the code and reason`, async (t) => {
      const code = closer === 'python' ? 4003 : 4004
      const reason = closer === 'python' ? 'autobahn server: au revoir' : 'client says bye ✓'
      const peer = startPeer(t, PEER, ['server', String(SIZE), closer === 'python' ? 'me' : 'them', String(code), reason])
      const { port } = await peer.line<{ port: number }>()
      const stream = await connect(`ws://127.0.0.1:${port}`, { maxPayload: 2 * 1024 * 1024 })
      t.teardown(() => stream.abort())
      const ours = await exchange(stream, closer === 'us' ? { code, reason } : undefined)
      const theirs = await peer.line<PeerResult>()
      checkExchange(t, ours, theirs, { code, reason, closer })
      await peer.exited
    })
  }

  t.test('ordered close: an autobahn client sends 10 MiB and its Close at once; our echo returns all of it, then the Close', async (t) => {
    const server = await listen(t, ['--echo'])
    const reason = 'fertig ✓ — done'
    const peer = startPeer(t, PEER, ['ordered', server.url, String(SIZE), '4010', reason])
    const theirs = await peer.line<PeerResult & { wasClean: boolean }>(60_000)
    t.equal(theirs.receivedBytes, SIZE, 'every byte came back before our Close')
    t.equal(theirs.received, theirs.sent, 'sha256: what came back is what it sent')
    t.same({ code: theirs.closeCode, reason: theirs.closeReason, wasClean: theirs.wasClean }, { code: 4010, reason, wasClean: true }, 'our Close echoed its code and reason')
    await server.waitForStderr(/#1 127\.0\.0\.1:\d+ closed: code 4010 "fertig ✓ — done", clean, initiator remote/)
    await peer.exited
  })
})
