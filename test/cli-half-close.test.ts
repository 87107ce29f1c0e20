/**
 * The `ws-stream` command is half-close end to end (docs/close-handshake.md, ordered close): a
 * request piped into `connect`, whose stdin then ends, gets the whole answer through `listen
 * --echo`, `--exec` and `--to`, even from services that answer only after the end of their input.
 */
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import t from 'tap'
import { cli, listen } from './support/cli.js'

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

t.test('connect < a 4 MiB file through listen --echo: stdin ends at once, and the whole echo still arrives', async (t) => {
  const server = await listen(t, ['--echo'])
  const file = randomBytes(4 * 1024 * 1024)
  const client = cli(t, ['connect', server.url])
  client.child.stdin.end(file)
  t.equal(await client.exited, 0, 'closed with 1000: exit 0')
  t.equal(client.stdout().length, file.length, 'every byte came back')
  t.equal(sha256(client.stdout()), sha256(file), 'sha256 equal')
  await server.waitForStderr(/#1 127\.0\.0\.1:\d+ closed: code 1000, clean, initiator remote/)
})

t.test('connect < a file through listen --exec sha256sum prints the file\'s hash: the peer\'s Close ended the command\'s stdin', async (t) => {
  const server = await listen(t, ['--exec', 'sha256sum'])
  const file = randomBytes(1024 * 1024)
  const client = cli(t, ['connect', server.url])
  client.child.stdin.end(file)
  t.equal(await client.exited, 0)
  t.equal(client.stdout().toString(), `${sha256(file)}  -\n`)
  await server.waitForStderr(/#1 127\.0\.0\.1:\d+ closed: code 1000, clean, initiator remote/)
})

t.test('connect < a file through listen --to a TCP service that answers only after our FIN', async (t) => {
  // The service hashes what it got and answers once its input has ended: a request/answer protocol
  // that relies on the half-close (as HTTP/1.0 or a shell pipeline do).
  const service = net.createServer({ allowHalfOpen: true }, (socket) => {
    const hash = createHash('sha256')
    socket.on('data', (chunk) => hash.update(chunk))
    socket.on('end', () => socket.end(`${hash.digest('hex')}\n`))
    socket.on('error', () => {})
  })
  service.listen(0, '127.0.0.1')
  await once(service, 'listening')
  t.teardown(() => new Promise((resolve) => service.close(resolve)))
  const server = await listen(t, ['--to', `127.0.0.1:${(service.address() as AddressInfo).port}`])
  const file = randomBytes(2 * 1024 * 1024)
  const client = cli(t, ['connect', server.url])
  client.child.stdin.end(file)
  t.equal(await client.exited, 0)
  t.equal(client.stdout().toString(), `${sha256(file)}\n`, 'the service saw every byte, then its answer came back')
  await server.waitForStderr(/#1 127\.0\.0\.1:\d+ closed: code 1000, clean, initiator remote/)
})

t.test('a service that closes first: its last bytes reach connect\'s stdout, then our Close answers it', async (t) => {
  const service = net.createServer((socket) => {
    socket.on('error', () => {})
    socket.end(Buffer.alloc(300_000, 0x61))
  })
  service.listen(0, '127.0.0.1')
  await once(service, 'listening')
  t.teardown(() => new Promise((resolve) => service.close(resolve)))
  const server = await listen(t, ['--to', `127.0.0.1:${(service.address() as AddressInfo).port}`])
  const client = cli(t, ['connect', server.url]) // stdin stays open: the server side ends the connection
  t.equal(await client.exited, 0)
  t.equal(client.stdout().length, 300_000)
  await server.waitForStderr(/#1 127\.0\.0\.1:\d+ closed: code 1000, clean, initiator local/)
})
