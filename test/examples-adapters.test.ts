/**
 * The adapter and codec examples, run as users run them: plain Node ESM importing the built
 * package by name (`npm test` builds first, so dist/ is current). A failing example exits
 * non-zero, which rejects `run`.
 */
import t from 'tap'
import { runExample as example } from './support/helpers.js'


t.test('examples/duplex-pipeline.js: gzip through one duplex, gunzip from the other, hashes equal, clean close', async (t) => {
  const stdout = await example('duplex-pipeline.js')
  t.match(stdout, /server gunzipped 4194304 bytes from \d+ bytes on the wire/)
  t.ok(stdout.includes('sha256 equal: true'))
  t.ok(stdout.includes('client closed: code 1000, clean true, initiator local'))
})

t.test('examples/web-streams.js: CompressionStream into writable, DecompressionStream out of readable, BYOB, cancel with a code', async (t) => {
  const stdout = await example('web-streams.js')
  t.ok(stdout.includes('text equal: true'))
  t.ok(stdout.includes('first connection closed: code 1000, clean true, initiator local'))
  t.ok(stdout.includes('BYOB read 20 bytes as "01234567" + "89abcdef" + "ghij"'))
  t.ok(stdout.includes('the server saw the cancel as: code 4000, reason "seen enough", clean true'))
})

t.test('examples/lines.js: lines answered in upper case, CRLF and split lines included; an over-long line closes with 1009', async (t) => {
  const stdout = await example('lines.js')
  for (const line of [
    '[client] got "HELLO"',
    '[client] got "FRAMED LINES"',
    '[client] got "ENDED BY CRLF"',
    '[client] got "AND SPLIT OVER TWO WRITES"',
    '[client] closed: code 1000, clean true',
    '[server] ERR_WS_MESSAGE_TOO_LARGE: A line is longer than 80 bytes.',
    '[rude client] a 100-byte line against maxLength 80: closed with 1009',
  ]) {
    t.ok(stdout.includes(line), line)
  }
})

t.test('examples/length-prefixed.js: frames of 0 B to 1 MiB across small messages; a 2 GiB header closes with 1009', async (t) => {
  const stdout = await example('length-prefixed.js')
  for (const line of [
    '[client] sent 0, got "0 bytes starting with nothing"',
    '[client] sent 5, got "5 bytes starting with 5"',
    '[client] sent 70000, got "70000 bytes starting with 222"',
    '[client] sent 1048576, got "1048576 bytes starting with 149"',
    '[client] closed: code 1000, clean true',
    '[server] ERR_WS_MESSAGE_TOO_LARGE: A frame of 2147483647 bytes is over the limit of 1048576.',
    '[big client] a header announcing 2 GiB: closed with 1009',
  ]) {
    t.ok(stdout.includes(line), line)
  }
})
