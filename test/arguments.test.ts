/**
 * Every public function and option with a wrong type and a wrong value: Node's convention
 * (a TypeError with code ERR_INVALID_ARG_TYPE, a RangeError with code ERR_OUT_OF_RANGE), the
 * message naming the argument and quoting what it received. One table, one row per case.
 */
import t, { type Test } from 'tap'
import {
  connect,
  framed,
  InvalidCloseCodeError,
  lengthPrefixedCodec,
  linesCodec,
  WsStream,
  WsStreamServer,
  type Codec,
  type WsStreamOptions,
} from '../src/index.js'
import { WebSocket } from 'ws'
import { rawServer, streamPair } from './support/helpers.js'
import { resolveOptions } from '../src/options.js'

type Kind = 'type' | 'range'
/** A case: what is called, which argument it names, and whether its type or its value is wrong. */
type Row = [label: string, call: () => unknown, kind: Kind, name: string]

const expected = {
  type: { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' },
  range: { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' },
} as const

/** Runs `call` and returns what it threw or what its promise rejected with. */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  return undefined
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

async function check(t: Test, rows: Row[]): Promise<void> {
  for (const [label, call, kind, name] of rows) {
    const error = (await failure(call)) as (Error & { code?: string }) | undefined
    const want = expected[kind]
    t.ok(error instanceof (kind === 'type' ? TypeError : RangeError), `${label}: a ${want.name}`)
    t.equal(error?.code, want.code, `${label}: code ${want.code}`)
    t.match(error?.message, new RegExp(`"${escape(name)}"`), `${label}: the message names "${name}"`)
  }
}

const any = <T>(value: unknown): T => value as T

t.test('WsStream methods', async (t) => {
  const { client } = await streamPair(t)
  await check(t, [
    ["read('3')", () => client.read(any('3')), 'type', 'max'],
    ['read(0)', () => client.read(0), 'range', 'max'],
    ['read(-1)', () => client.read(-1), 'range', 'max'],
    ['read(NaN)', () => client.read(NaN), 'range', 'max'],
    ["readExactly('3')", () => client.readExactly(any('3')), 'type', 'n'],
    ['readExactly(-1)', () => client.readExactly(-1), 'range', 'n'],
    ['readExactly(1.5)', () => client.readExactly(1.5), 'range', 'n'],
    ["readUntil('\\n')", () => client.readUntil(any('\n')), 'type', 'delim'],
    ['readUntil(256)', () => client.readUntil(256), 'range', 'delim'],
    ['readUntil(empty bytes)', () => client.readUntil(new Uint8Array(0)), 'range', 'delim'],
    ['readUntil(10, null)', () => client.readUntil(10, any(null)), 'type', 'options'],
    ["readUntil(10, { maxLength: 'x' })", () => client.readUntil(10, { maxLength: any('x') }), 'type', 'options.maxLength'],
    ['readUntil(bytes(3), { maxLength: 2 })', () => client.readUntil(new Uint8Array(3), { maxLength: 2 }), 'range', 'options.maxLength'],
    ["consume('1')", () => client.consume(any('1')), 'type', 'n'],
    ['consume(5) with nothing buffered', () => client.consume(5), 'range', 'n'],
    ['write(42)', () => client.write(any(42)), 'type', 'data'],
    ['write(null)', () => client.write(any(null)), 'type', 'data'],
    ['flush is argument-free; ping(42)', () => client.ping(any(42)), 'type', 'data'],
    ['ping(126 bytes)', () => client.ping(new Uint8Array(126)), 'range', 'data.length'],
    ["close('1000')", () => client.close(any('1000')), 'type', 'code'],
    ['close(1000, 42)', () => client.close(1000, any(42)), 'type', 'reason'],
    ["close(1000, '', { timeout: 'soon' })", () => client.close(1000, '', { timeout: any('soon') }), 'type', 'options.timeout'],
    ["close(1000, '', { timeout: -1 })", () => client.close(1000, '', { timeout: -1 }), 'range', 'options.timeout'],
    ["close(1000, '', null)", () => client.close(1000, '', any(null)), 'type', 'options'],
    ["on(1, fn)", () => client.on(any(1), () => {}), 'type', 'type'],
    ["on('closed', 'x')", () => client.on('closed', any('x')), 'type', 'handler'],
    ["events({ bufferSize: '8' })", () => client.events({ bufferSize: any('8') }), 'type', 'options.bufferSize'],
    ['events({ bufferSize: 0 })', () => client.events({ bufferSize: 0 }), 'range', 'options.bufferSize'],
    ["toDuplex({ readableHighWaterMark: 'x' })", () => client.toDuplex({ readableHighWaterMark: any('x') }), 'type', 'options.readableHighWaterMark'],
    ['toDuplex({ writableHighWaterMark: -1 })', () => client.toDuplex({ writableHighWaterMark: -1 }), 'range', 'options.writableHighWaterMark'],
  ])
  t.equal(client.state, 'open', 'no bad argument touched the connection')
  // A number that is not a sendable code stays the contract's InvalidCloseCodeError.
  await t.rejects(client.close(1005), InvalidCloseCodeError)
  await t.rejects(client.close(1000.5), InvalidCloseCodeError)
  t.equal(client.state, 'open')
})

t.test('the message quotes the value: type and value for a wrong type, the value for a bad one', async (t) => {
  const { client } = await streamPair(t)
  const error = (await failure(() => client.close(any('1000')))) as Error
  t.equal(error.message, `The "code" argument must be of type number. Received type string ('1000')`)
  const range = (await failure(() => client.readExactly(-3))) as Error
  t.match(range.message, /^The value of "n" is out of range\. It must be .*\. Received -3$/)
  const text = (await failure(() => new WsStreamServer({ noServer: true, stream: { text: any('soon') } }))) as Error
  t.match(text.message, /"options\.stream\.text".*Received 'soon'$/)
})

/** Stream options, as the constructor, connect() and the server each take them. */
const streamOptionRows: Array<[string, WsStreamOptions, Kind, string]> = [
  ["text: 'soon'", { text: any('soon') }, 'range', 'text'],
  ['text: 1', { text: any(1) }, 'type', 'text'],
  ["readHighWaterMark: 'big'", { readHighWaterMark: any('big') }, 'type', 'readHighWaterMark'],
  ['readHighWaterMark: 0', { readHighWaterMark: 0 }, 'range', 'readHighWaterMark'],
  ['writeHighWaterMark: -1', { writeHighWaterMark: -1 }, 'range', 'writeHighWaterMark'],
  ['maxMessageSize: 1.5', { maxMessageSize: 1.5 }, 'range', 'maxMessageSize'],
  ["coalesce: 'yes'", { coalesce: any('yes') }, 'type', 'coalesce'],
  ['closeTimeout: NaN', { closeTimeout: NaN }, 'range', 'closeTimeout'],
  ['keepAlive: true', { keepAlive: any(true) }, 'type', 'keepAlive'],
  ["keepAlive: { interval: 'often' }", { keepAlive: { interval: any('often') } }, 'type', 'keepAlive.interval'],
  ['keepAlive: { interval: 100, timeout: 0 }', { keepAlive: { interval: 100, timeout: 0 } }, 'range', 'keepAlive.timeout'],
  ["inspect: 'x'", { inspect: any('x') }, 'type', 'inspect'],
  ['id: 7', { id: any(7) }, 'type', 'id'],
]

t.test('stream options, for new WsStream(), connect() and the server', async (t) => {
  const rows: Row[] = []
  for (const [label, options, kind, name] of streamOptionRows) {
    rows.push([`server stream.${label}`, () => new WsStreamServer({ noServer: true, stream: options }), kind, `options.stream.${name}`])
    rows.push([`connect stream.${label}`, () => connect('ws://127.0.0.1:1', { stream: options }), kind, `options.stream.${name}`])
  }
  await check(t, rows)
  // new WsStream() checks the socket first, then the options: give it a real one.
  const raw = await rawServer(t)
  for (const [label, options, kind, name] of streamOptionRows) {
    const socket = new WebSocket(raw.url)
    socket.on('error', () => {}) // terminated while CONNECTING at teardown: expected
    t.teardown(() => socket.terminate())
    await check(t, [[`new WsStream(socket, { ${label} })`, () => new WsStream(socket, options), kind, `options.${name}`]])
  }
})

t.test('resolved options are frozen, and resolving them again returns them as they are', async (t) => {
  const once = resolveOptions({ closeTimeout: 250, keepAlive: { interval: 1000 } })
  t.ok(Object.isFrozen(once) && Object.isFrozen(once.keepAlive), 'frozen, keepAlive too: nobody can change what later connections take')
  t.equal(resolveOptions(once), once, 'the same object: no copy per connection')
  t.equal(once.closeTimeout, 250)
  // Options the user owns are never taken as resolved, however they look.
  const look = { ...once }
  t.not(resolveOptions(look), look, 'a plain object with every field is still resolved afresh')
  t.throws(() => resolveOptions(Object.freeze({ ...once, closeTimeout: -1 })), { code: 'ERR_OUT_OF_RANGE' }, 'and still checked')
})

t.test('keepAlive with only an interval takes the default timeout', async (t) => {
  const server = new WsStreamServer({ noServer: true, stream: { keepAlive: { interval: 1000 } } })
  t.teardown(() => server.close({ timeout: 100 }))
  t.pass('accepted')
})

t.test('server options', async (t) => {
  await check(t, [
    ['no options', () => new WsStreamServer(any(undefined)), 'type', 'options'],
    ['port and noServer', () => new WsStreamServer({ port: 0, noServer: true }), 'type', 'options'],
    ["port: 'abc'", () => new WsStreamServer({ port: any('abc') }), 'range', 'options.port'],
    ['port: 70000', () => new WsStreamServer({ port: 70000 }), 'range', 'options.port'],
    ['port: {}', () => new WsStreamServer({ port: any({}) }), 'type', 'options.port'],
    ['host: 1', () => new WsStreamServer({ port: 0, host: any(1) }), 'type', 'options.host'],
    ['backlog: -1', () => new WsStreamServer({ port: 0, backlog: -1 }), 'range', 'options.backlog'],
    ["server: 'x'", () => new WsStreamServer({ server: any('x') }), 'type', 'options.server'],
    ["maxPayload: 'big'", () => new WsStreamServer({ noServer: true, maxPayload: any('big') }), 'type', 'options.maxPayload'],
    ['maxPayload: -1', () => new WsStreamServer({ noServer: true, maxPayload: -1 }), 'range', 'options.maxPayload'],
    ['maxPayload: 0 (no limit in ws)', () => new WsStreamServer({ noServer: true, maxPayload: 0 }), 'range', 'options.maxPayload'],
    ["maxConnections: '10'", () => new WsStreamServer({ noServer: true, maxConnections: any('10') }), 'type', 'options.maxConnections'],
    ['maxConnections: -1', () => new WsStreamServer({ noServer: true, maxConnections: -1 }), 'range', 'options.maxConnections'],
    ['handshakeTimeout: 0', () => new WsStreamServer({ noServer: true, handshakeTimeout: 0 }), 'range', 'options.handshakeTimeout'],
    ["handler: 'echo'", () => new WsStreamServer({ noServer: true, handler: any('echo') }), 'type', 'options.handler'],
    ['verifyClient: true', () => new WsStreamServer({ noServer: true, verifyClient: any(true) }), 'type', 'options.verifyClient'],
    ['path: 1', () => new WsStreamServer({ noServer: true, path: any(1) }), 'type', 'options.path'],
    ["perMessageDeflate: 'on'", () => new WsStreamServer({ noServer: true, perMessageDeflate: any('on') }), 'type', 'options.perMessageDeflate'],
    ["inspect: 'x'", () => new WsStreamServer({ noServer: true, inspect: any('x') }), 'type', 'options.inspect'],
    ['stream: 1', () => new WsStreamServer({ noServer: true, stream: any(1) }), 'type', 'options.stream'],
  ])
  const server = new WsStreamServer({ noServer: true })
  t.teardown(() => server.close({ timeout: 100 }))
  await check(t, [
    ["close({ code: '1001' })", () => server.close({ code: any('1001') }), 'type', 'code'],
    ['close({ reason: 1 })', () => server.close({ reason: any(1) }), 'type', 'reason'],
    ['close({ timeout: -5 })', () => server.close({ timeout: -5 }), 'range', 'options.timeout'],
  ])
})

t.test('connect() arguments, before any socket exists', async (t) => {
  await check(t, [
    ['url: 42', () => connect(any(42)), 'type', 'url'],
    ['options: 1', () => connect('ws://127.0.0.1:1', any(1)), 'type', 'options'],
    ["timeout: 'x'", () => connect('ws://127.0.0.1:1', { timeout: any('x') }), 'type', 'options.timeout'],
    ['timeout: 0', () => connect('ws://127.0.0.1:1', { timeout: 0 }), 'range', 'options.timeout'],
    ["signal: 'x'", () => connect('ws://127.0.0.1:1', { signal: any('x') }), 'type', 'options.signal'],
    ['protocols: 1', () => connect('ws://127.0.0.1:1', { protocols: any(1) }), 'type', 'options.protocols'],
    ["maxPayload: 'big'", () => connect('ws://127.0.0.1:1', { maxPayload: any('big') }), 'type', 'options.maxPayload'],
    ['maxPayload: -1', () => connect('ws://127.0.0.1:1', { maxPayload: -1 }), 'range', 'options.maxPayload'],
  ])
  for (const url of ['not a url', 'ftp://127.0.0.1/', 'ws://127.0.0.1:1/#fragment']) {
    const error = (await failure(() => connect(url))) as TypeError & { code?: string; input?: string }
    t.ok(error instanceof TypeError, `${url}: a TypeError`)
    t.equal(error.code, 'ERR_INVALID_URL', `${url}: code ERR_INVALID_URL, as Node's new URL()`)
    t.equal(error.input, url)
    t.match(error.message, url)
  }
})

t.test('framed() checks both arguments up front; the codecs check their options', async (t) => {
  const { client } = await streamPair(t)
  const codec = linesCodec()
  const bad = (over: Partial<Codec<string>>): Codec<string> => ({ ...codec, ...over })
  await check(t, [
    ['framed(null, codec)', () => framed(any<WsStream>(null), codec), 'type', 'stream'],
    ['framed({}, codec)', () => framed(any<WsStream>({}), codec), 'type', 'stream'],
    ['framed(stream, null)', () => framed(client, any<Codec<string>>(null)), 'type', 'codec'],
    ['framed(stream, { decode })', () => framed(client, bad({ encode: any(undefined) })), 'type', 'codec.encode'],
    ["framed(stream, codec with decode: 'x')", () => framed(client, bad({ decode: any('x') })), 'type', 'codec.decode'],
    ['framed(stream, codec with maxEncodedLength 0)', () => framed(client, bad({ maxEncodedLength: 0 })), 'range', 'codec.maxEncodedLength'],
    ["framed(stream, codec with maxEncodedLength '9')", () => framed(client, bad({ maxEncodedLength: any('9') })), 'type', 'codec.maxEncodedLength'],
    ['linesCodec(1)', () => linesCodec(any(1)), 'type', 'options'],
    ["linesCodec({ maxLength: 'x' })", () => linesCodec({ maxLength: any('x') }), 'type', 'options.maxLength'],
    ['linesCodec({ maxLength: -1 })', () => linesCodec({ maxLength: -1 }), 'range', 'options.maxLength'],
    ["lengthPrefixedCodec({ maxFrameLength: '1' })", () => lengthPrefixedCodec({ maxFrameLength: any('1') }), 'type', 'options.maxFrameLength'],
    ['lengthPrefixedCodec({ maxFrameLength: 2 ** 32 })', () => lengthPrefixedCodec({ maxFrameLength: 2 ** 32 }), 'range', 'options.maxFrameLength'],
    ["lines.send(42)", () => framed(client, linesCodec()).send(any(42)), 'type', 'line'],
    ["frames.send('x')", () => framed(client, lengthPrefixedCodec()).send(any('x')), 'type', 'payload'],
  ])
})
