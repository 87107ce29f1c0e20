/**
 * Interop with an implementation nobody here wrote: Debian's python3-websockets, as client and
 * as server (test/peers/ws_peer.py). Each exchanges 10 MiB both ways with our WsStream (sha256
 * compared on both sides) and closes from one side or the other; both sides must see the code
 * and reason. Skips, saying why, when /usr/bin/python3 cannot import websockets.
 */
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { connect, WsStream, WsStreamServer } from '../src/index.js'
import { checkExchange, exchange, probePython, SIZE, startPeer, type PeerResult } from './interop-helpers.js'

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
