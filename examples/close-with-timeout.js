// close() never hangs: against a peer that answers, it resolves clean as soon as the Close
// frames have crossed; against a peer that stops reading, it resolves at the timeout, unclean,
// with a TimeoutError, and the socket is terminated.
import { WebSocketServer } from 'ws'
import { connect } from 'ws-stream-actor'

// A plain ws server: the path says whether the peer keeps reading or freezes (never sees our Close).
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
await new Promise((resolve) => wss.once('listening', resolve))
wss.on('connection', (socket, request) => {
  socket.on('error', () => {})
  if (request.url === '/frozen') socket.pause()
})
const base = `ws://127.0.0.1:${wss.address().port}`

for (const path of ['/answers', '/frozen']) {
  const stream = await connect(base + path, { timeout: 5000 })
  await stream.write('some bytes before the close\n')
  const started = performance.now()
  const info = await stream.close(1000, 'bye', { timeout: 500 })
  const took = performance.now() - started
  console.log(`[${path}] closed: code ${info.code}, clean ${info.wasClean}, initiator ${info.initiator}` +
    `${info.error ? `, ${info.error.code}` : ''}, ${took < 500 ? 'before' : 'at'} the 500 ms timeout`)
}

for (const socket of wss.clients) socket.terminate()
await new Promise((resolve) => wss.close(resolve))
