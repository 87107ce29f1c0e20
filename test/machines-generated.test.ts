/**
 * `npm run machines` output (machines/*.json for the Stately editor, the Mermaid diagrams in
 * docs/machines.md) is generated from the machine definitions; these tests fail when the
 * committed files no longer match them.
 */
import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { connectionMachine, serverMachine } from '../src/index.js'

const run = promisify(execFile)
const script = 'scripts/machines.js'

t.test('the committed machine JSON and diagrams match the machine definitions', async (t) => {
  const result = await run(process.execPath, [script, '--check'], { timeout: 30_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  )
  t.same(result, { code: 0, stderr: '' }, 'run `npm run machines` and commit the result if this fails')
})

/** A copy of the generated files under a scratch root, with `edit` applied to one of them. */
async function staleCopy(t: Test, file: string, edit: (text: string) => string): Promise<string> {
  const root = t.testdir({})
  for (const name of ['machines/connection.json', 'machines/server.json', 'docs/machines.md', 'docs/close-handshake.md', 'docs/resume.md']) {
    await mkdir(join(root, name, '..'), { recursive: true })
    await writeFile(join(root, name), await readFile(name))
  }
  await writeFile(join(root, file), edit(await readFile(join(root, file), 'utf8')))
  return root
}

async function check(root: string): Promise<{ code: number; stderr: string } | undefined> {
  return run(process.execPath, [script, '--check', '--root', root], { timeout: 30_000 }).then(() => undefined, (e: { code: number; stderr: string }) => e)
}

t.test('the check names a stale diagram and exits 1', async (t) => {
  const error = await check(await staleCopy(t, 'docs/machines.md', (text) => text.replace('after closeTimeout', 'after 5000 ms')))
  t.equal(error?.code, 1)
  t.match(error?.stderr, 'stale (run npm run machines and commit): docs/machines.md')
})

t.test('the check names stale JSON and a stale diagram embedded in a guide', async (t) => {
  const root = await staleCopy(t, 'machines/server.json', (text) => text.replace('"drainTimeout"', '"drainDelay"'))
  const guide = join(root, 'docs/close-handshake.md')
  await writeFile(guide, (await readFile(guide, 'utf8')).replace('open --> closingReceived : peerClose\n', ''))
  const error = await check(root)
  t.equal(error?.code, 1)
  t.match(error?.stderr, 'machines/server.json')
  t.match(error?.stderr, 'docs/close-handshake.md')
})

t.test('machines/connection.json is the connection machine\'s toJSON(), with its six states and the closeTimeout delay', async (t) => {
  const json = JSON.parse(await readFile('machines/connection.json', 'utf8'))
  t.equal(json.id, 'connection')
  t.same(Object.keys(json.states), Object.keys(connectionMachine.toJSON().states))
  t.same(Object.keys(json.states), ['connecting', 'open', 'interrupted', 'closingSent', 'closingReceived', 'closed'])
  t.equal(json.states.closingSent.transitions.find((tr: { delay?: string }) => tr.delay === 'closeTimeout')?.target[0], '#connection.closed')
  const server = JSON.parse(await readFile('machines/server.json', 'utf8'))
  t.same(Object.keys(server.states), Object.keys(serverMachine.toJSON().states))
})

t.test('docs/machines.md draws each machine as a Mermaid stateDiagram-v2 with the after closeTimeout edges', async (t) => {
  const doc = await readFile('docs/machines.md', 'utf8')
  t.equal(doc.match(/```mermaid\nstateDiagram-v2\n/g)?.length, 2)
  for (const line of [
    '[*] --> connecting',
    'open --> closingSent : close',
    'open --> closingReceived : peerClose',
    'closingSent --> closed : after closeTimeout',
    'closingReceived_finishing --> closed : after closeTimeout',
    'closingReceived_finishing --> closingReceived_flushing : inputTaken [endOfInputIsDone]',
    'closingReceived_flushing --> closingReceived_replySent : writesFlushed [writesIdle]',
    'closingReceived_replySent --> closed : after closeTimeout',
    'closingReceived --> closed : socketClosed',
    'open --> interrupted : transportLost',
    'interrupted --> closed : after resumeTimeout',
    'interrupted_backoff --> interrupted_reconnecting : after reconnectDelay',
    'closed --> [*]',
    'draining --> stopped : always [noConnections]',
    'draining_closing --> draining_terminating : after drainTimeout',
  ]) {
    t.ok(doc.includes(line), line)
  }
})
