/**
 * One side of a benchmark, forked by run.mjs: a server or a client, driven over IPC.
 * Requests are `{ id, cmd, ...args }`; replies `{ id, result }` or `{ id, error }`; a server
 * reports asynchronous happenings as `{ event, ... }`.
 *
 * @module
 */
import { createRequire } from 'node:module'
import { WebSocket, createWebSocketStream } from 'ws'
import {
  connect,
  connectClient,
  echo,
  extraStreamOptions,
  now,
  openWs,
  sendAll,
  sendAndReceive,
  sendWindowed,
  sink,
  startServer,
} from './transports.mjs'

const noop = () => {}
const gc = globalThis.gc ?? noop

/** Whether ws will use bufferutil in this process (installed and not disabled). */
function bufferutilActive() {
  if (process.env.WS_NO_BUFFER_UTIL) return false
  try {
    createRequire(createRequire(import.meta.url).resolve('ws'))('bufferutil')
    return true
  } catch {
    return false
  }
}

function memory() {
  gc()
  gc()
  const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage()
  return { heapUsed, rss, external, arrayBuffers }
}

const payloads = new Map()
/** One random buffer per size, reused by every write (nobody modifies it). */
function payload(size) {
  let p = payloads.get(size)
  if (!p) {
    p = Buffer.alloc(size)
    for (let i = 0; i < size; i++) p[i] = (i * 2654435761) >>> 24
    payloads.set(size, p)
  }
  return p
}

let server
const connections = []
let sampler

const commands = {
  /** Starts the server side of a scenario. */
  async serve({ scenario, kind, total, streamOptions }) {
    server = await startServer(
      kind,
      (conn) => {
        connections.push(conn)
        if (scenario === 'oneway') sink(kind, conn, total, () => process.send({ event: 'received', t1: now() }))
        else if (scenario === 'echo' || scenario === 'lifecycle') echo(kind, conn)
        else if (scenario === 'idle' && kind === 'ws') conn.on('message', noop)
        else if (scenario === 'flood') {
          // A reader that never reads: ours buffers up to readHighWaterMark and pauses the socket;
          // createWebSocketStream fills its readable buffer and pauses; raw ws can only pause.
          if (kind === 'cwss') createWebSocketStream(conn).on('error', noop)
          else if (kind === 'ws-paused') conn.pause()
          process.send({ event: 'connected' })
        }
      },
      streamOptions,
    )
    return { port: server.port, bufferutil: bufferutilActive(), pid: process.pid }
  },

  /** Idle memory: heap and RSS once `expect` connections are open (a fresh process per measurement). */
  async measure({ expect }) {
    const deadline = Date.now() + 60_000
    while (connections.length < expect && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    // Let every connection settle into its idle state before counting.
    await new Promise((r) => setTimeout(r, 300))
    return { connections: connections.length, ...memory() }
  },

  baseline() {
    connections.length = 0
    return memory()
  },

  /** Flood: RSS and heap sampled every 10 ms until sampleStop. */
  sampleStart() {
    const base = memory()
    let peakRss = base.rss
    let peakHeap = base.heapUsed
    const timer = setInterval(() => {
      const { rss, heapUsed } = process.memoryUsage()
      if (rss > peakRss) peakRss = rss
      if (heapUsed > peakHeap) peakHeap = heapUsed
    }, 10)
    sampler = () => {
      clearInterval(timer)
      const { rss, heapUsed } = process.memoryUsage()
      return {
        rssGrowth: Math.max(peakRss, rss) - base.rss,
        heapGrowth: Math.max(peakHeap, heapUsed) - base.heapUsed,
      }
    }
    return base
  },

  sampleStop() {
    return sampler()
  },

  /** One-way run, client side: t0 just before the first write. */
  async oneway({ kind, port, size, total, coalesce }) {
    const handle = await connectClient(kind, port, { coalesce })
    const t0 = now()
    await sendAll(kind, handle, payload(size), total)
    const sentAt = now()
    await handle.teardown()
    return { t0, sentAt, messages: handle.stream?.stats.messagesOut }
  },

  /** Echo run, client side: from the first write to the last echoed byte. */
  async echo({ kind, port, size, total, coalesce }) {
    const handle = await connectClient(kind, port, { coalesce })
    const t0 = now()
    const t1 = await sendAndReceive(kind, handle, payload(size), total)
    await handle.teardown()
    return { t0, t1 }
  },

  /** Opens `n` idle raw ws clients, `concurrency` at a time, and keeps them open. */
  async idleOpen({ port, n, concurrency = 100 }) {
    const clients = []
    let next = 0
    const worker = async () => {
      while (next < n) {
        next++
        const ws = await openWs(port)
        ws.on('error', noop)
        clients.push(ws)
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
    globalThis.idleClients = clients // kept open until the process ends
    return { open: clients.length }
  },

  /** Warms the server up (code paths, lazy modules) with `n` connections opened and closed. */
  async warm({ port, n }) {
    for (let i = 0; i < n; i++) {
      const ws = await openWs(port)
      ws.on('error', noop)
      await new Promise((resolve) => {
        ws.once('close', resolve)
        ws.close(1000)
      })
    }
    return { warmed: n }
  },

  /** Flood: sends 64 KiB messages as fast as the peer's TCP window lets us, for `seconds`. */
  async flood({ port, seconds, size }) {
    const ws = await openWs(port)
    ws.on('error', noop)
    globalThis.floodSocket = ws
    return { connected: true, size, seconds }
  },

  async floodRun({ seconds, size }) {
    const ws = globalThis.floodSocket
    const chunk = payload(size)
    let accepted = 0
    const until = now() + seconds * 1000
    // Windowed so that the sender's own memory stays bounded; stops when the time is up.
    await new Promise((resolve) => {
      const step = () => {
        if (now() >= until || ws.readyState !== WebSocket.OPEN) return resolve()
        sendWindowed(ws, chunk, chunk.length * 16).then(() => {
          accepted += chunk.length * 16
          step()
        }, resolve)
      }
      step()
      setTimeout(resolve, seconds * 1000 + 50)
    })
    ws.terminate()
    return { accepted }
  },

  /**
   * Lifecycle: `count` connections, `concurrency` at a time, each opened, 16 bytes sent and echoed
   * back by the server, then closed by the client with a full close handshake.
   */
  async lifecycle({ kind, port, count, concurrency, streamOptions = {} }) {
    const url = `ws://127.0.0.1:${port}`
    const hello = payload(16)
    let started = 0
    let unclean = 0
    const one =
      kind === 'ours'
        ? async () => {
            const stream = await connect(url, { stream: { ...extraStreamOptions, ...streamOptions } })
            await stream.write(hello)
            await stream.readExactly(hello.length)
            const info = await stream.close(1000)
            if (!info.wasClean) unclean++
          }
        : async () => {
            const ws = await openWs(port)
            await new Promise((resolve) => {
              ws.once('message', resolve)
              ws.send(hello)
            })
            await new Promise((resolve) => {
              ws.once('close', (code) => {
                if (code !== 1000) unclean++
                resolve()
              })
              ws.close(1000)
            })
          }
    const t0 = now()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started < count) {
          started++
          await one()
        }
      }),
    )
    return { elapsed: now() - t0, count, unclean }
  },

  /** CPU time this process has used so far, in ms (user + system). */
  cpu() {
    const { user, system } = process.cpuUsage()
    return { ms: (user + system) / 1000 }
  },

  /** Ends the process at once, leaving its sockets to the kernel (profiles are still written). */
  exit() {
    setImmediate(() => process.exit(0))
    return {}
  },

  async stop() {
    await server?.close()
    setImmediate(() => process.exit(0))
    return {}
  },
}

process.on('message', async (message) => {
  const { id, cmd, ...args } = message
  try {
    const result = await commands[cmd](args)
    process.send({ id, result })
  } catch (error) {
    process.send({ id, error: String(error?.stack ?? error) })
  }
})
process.on('disconnect', () => process.exit(0))
