/**
 * `npm start`'s demo, run as users run it: plain Node ESM importing the built package by name.
 * (`npm test` builds first, so dist/ is current.)
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { runExample } from './support/helpers.js'

const run = promisify(execFile)

t.test('the demo prints every out-of-band event and exits 0', async (t) => {
  const stdout = await runExample('demo.js')
  for (const line of [
    '[client] event state: connecting → open',
    '[client] event pong: 8 bytes',
    '[server] event ping: 8 bytes',
    '[client] event state: open → closingSent',
    '[server] event closeFrame: code 1000 "demo done"',
    '[server] event state: open → closingReceived',
    '[client] event closeFrame: code 1000 "demo done"',
    '[client] event state: closingSent → closed',
    '[client] closed: code 1000, reason "demo done", clean true, initiator local',
    'got back "HELLO OVER A BYTE STREAM"',
  ]) {
    t.ok(stdout.includes(line), line)
  }
  const clientEvents = stdout.split('\n').filter((l) => l.startsWith('[client] event'))
  t.match(clientEvents.at(-1), /\[client\] event closed: .*"wasClean":true/, 'closed is the client\'s last event')
})

t.test('plain Node ESM imports the package by name through its exports map', async (t) => {
  const script = `
    import * as api from 'ws-stream-actor'
    const names = ['WsStream', 'connect', 'WsStreamServer', 'connectionMachine', 'serverMachine', 'WsStreamError',
      'ConnectionClosedError', 'ConnectionResetError', 'ProtocolError', 'ReceivedTextError', 'MessageTooLargeError',
      'UnexpectedEofError', 'InvalidCloseCodeError', 'HandshakeError', 'TimeoutError',
      'framed', 'linesCodec', 'lengthPrefixedCodec']
    console.log(JSON.stringify(names.filter((n) => api[n] === undefined)))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 })
  t.same(JSON.parse(stdout), [], 'every contract name is exported')
})
