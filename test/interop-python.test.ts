/**
 * Interop with an implementation nobody here wrote: Debian's python3-websockets, as client and
 * as server (test/peers/ws_peer.py). Each exchanges 10 MiB both ways with our WsStream (sha256
 * compared on both sides) and closes from one side or the other; both sides must see the code
 * and reason. Skips, saying why, when /usr/bin/python3 cannot import websockets.
 */
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { connect, WsStream, WsStreamServer, type CloseInfo } from '../src/index.js'
import { checkExchange, exchange, probePython, SIZE, startPeer, type PeerResult } from './support/interop.js'

const PEER = fileURLToPath(new URL('./peers/ws_peer.py', import.meta.url))
const { version, skip } = probePython('websockets', 'python3-websockets')

t.test('python3-websockets interop', { skip }, async (t) => {
  t.comment(`python3-websockets ${version}`)

  for (const closer of ['python', 'us'] as const) {
    t.test(`a Python client exchanges 10 MiB both ways with our server; ${closer === 'us' ? 'we close' : 'it closes'}, and both see the code and reason`, async (t) => {
      const server = new WsStreamServer({ port: 0, host: '127.0.0.1', maxPayload: 2 * 1024 * 1024 })
      await server.listening
      t.teardown(() => server.close({ timeout: 1000 }))
      const port = (server.address() as { port: number }).port
      const code = closer === 'python' ? 4001 : 4002
      const reason = closer === 'python' ? 'bye from python' : 'bye from node ✓'
      const accepted = once(server, 'connection') as Promise<[WsStream]>
      const peer = startPeer(t, PEER, ['client', `ws://127.0.0.1:${port}`, String(SIZE), closer === 'python' ? 'me' : 'them', String(code), reason])
      const [stream] = await accepted
      const ours = await exchange(stream, closer === 'us' ? { code, reason } : undefined)
      const theirs = await peer.line<PeerResult>()
      checkExchange(t, ours, theirs, { code, reason, closer })
      await peer.exited
    })

    if (closer === 'python') {
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
    }

    t.test(`our client exchanges 10 MiB both ways with a Python server; ${closer === 'us' ? 'we close' : 'it closes'}, and both see the code and reason`, async (t) => {
      const code = closer === 'python' ? 4003 : 4004
      const reason = closer === 'python' ? 'server says bye' : 'client says bye ✓'
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
})
