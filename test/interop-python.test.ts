/**
 * Interop with an implementation nobody here wrote: Debian's python3-websockets, as client and
 * as server (test/peers/ws_peer.py). Each exchanges 10 MiB both ways with our WsStream (sha256
 * compared on both sides) and closes from one side or the other; both sides must see the code
 * and reason. Skips, saying why, when /usr/bin/python3 cannot import websockets.
 */
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { WsStreamServer, type CloseInfo } from '../src/index.js'
import { exchangeSuite, probePython, startPeer, type PeerResult } from './support/interop.js'

const PEER = fileURLToPath(new URL('./peers/ws_peer.py', import.meta.url))
const { version, skip } = probePython('websockets', 'python3-websockets')

t.test('python3-websockets interop', { skip }, async (t) => {
  t.comment(`python3-websockets ${version}`)
  exchangeSuite(t, { script: PEER, who: 'a Python', reasons: { client: 'bye from python', server: 'server says bye' } })

  t.test('ordered close: a Python client sends 4 MiB and its Close at once; our echo server returns all of it before answering', async (t) => {
    const server = new WsStreamServer({ port: 0, host: '127.0.0.1', maxPayload: 2 * 1024 * 1024 })
    await server.listening
    t.teardown(() => server.close({ timeout: 1000 }))
    const port = (server.address() as { port: number }).port
    const size = 4 * 1024 * 1024
    const served = new Promise<CloseInfo>((resolve) => {
      server.once('connection', async (stream) => {
        for await (const chunk of stream) await stream.write(chunk)
        resolve(await stream.closed)
      })
    })
    const peer = startPeer(t, PEER, ['sendclose', `ws://127.0.0.1:${port}`, String(size), '4005', 'done ✓'])
    const theirs = await peer.line<PeerResult>()
    t.equal(theirs.receivedBytes, size, 'Python got every byte back')
    t.equal(theirs.received, theirs.sent, 'sha256 of the echo equals what it sent')
    t.same({ code: theirs.closeCode, reason: theirs.closeReason }, { code: 4005, reason: 'done ✓' }, 'our answer echoed its code and reason')
    t.match(await served, { code: 4005, reason: 'done ✓', wasClean: true, initiator: 'remote' }, 'our CloseInfo')
    await peer.exited
  })
})
