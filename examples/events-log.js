// Every out-of-band event of one connection, in order, read with `for await (… of stream.events())`:
// state changes, read backpressure (paused/resumed), ping/pong, a rejected text message (error),
// the peer's Close frame, and `closed`, always last.
import { WebSocketServer } from 'ws'
import { connect } from 'ws-stream-actor'

// A plain ws peer: sends 64 KiB, answers our ping with a text message (which we reject, 1003).
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
await new Promise((resolve) => wss.once('listening', resolve))
wss.on('connection', (socket) => {
  socket.send(Buffer.alloc(64 * 1024, 7))
  socket.once('ping', () => socket.send('this is text', { binary: false }))
})

const stream = await connect(`ws://127.0.0.1:${wss.address().port}`, {
  stream: { readHighWaterMark: 16 * 1024 },   // 64 KiB unread is over it: the socket gets paused
})
const log = (async () => {
  for await (const event of stream.events()) {
    const detail = {
      state: () => `${event.from} → ${event.to}`,
      ping: () => `${event.data.length} bytes`,
      pong: () => `${event.data.length} bytes`,
      closeFrame: () => `${event.code} "${event.reason}"`,
      error: () => `${event.error.code}: ${event.error.message}`,
      closed: () => `code ${event.info.code}, clean ${event.info.wasClean}, initiator ${event.info.initiator}`,
    }[event.type]?.()
    console.log(`event ${event.type}${detail ? `: ${detail}` : ''}`)
  }
})()

await new Promise((resolve) => stream.on('paused', resolve))
const data = await stream.readExactly(64 * 1024)            // reading drains the buffer: resumed
console.log(`read ${data.length} bytes`)
const rtt = await stream.ping(new TextEncoder().encode('hi'))   // the peer answers with a text message
console.log(`ping answered (${rtt < 1000 ? 'under a second' : 'slowly'})`)
console.log(`read after the text: ${await stream.read()}`)   // null: reads end before the text
await stream.closed
await log

await new Promise((resolve) => wss.close(resolve))
