/**
 * The contenders, each as a server and a client over 127.0.0.1 with compression off:
 *   tcp          a plain net.Socket (the physical limit of this machine)
 *   ws           raw ws: send() with a window of unconfirmed bytes, 'message' events
 *   cwss         ws's createWebSocketStream(), a Node Duplex
 *   ours         ws-stream-actor: stream.write() / stream.read()
 *   ours-duplex  ws-stream-actor: stream.toDuplex() with pipeline()
 *
 * A handle (what connectClient returns and what a server hands to its handler) has the same
 * shape for every kind, so the scenarios in peer.mjs do not branch on the kind.
 *
 * @module
 */
import net from 'node:net'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { WebSocket, WebSocketServer, createWebSocketStream } from 'ws'

/**
 * The library under test: the package (dist/ after `npm run build`), or BENCH_LIB, a path to another
 * build's index.js, to measure a patch side by side; run.mjs notes it in the report.
 */
export const { WsStreamServer, connect } = await import(process.env.BENCH_LIB ? new URL(`file://${process.env.BENCH_LIB}`).href : 'ws-stream-actor')

export const HOST = '127.0.0.1'
/** Unconfirmed bytes raw ws keeps in flight: the same as our default writeHighWaterMark. */
export const WINDOW = 1024 * 1024

/**
 * Extra WsStreamOptions for both sides of ours, for experiments (e.g. '{"readHighWaterMark":8388608}');
 * run.mjs notes them in the report.
 */
export const extraStreamOptions = JSON.parse(process.env.BENCH_STREAM_OPTIONS || '{}')

/** BENCH_RESUME=1: ours with resumable streams on both sides (run.mjs sets it for the resume cells). */
export const resume = process.env.BENCH_RESUME === '1'

/** Milliseconds on the machine-wide monotonic clock, comparable between processes. */
export const now = () => Number(process.hrtime.bigint()) / 1e6

const noop = () => {}

/**
 * A Readable that pushes `total` bytes in chunks of `payload.length` (the same buffer again and
 * again: nobody modifies it). It ends after them, or only once `endAfter` resolves if given (an echo
 * client must not close before every byte came back: a WebSocket cannot stay half open).
 */
export function source(payload, total, endAfter) {
  let pushed = 0
  const readable = new Readable({
    read() {
      while (pushed < total) {
        const n = Math.min(payload.length, total - pushed)
        pushed += n
        if (!this.push(n === payload.length ? payload : payload.subarray(0, n))) return
      }
      if (!endAfter) this.push(null)
    },
  })
  endAfter?.then(() => readable.push(null))
  return readable
}

/** A Writable that counts bytes and calls `reached` once `total` have arrived. */
export function counter(total, reached) {
  let count = 0
  return new Writable({
    write(chunk, _encoding, callback) {
      count += chunk.length
      if (count >= total && count - chunk.length < total) reached()
      callback()
    },
    writev(chunks, callback) {
      for (const { chunk } of chunks) {
        count += chunk.length
        if (count >= total && count - chunk.length < total) reached()
      }
      callback()
    },
  })
}

/**
 * Starts a server of `kind` on an ephemeral port; `onConnection(conn)` gets, per kind:
 * tcp: a net.Socket; ws / cwss / ws-paused: a ws WebSocket; ours / ours-duplex: a WsStream.
 * Resolves with `{ port, close() }`.
 */
export async function startServer(kind, onConnection, streamOptions = {}) {
  if (kind === 'tcp') {
    const server = net.createServer({ noDelay: true }, (socket) => {
      socket.on('error', noop)
      onConnection(socket)
    })
    await new Promise((resolve) => server.listen(0, HOST, resolve))
    return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) }
  }
  if (kind === 'ours' || kind === 'ours-duplex') {
    const server = new WsStreamServer({ host: HOST, port: 0, resume, stream: { ...extraStreamOptions, ...streamOptions } })
    server.on('connection', (stream) => onConnection(stream))
    await server.listening
    return { port: server.address().port, close: () => server.close({ timeout: 1000 }) }
  }
  const server = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false })
  server.on('connection', (ws) => {
    ws.on('error', noop)
    onConnection(ws)
  })
  await new Promise((resolve) => server.once('listening', resolve))
  return {
    port: server.address().port,
    close: () => {
      for (const ws of server.clients) ws.terminate()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Opens a raw ws client and resolves once it is open. */
export function openWs(port) {
  const ws = new WebSocket(`ws://${HOST}:${port}`, { perMessageDeflate: false })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

/** Resolves when `emitter` emits `event`, or after `ms` at the latest. */
function once(emitter, event, ms = 5000) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    emitter.once(event, () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/**
 * Sends `total` bytes over raw ws in messages of `payload.length`, keeping at most WINDOW bytes
 * whose send callback has not fired yet. Resolves once every callback has fired.
 */
export function sendWindowed(ws, payload, total, window = WINDOW) {
  return new Promise((resolve, reject) => {
    let sent = 0
    let inFlight = 0
    let failed = false
    const pump = () => {
      while (sent < total && inFlight < window) {
        const n = Math.min(payload.length, total - sent)
        sent += n
        inFlight += n
        ws.send(n === payload.length ? payload : payload.subarray(0, n), (error) => {
          if (failed) return
          if (error) {
            failed = true
            reject(error)
            return
          }
          inFlight -= n
          if (sent >= total && inFlight === 0) resolve()
          else pump()
        })
      }
    }
    pump()
  })
}

/** Connects a client of `kind` to `port`; `options.coalesce` applies to ours. */
export async function connectClient(kind, port, options = {}) {
  const url = `ws://${HOST}:${port}`
  switch (kind) {
    case 'tcp': {
      const socket = net.connect({ host: HOST, port, noDelay: true })
      socket.on('error', noop)
      await new Promise((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      })
      return {
        duplex: socket,
        teardown: async () => {
          socket.end()
          await once(socket, 'close')
          socket.destroy()
        },
      }
    }
    case 'ws': {
      const ws = await openWs(port)
      ws.on('error', noop)
      return { ws, teardown: () => closeWs(ws) }
    }
    case 'cwss': {
      const ws = await openWs(port)
      ws.on('error', noop)
      const duplex = createWebSocketStream(ws)
      duplex.on('error', noop)
      return { duplex, teardown: () => closeWs(ws) }
    }
    case 'ours':
    case 'ours-duplex': {
      const stream = await connect(url, { resume, stream: { ...extraStreamOptions, coalesce: options.coalesce ?? true } })
      if (resume) {
        // The server declining resume shows one turn after connect(): a resume cell must not measure a plain stream.
        let declined = false
        stream.on('resumeUnavailable', () => (declined = true))
        await new Promise((resolve) => setImmediate(resolve))
        if (declined) throw new Error('BENCH_RESUME=1 but the server did not offer resumption')
      }
      const duplex = kind === 'ours-duplex' ? stream.toDuplex() : undefined
      duplex?.on('error', noop)
      return {
        stream,
        duplex,
        teardown: async () => {
          await stream.close(1000, '', { timeout: 5000 })
          duplex?.destroy()
        },
      }
    }
    default:
      throw new Error(`unknown kind ${kind}`)
  }
}

async function closeWs(ws) {
  if (ws.readyState === WebSocket.CLOSED) return
  const closed = once(ws, 'close')
  ws.close(1000)
  await closed
  if (ws.readyState !== WebSocket.CLOSED) ws.terminate()
}

/**
 * Server side of a one-way run: counts what arrives and calls `reached()` once `total` bytes did.
 * Each kind reads the way its users would.
 */
export function sink(kind, conn, total, reached) {
  switch (kind) {
    case 'tcp':
      pipeline(conn, counter(total, reached)).catch(noop)
      return
    case 'ws': {
      let count = 0
      conn.on('message', (data) => {
        count += data.length
        if (count >= total && count - data.length < total) reached()
      })
      return
    }
    case 'cwss': {
      const duplex = createWebSocketStream(conn)
      pipeline(duplex, counter(total, reached)).catch(noop)
      return
    }
    case 'ours-duplex':
      pipeline(conn.toDuplex(), counter(total, reached)).catch(noop)
      return
    case 'ours':
      void (async () => {
        let count = 0
        for (let chunk = await conn.read(); chunk !== null; chunk = await conn.read()) {
          count += chunk.length
          if (count >= total && count - chunk.length < total) reached()
        }
      })().catch(noop)
      return
    default:
      throw new Error(`unknown kind ${kind}`)
  }
}

/** Server side of an echo run: sends back every byte, with backpressure. */
export function echo(kind, conn) {
  switch (kind) {
    case 'tcp':
      pipeline(conn, conn).catch(noop)
      return
    case 'ws': {
      // Raw ws has no backpressure of its own: pause the socket while too much is unconfirmed.
      let inFlight = 0
      let paused = false
      conn.on('message', (data) => {
        inFlight += data.length
        conn.send(data, () => {
          inFlight -= data.length
          if (paused && inFlight <= WINDOW / 2) {
            paused = false
            conn.resume()
          }
        })
        if (!paused && inFlight > WINDOW) {
          paused = true
          conn.pause()
        }
      })
      return
    }
    case 'cwss': {
      const duplex = createWebSocketStream(conn)
      pipeline(duplex, duplex).catch(noop)
      return
    }
    case 'ours-duplex': {
      const duplex = conn.toDuplex()
      pipeline(duplex, duplex).catch(noop)
      return
    }
    case 'ours':
      void (async () => {
        for (let chunk = await conn.read(); chunk !== null; chunk = await conn.read()) await conn.write(chunk)
      })().catch(noop)
      return
    default:
      throw new Error(`unknown kind ${kind}`)
  }
}

/** Client side of a one-way run: sends `total` bytes in writes of `payload.length`; resolves when all are handed over. */
export async function sendAll(kind, handle, payload, total) {
  if (kind === 'ws') return sendWindowed(handle.ws, payload, total)
  if (kind === 'ours') {
    const { stream } = handle
    for (let sent = 0; sent < total; sent += payload.length) {
      await stream.write(total - sent >= payload.length ? payload : payload.subarray(0, total - sent))
    }
    return stream.flush()
  }
  return pipeline(source(payload, total), handle.duplex)
}

/** Client side of an echo run: sends `total` bytes and resolves with the time the last one came back. */
export async function sendAndReceive(kind, handle, payload, total) {
  let reachedAt
  let markReached
  const reached = new Promise((resolve) => {
    markReached = () => {
      reachedAt = now()
      resolve()
    }
  })
  if (kind === 'ws') {
    let count = 0
    handle.ws.on('message', (data) => {
      count += data.length
      if (count >= total && count - data.length < total) markReached()
    })
    await Promise.all([sendWindowed(handle.ws, payload, total), reached])
  } else if (kind === 'ours') {
    const { stream } = handle
    const reading = (async () => {
      let count = 0
      while (count < total) {
        const chunk = await stream.read()
        if (chunk === null) throw new Error(`echo ended after ${count} of ${total} bytes`)
        count += chunk.length
      }
      markReached()
    })()
    await Promise.all([sendAll(kind, handle, payload, total), reading])
  } else {
    const running = pipeline(source(payload, total, reached), handle.duplex, counter(total, markReached))
    running.catch(noop)
    await reached
    handle.pipeline = running
  }
  return reachedAt
}
