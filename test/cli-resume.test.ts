/**
 * `ws-stream connect --resume` and `listen --resume`, end to end: the real binary on both ends
 * and the cut proxy between them, resetting the TCP connection while the bytes flow.
 */
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import { cli, listen, stdoutLength, type Cli } from './support/cli.js'
import { cutProxy } from './support/cut-proxy.js'

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')
const MiB = 1024 * 1024

/** Resolves once `pattern` (global) matches `n` times in `c`'s stderr; rejects after `ms`. */
async function stderrCount(c: Cli, pattern: RegExp, n: number, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while ((c.stderr().match(pattern) ?? []).length < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} of ${pattern} on stderr after ${ms} ms; stderr: ${c.stderr()}`)
    if (c.child.exitCode !== null) throw new Error(`ws-stream exited before ${n} of ${pattern}; stderr: ${c.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('connect --resume through a proxy that cuts three times mid-transfer: 4 MiB echoed by listen --echo --resume, same sha256, exit 0 both', async (t) => {
  const server = await listen(t, ['--echo', '--resume', '--resume-timeout', '15000', '-v'])
  t.match(server.stderr(), /\(echo, sessions resume within 15000 ms\)/, 'listen says its sessions resume')
  const proxy = await cutProxy(server.port)
  t.teardown(() => proxy.close())
  const client = cli(t, ['connect', proxy.url, '--resume', '--resume-timeout', '15000', '-v'])

  // Fed a MiB at a time: each cut comes when half of the last MiB is back, the rest in flight.
  const file = randomBytes(4 * MiB)
  for (let i = 0; i < 4; i++) {
    client.child.stdin.write(file.subarray(i * MiB, (i + 1) * MiB))
    if (i === 3) break
    await stdoutLength(client, i * MiB + MiB / 2)
    t.ok(proxy.cut() > 0, `cut ${i + 1} found the connection`)
    await stderrCount(client, /\[client\] resumed after \d+ ms, \d+ attempt\(s\)/g, i + 1)
  }
  await stdoutLength(client, file.length)
  client.child.stdin.end()
  t.equal(await client.exited, 0, 'connect closed with 1000: exit 0')
  t.equal(client.stdout().length, file.length, 'every byte once')
  t.equal(sha256(client.stdout()), sha256(file), 'sha256 equal')

  t.equal(proxy.cuts, 3)
  t.match(client.stderr(), /\[client\] interrupted \(ERR_WS_\w+: .*\); waiting to resume/, 'verbose connect reports the interruption')
  t.match(client.stderr(), /\[client\] reconnecting: attempt 1, \d+ ms after the loss/, 'and each attempt')
  t.notMatch(client.stderr(), /does not offer resumable streams/)
  await server.waitForStderr(/#1 127\.0\.0\.1:\d+ closed: code 1000, clean, initiator remote/)
  t.equal((server.stderr().match(/\] resumed after \d+ ms, 0 attempt\(s\)/g) ?? []).length, 3, 'the server resumed the session three times')
  t.notMatch(server.stderr(), /#2 /, 'one connection on the server: the same stream carried on')

  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'listen drained and exited 0')
})

t.test('connect --resume to a listen without --resume says so on stderr and works as a plain connection', async (t) => {
  const server = await listen(t, ['--echo'])
  const client = cli(t, ['connect', server.url, '--resume'])
  await client.waitForStderr(/ws:\/\/127\.0\.0\.1:\d+\/ does not offer resumable streams: this connection will not survive a drop/)
  client.child.stdin.end('plain\n')
  t.equal(await client.exited, 0)
  t.equal(client.stdout().toString(), 'plain\n')
})

t.test('a connection that cannot come back within --resume-timeout ends as a reset: connect exits 106', async (t) => {
  const server = await listen(t, ['--echo', '--resume', '--resume-timeout', '2000'])
  const proxy = await cutProxy(server.port)
  t.teardown(() => proxy.close())
  const client = cli(t, ['connect', proxy.url, '--resume', '--resume-timeout', '500'])
  client.child.stdin.write('before the cut\n')
  await stdoutLength(client, 'before the cut\n'.length)
  proxy.down = true
  proxy.cut()
  t.equal(await client.exited, 106, '1006 → 106')
  t.match(client.stderr(), /closed: code 1006, unclean, .*did not resume within 500 ms/)
  t.equal(client.stdout().toString(), 'before the cut\n')
  // The server ends its session after its own --resume-timeout, as a reset.
  await server.waitForStderr(/#1 127\.0\.0\.1:\d+ closed: code 1006, unclean/, 10_000)
})
