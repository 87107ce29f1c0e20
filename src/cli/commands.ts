/**
 * The `ws-stream` commands: `connect` (stdin ⇄ one connection ⇄ stdout) and `listen` (a server
 * that echoes, or bridges each connection to a spawned command or a TCP service).
 *
 * @module
 */
import { spawn } from 'node:child_process'
import cluster from 'node:cluster'
import net from 'node:net'
import type { Readable, Writable } from 'node:stream'
import { connect, HandshakeError, WsStreamServer, type CloseInfo, type WsStream } from '../index.js'
import { exitCodes, type ConnectCommand, type ListenCommand } from './args.js'
import { clientOptions, isCertificateError, listener, redact, serverOptions } from './endpoints.js'
import { onDrainRequest, startAdmin, type Closable } from './admin.js'
import { runPrimary } from './workers.js'
import { closeSummary, Progress, type Reporter } from './report.js'

/** Resolves once `output` can take more, or once it is gone (so a dead pipe never hangs a loop). */
function drained(output: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      output.off('drain', done)
      output.off('close', done)
      output.off('error', done)
      resolve()
    }
    output.on('drain', done)
    output.on('close', done)
    output.on('error', done)
  })
}

/**
 * Joins `stream` to a byte source and sink, half-close by half-close: the peer's bytes go to
 * `output`, which is ended when the peer's Close arrives (a FIN for a TCP socket, EOF for a
 * command's stdin); `input`'s bytes go to the peer, and when `input` ends the connection is flushed
 * and closed — our first Close, or our answer to the peer's (echoing its code). Resolves with how
 * the connection ended, once `output` has everything. `input` is destroyed if the connection ends first.
 */
export async function bridge(stream: WsStream, input: Readable, output: Writable): Promise<CloseInfo> {
  output.on('error', () => {}) // a sink that went away (EPIPE, a reset TCP peer) just stops the copy
  input.on('error', () => {})

  const inbound = (async () => {
    try {
      for (let chunk; (chunk = await stream.read()) !== null;) {
        if (output.destroyed) continue // keep reading so that the close handshake can finish
        if (!output.write(chunk)) await drained(output)
      }
    } catch {
      // A reset or a protocol error: reported by the 'closed' info and the verbose events.
    }
    if (!output.destroyed) await new Promise<void>((resolve) => output.end(resolve))
  })()

  const outbound = (async () => {
    try {
      for await (const chunk of input) await stream.write(chunk as Buffer)
      await stream.flush()
      await stream.close()
    } catch {
      // The connection closed first (the write rejected) or input was destroyed because of it.
    }
  })()

  const info = await stream.closed
  await inbound // first: `input` may be the same socket as `output`, still taking the peer's last bytes
  if (!input.readableEnded) input.destroy()
  await outbound
  return info
}

/** connect's exit status for a connection that ended with `info`. */
function exitCodeFor(info: CloseInfo): number {
  if (info.code === 1000) return exitCodes.ok
  if (info.code > 1000 && info.code <= 1015) return 100 + (info.code - 1000)
  return exitCodes.applicationClose
}

export async function runConnect(options: ConnectCommand, reporter: Reporter): Promise<number> {
  let stream: WsStream
  const endpoint = clientOptions(options, reporter)
  try {
    stream = await connect(options.url, {
      ...endpoint,
      timeout: options.timeout,
      ...(options.resume === undefined ? {} : { resume: options.resume }),
      stream: { closeTimeout: options.closeTimeout, text: options.text },
    })
  } catch (error) {
    const err = error as Error & { code?: string; cause?: { code?: string } }
    if (err instanceof HandshakeError && err.status !== undefined) {
      const via = endpoint.proxy ? ` (through the proxy ${redact(endpoint.proxy)}: the answer may be the proxy's)` : ''
      reporter.error(`${options.url} refused the WebSocket upgrade with HTTP ${err.status}${via}.`)
      return exitCodes.handshakeRefused
    }
    if (err.code === 'ERR_WS_TIMEOUT') {
      reporter.error(`${options.url} did not open within ${options.timeout} ms.`)
      return exitCodes.openTimeout
    }
    if (err instanceof HandshakeError && isCertificateError(err.cause)) {
      reporter.error(`${options.url}: the server's certificate was rejected: ${err.cause!.code} (${(err.cause as Error).message}); trust its CA with --ca FILE`)
      return exitCodes.certificateRejected
    }
    if (err instanceof HandshakeError) {
      const why = err.cause?.code ? `${err.cause.code}` : err.message
      reporter.error(`cannot connect to ${options.url}${endpoint.proxy ? ` through the proxy ${redact(endpoint.proxy)}` : ''}: ${why}`)
      return exitCodes.unreachable
    }
    throw error
  }

  reporter.watch(stream, 'client')
  // Emitted one turn after connect() resolved: a server without --resume gave a plain stream.
  stream.on('resumeUnavailable', () => reporter.info(`${options.url} does not offer resumable streams: this connection will not survive a drop`))
  const progress = options.progress ? new Progress(reporter) : undefined
  progress?.add(stream)
  progress?.start()

  let interrupted: number | undefined
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted !== undefined) process.exit(interrupted) // second signal: no more waiting
    interrupted = signal === 'SIGINT' ? exitCodes.sigint : exitCodes.sigterm
    reporter.info(`${signal}: closing`)
    void stream.close(1000, '').catch(() => {})
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const info = await bridge(stream, process.stdin, process.stdout)
  progress?.stop()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  if (info.code !== 1000 || !info.wasClean) reporter.info(`closed: ${closeSummary(info)}`)
  return interrupted ?? exitCodeFor(info)
}

export async function runListen(options: ListenCommand, reporter: Reporter): Promise<number> {
  if (options.workers !== undefined && cluster.isPrimary) return runPrimary(options, reporter)
  const endpoint = listener(options)
  const server = new WsStreamServer({
    ...endpoint.options,
    ...serverOptions(options),
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    ...(options.resume === undefined ? {} : { resume: options.resume }),
    // A bridge answers the peer's Close once the command or service behind it is done, not when
    // their input ends: they may answer only then (sha256sum, an HTTP/1.0 server).
    stream: { closeTimeout: options.closeTimeout, text: options.text, allowHalfOpen: options.mode.type !== 'echo' },
  })
  endpoint.start()
  try {
    await server.listening
  } catch (error) {
    const err = error as NodeJS.ErrnoException
    reporter.error(`cannot listen on ${endpoint.name}: ${err.code ?? err.message}`)
    await server.close({ timeout: 0 })
    await endpoint.close()
    return exitCodes.cannotListen
  }
  let admin: Closable
  try {
    admin = await startAdmin(server, options, reporter)
  } catch (error) {
    const err = error as NodeJS.ErrnoException
    reporter.error(`cannot listen on the admin address ${options.admin!.host}:${options.admin!.port}: ${err.code ?? err.message}`)
    await server.close({ timeout: 0 })
    await endpoint.close()
    return exitCodes.cannotListen
  }
  const where = endpoint.url(server.address())
  if (!cluster.isWorker) reporter.info(`listening on ${where} (${describeMode(options.mode)}${options.resume ? `, sessions resume within ${options.resume.timeout} ms` : ''})`)

  const progress = options.progress ? new Progress(reporter) : undefined
  progress?.start()
  const handlers = new Set<Promise<void>>()
  let nextId = 0
  server.on('connection', (stream, request) => {
    const label = `#${++nextId} ${request.socket.remoteAddress === undefined ? 'unix' : `${request.socket.remoteAddress}:${request.socket.remotePort}`}`
    reporter.info(`${label} open`)
    reporter.watch(stream, label)
    progress?.add(stream)
    const handled = serve(stream, options, label, reporter)
      .then((info) => reporter.info(`${label} closed: ${closeSummary(info)}`))
      .catch((error: Error) => reporter.error(`${label}: ${error.message}`))
      .finally(() => handlers.delete(handled))
    handlers.add(handled)
  })

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
    onDrainRequest(() => resolve('SIGTERM'))
  })
  const again = (): never => process.exit(signal === 'SIGINT' ? exitCodes.sigint : exitCodes.sigterm)
  process.once('SIGINT', again)
  process.once('SIGTERM', again)
  reporter.info(`${signal}: draining ${server.connections.size} connection(s)`)
  const report = await server.close({ timeout: options.drainTimeout })
  await Promise.all(handlers)
  await admin.close()
  await endpoint.close()
  progress?.stop()
  reporter.info(`stopped: ${report.closedCleanly} closed cleanly, ${report.terminated} terminated`)
  return exitCodes.ok
}

function describeMode(mode: ListenCommand['mode']): string {
  if (mode.type === 'echo') return 'echo'
  if (mode.type === 'exec') return `exec ${mode.command}`
  return `to ${mode.host}:${mode.port}`
}

/** Serves one accepted connection in the chosen mode; resolves with how it ended. */
async function serve(stream: WsStream, options: ListenCommand, label: string, reporter: Reporter): Promise<CloseInfo> {
  const { mode } = options
  if (mode.type === 'echo') {
    try {
      for (let chunk; (chunk = await stream.read()) !== null;) await stream.write(chunk)
      await stream.close()
    } catch {
      // The peer closed or reset first; stream.closed says how.
    }
    return stream.closed
  }

  if (mode.type === 'exec') {
    const child = spawn(mode.command, { shell: true, stdio: ['pipe', 'pipe', 'inherit'] })
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', (error) => {
        reporter.error(`${label}: cannot run '${mode.command}': ${error.message}`)
        resolve(null)
      })
      child.once('exit', (code) => resolve(code))
    })
    const info = await bridge(stream, child.stdout, child.stdin)
    // The connection is over: a command that does not end with its stdin gets the close timeout, then SIGTERM.
    const timer = setTimeout(() => child.kill('SIGTERM'), options.closeTimeout)
    const code = await exited
    clearTimeout(timer)
    if (code !== 0 && code !== null) reporter.info(`${label} '${mode.command}' exited with ${code}`)
    return info
  }

  const socket = net.connect({ host: mode.host, port: mode.port })
  const connected = await new Promise<Error | undefined>((resolve) => {
    socket.once('connect', () => resolve(undefined))
    socket.once('error', resolve)
  })
  if (connected) {
    const why = (connected as NodeJS.ErrnoException).code ?? connected.message
    reporter.error(`${label}: cannot reach ${mode.host}:${mode.port}: ${why}`)
    socket.destroy()
    // 1014 Bad Gateway: the service behind us is unavailable.
    return stream.close(1014, 'Bad Gateway')
  }
  const info = await bridge(stream, socket, socket)
  socket.destroy()
  return info
}
