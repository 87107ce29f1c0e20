/**
 * Servers that survive their clients and fail loudly themselves: the contained `handler`, a
 * bind failure (thrown unless someone takes it), promises nobody awaits, one reader at a time,
 * and the errors' details (`limit`, "closed").
 */
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import {
  ConcurrentReadError,
  connect,
  ConnectionClosedError,
  MessageTooLargeError,
  WsStreamServer,
  type ConnectionErrorInfo,
  type WsStream,
} from '../src/index.js'
import { streamPair, waitFor } from './support/helpers.js'

const run = promisify(execFile)

async function listeningServer(t: Test, options: Partial<ConstructorParameters<typeof WsStreamServer>[0]> = {}) {
  const server = new WsStreamServer({ host: '127.0.0.1', port: 0, ...options })
  t.teardown(() => server.close({ timeout: 200 }))
  await server.listening
  return { server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** A TCP port in use for the test's duration. */
async function busyPort(t: Test): Promise<number> {
  const blocker: Server = createServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => new Promise((resolve) => blocker.close(resolve)))
  return (blocker.address() as AddressInfo).port
}

async function echoRoundTrip(t: Test, url: string): Promise<void> {
  const client = await connect(url, { timeout: 5000 })
  t.teardown(() => client.abort())
  await client.write('still serving')
  t.equal(Buffer.from(await client.readExactly(13)).toString(), 'still serving', 'a well-behaved client is served')
  await client.close(1000, '', { timeout: 2000 })
}

t.test('a handler that rejects: one connectionError with the id, the connection aborted, the server serves on', async (t) => {
  const failures: Array<[unknown, ConnectionErrorInfo]> = []
  const { server, url } = await listeningServer(t, {
    handler: async (stream) => {
      const first = await stream.read()
      if (first !== null && Buffer.from(first).toString() === 'boom') throw new Error('handler failed on purpose')
      await stream.write(first!)
      for await (const chunk of stream) await stream.write(chunk)
    },
  })
  server.on('connectionError', (error, connection) => failures.push([error, connection]))
  const bad = new WebSocket(url)
  await once(bad, 'open')
  bad.send(Buffer.from('boom'))
  const [code] = (await once(bad, 'close')) as [number]
  t.equal(code, 1006, 'the failed connection was aborted')
  await waitFor(() => failures.length === 1)
  const [error, connection] = failures[0]!
  t.match(error, { message: 'handler failed on purpose' })
  t.match(connection.id, /^c\d+$/)
  t.equal(connection.stream.actor.id, connection.id)
  t.equal(connection.stream.state, 'closed')
  t.ok(connection.request.headers, 'the upgrade request')
  await echoRoundTrip(t, url)
  t.equal(failures.length, 1, 'reported once')
})

t.test('a handler that throws synchronously is contained too; without a listener it is logged', async (t) => {
  const logged: unknown[][] = []
  const original = console.error
  console.error = (...args: unknown[]) => { logged.push(args) }
  t.teardown(() => { console.error = original })
  let calls = 0
  const { url } = await listeningServer(t, {
    handler: (stream) => {
      if (calls++ === 0) throw new TypeError('sync failure')
      void (async () => { for await (const chunk of stream) await stream.write(chunk) })()
    },
  })
  const bad = new WebSocket(url)
  await once(bad, 'close')
  await waitFor(() => logged.length === 1)
  t.match(String(logged[0]![0]), /connection c1 failed/)
  t.match(logged[0]![1], { message: 'sync failure' })
  await echoRoundTrip(t, url)
})

t.test('the handler sees every client misbehave without the process noticing', async (t) => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const errors: unknown[] = []
  const { server, url } = await listeningServer(t, {
    handler: async (stream) => {
      const duplex = stream.toDuplex()
      const { pipeline } = await import('node:stream/promises')
      await pipeline(duplex, duplex)
    },
  })
  server.on('connectionError', (error) => errors.push(error))
  // Reset mid-stream.
  const reset = new WebSocket(url)
  await once(reset, 'open')
  reset.send(Buffer.alloc(64 * 1024))
  reset.terminate()
  // One message over maxPayload (1 MiB).
  const big = new WebSocket(url)
  await once(big, 'open')
  big.send(Buffer.alloc(1024 * 1024 + 1))
  const [bigCode] = (await once(big, 'close')) as [number]
  t.equal(bigCode, 1009)
  await new Promise((resolve) => setTimeout(resolve, 100))
  await echoRoundTrip(t, url)
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('write(), flush() and ping() nobody awaits never become unhandled rejections', async (t) => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const { client, server } = await streamPair(t, { writeHighWaterMark: 0 })
  const errors: unknown[] = []
  client.on('error', (event) => errors.push(event.error))
  // Bytes that cannot all be in the kernel before the reset.
  for (let i = 0; i < 20; i++) void client.write(new Uint8Array(256 * 1024))
  void client.flush()
  void client.ping()
  server.abort()
  const info = await client.closed
  t.equal(info.wasClean, false)
  void client.write('after the end')
  void client.flush()
  void client.ping()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(unhandled, [], 'no unhandled rejection')
  await t.rejects(client.write('awaited'), ConnectionClosedError, 'an awaiting caller still sees the failure')
})

t.test('after closed, write(), flush() and ping() reject with ConnectionClosedError saying "closed"', async (t) => {
  const { client } = await streamPair(t)
  await client.close(1000, '', { timeout: 2000 })
  for (const [name, call] of [['write', () => client.write('late')], ['flush', () => client.flush()], ['ping', () => client.ping()]] as const) {
    const error = await (call() as Promise<unknown>).then(() => undefined, (e: unknown) => e)
    t.type(error, ConnectionClosedError, name)
    t.match((error as Error).message, /closed/, `${name}: the message says closed`)
    t.notMatch((error as Error).message, /closing/, name)
  }
  t.equal(((await client.write(new Uint8Array(5)).catch((e: unknown) => e)) as ConnectionClosedError).unsentBytes, 5)
})

t.test('a second for await loop over one stream is a ConcurrentReadError, not a split of the data', async (t) => {
  const { client, server } = await streamPair(t)
  const got: string[] = []
  const first = (async () => { for await (const chunk of server) got.push(Buffer.from(chunk).toString()) })()
  await new Promise((resolve) => setTimeout(resolve, 10))
  const second = (async () => { for await (const chunk of server) got.push(`second: ${Buffer.from(chunk).toString()}`) })()
  await t.rejects(second, { name: 'ConcurrentReadError', code: 'ERR_WS_CONCURRENT_READ' })
  await t.rejects(server.read(), ConcurrentReadError, 'read() between two iterations of a loop')
  await t.rejects(server.fill(), ConcurrentReadError)
  await client.write('one')
  await waitFor(() => got.length === 1)
  await client.close(1000, '', { timeout: 2000 })
  await first
  t.same(got, ['one'], 'the first loop got every byte')
  t.equal(await server.read(), null, 'the loop ended: reading is free again')
})

t.test('MessageTooLargeError.limit is the maxPayload that was exceeded, on a server and on a client', async (t) => {
  const errors: MessageTooLargeError[] = []
  const { server, url } = await listeningServer(t, { maxPayload: 1000 })
  server.on('connection', (stream: WsStream) => stream.on('error', (event) => errors.push(event.error as MessageTooLargeError)))
  const client = new WebSocket(url)
  await once(client, 'open')
  client.send(Buffer.alloc(1001))
  await once(client, 'close')
  await waitFor(() => errors.length === 1)
  t.type(errors[0], MessageTooLargeError)
  t.equal(errors[0]!.limit, 1000)
  t.equal((errors[0]!.cause as { code?: string }).code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', "ws's own code is on cause")

  server.on('connection', (stream: WsStream) => void stream.write(new Uint8Array(3000)))
  const stream = await connect(url, { timeout: 5000, maxPayload: 2000 })
  const read = await stream.read().catch((e: unknown) => e)
  t.type(read, MessageTooLargeError)
  t.equal((read as MessageTooLargeError).limit, 2000)
})

t.test('a bind failure: rejects listening, the actor is in failed with the error, the error event hears it', async (t) => {
  const port = await busyPort(t)
  const server = new WsStreamServer({ host: '127.0.0.1', port })
  const error = await server.listening.then(() => undefined, (e: unknown) => e)
  t.match(error, { code: 'EADDRINUSE' })
  const snapshot = server.actor.getSnapshot()
  t.equal(snapshot.value, 'failed')
  t.equal(snapshot.status, 'done')
  t.equal(snapshot.context.error, error)
  t.same(await server.close({ timeout: 100 }), { closedCleanly: 0, terminated: 0 }, 'close() after a failure settles')

  const heard = new WsStreamServer({ host: '127.0.0.1', port })
  const [emitted] = (await once(heard, 'error')) as [Error]
  t.match(emitted, { code: 'EADDRINUSE' })
  t.equal(heard.actor.getSnapshot().value, 'failed')

  const iterated = new WsStreamServer({ host: '127.0.0.1', port })
  const loop = (async () => { for await (const stream of iterated) void stream })()
  await t.rejects(loop, { code: 'EADDRINUSE' }, 'a for await loop over the server throws it')
})

const program = (port: number, tail: string): string => `
  import { WsStreamServer } from ${JSON.stringify(new URL('../dist/src/index.js', import.meta.url).href)}
  const server = new WsStreamServer({ host: '127.0.0.1', port: ${port} })
  ${tail}
`

t.test('a bind failure nobody takes is thrown: the process exits non-zero and prints the error', async (t) => {
  const port = await busyPort(t)
  const result = await run(process.execPath, ['--input-type=module', '-e', program(port, "server.on('connection', () => {})")], { timeout: 20_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  )
  t.not(result.code, 0, 'exits non-zero')
  t.match(result.stderr, /EADDRINUSE/, 'prints the error')
  t.match(result.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`))

  const awaited = await run(process.execPath, ['--input-type=module', '-e', program(port, `
    try { await server.listening } catch (error) { console.log('rejected', error.code, server.actor.getSnapshot().value) }`)], { timeout: 20_000 })
  t.equal(awaited.stdout.trim(), 'rejected EADDRINUSE failed', 'awaiting listening takes the failure: no throw')
  t.equal(awaited.stderr, '')
})
