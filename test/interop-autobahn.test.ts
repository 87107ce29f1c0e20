/**
 * Interop with a third implementation nobody here wrote: Debian's python3-autobahn, its asyncio
 * WebSocket client and server (test/peers/autobahn_peer.py; not WAMP). 10 MiB both ways with
 * sha256 compared on both sides, close codes and non-ASCII reasons seen on both ends, and ordered
 * close: autobahn sends its data then its Close at once, and our echo (`ws-stream listen --echo`)
 * must return every byte before answering the Close. Skips, saying why, when /usr/bin/python3
 * cannot import autobahn.
 */
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { listen } from './support/cli.js'
import { exchangeSuite, probePython, SIZE, startPeer, type PeerResult } from './support/interop.js'

const PEER = fileURLToPath(new URL('./peers/autobahn_peer.py', import.meta.url))
const { version, skip } = probePython('autobahn', 'python3-autobahn')

t.test('python3-autobahn interop', { skip }, async (t) => {
  t.comment(`python3-autobahn ${version}`)

  exchangeSuite(t, { script: PEER, who: 'an autobahn', reasons: { client: 'tschüss from autobahn', server: 'autobahn server: au revoir' } })

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
