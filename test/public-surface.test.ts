/**
 * The public surface, as published: the runtime names of both entries (from the build, the Node
 * one through the package's own name) and the type names of their .d.ts files, against the lists
 * below. A name that appears or vanishes fails here until the list (and the docs) say so; the
 * entries export the same names except where a name applies to one platform only.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const root = fileURLToPath(new URL('..', import.meta.url))
const built = existsSync(`${root}dist/src/index.d.ts`) && existsSync(`${root}dist/src/browser.d.ts`)

/** Values of both entries. */
const sharedValues = [
  'AbortedError', 'ConcurrentReadError', 'SocketClosedError', 'UnsupportedError', 'UnsupportedSocketError',
  'ConnectionClosedError', 'ConnectionResetError', 'HandshakeError', 'InvalidCloseCodeError', 'MessageTooLargeError',
  'ProtocolError', 'ReceivedTextError', 'ResumeRefusedError', 'TimeoutError', 'UnexpectedEofError', 'WsStream', 'WsStreamError',
  'connect', 'connectionMachine', 'defaultKeepAliveTimeout', 'defaultOptions', 'framed', 'isCloseRequest', 'isSendableCloseCode',
  'isStandardCloseCode', 'lengthPrefixedCodec', 'linesCodec', 'pureConnectionMachine', 'standardConnectionMachine',
  'transportAttacher',
]
/** Values of the Node entry only: the server runs on Node. */
const nodeValues = [
  'WsStreamServer', 'adminHandler', 'canAccept', 'countConnections', 'createAdminHandler', 'createDashboard', 'createMetrics', 'defaultDrain',
  'defaultServerKeepAlive', 'proxyFromEnv', 'readinessOf', 'serverAdminSource', 'serverMachine',
  // Resumable streams need ws on both ends: the browser's connect() cannot resume.
  'defaultResumeOptions', 'resumeProtocol',
]

/** Types (no value) of both entries. */
const sharedTypes = [
  'CloseInfo', 'CloseOptions', 'CloseRequest', 'Codec', 'ConnectOptions', 'ConnectionActor', 'ConnectionContext',
  'ConnectionEvent', 'ConnectionInput', 'Decoded', 'EventHandler', 'EventsOptions', 'Framed', 'KeepAliveOptions',
  'LengthPrefixedCodecOptions', 'LinesCodecOptions', 'ReadUntilOptions', 'ResolvedOptions', 'SendFunction',
  'StandardListener', 'StandardWebSocket', 'PeerClosePolicy', 'ResumeControl', 'State', 'TextPolicy', 'Transport', 'TransportSink', 'WsEvent',
  'WsEventIterator', 'WsStreamErrorCode', 'WsStreamOptions', 'WsStreamStats',
]
/** Types of the Node entry only: the server's, and the Node Duplex's. */
const nodeTypes = [
  'AdminHandler', 'AdminOptions', 'AdminRoute', 'AdminSource', 'ConnectionInfo', 'Dashboard', 'DashboardOptions', 'DashboardRow', 'DashboardViewer', 'MetricsOptions', 'Readiness', 'WsStreamMetrics',
  'ConnectionCounts', 'ConnectionErrorInfo', 'ConnectionHandler', 'ConnectionRef', 'DrainOptions', 'DrainReport', 'DuplexOptions', 'ServerActor', 'ServerCloseOptions',
  'ServerContext', 'ServerEvent', 'ServerInput', 'ServerSnapshot', 'WsDuplex', 'WsStreamServerEvents', 'WsStreamServerOptions',
  'ResumeOptions', 'ResumeRefusal',
]
/** Types of the browser entry only: its connect() takes the WebSocket constructor to use. */
const browserTypes = ['StandardWebSocketConstructor']

const sorted = (names: Iterable<string>): string[] => [...names].sort()

/** The names a .d.ts entry exports, as a TypeScript user of the package sees them. */
function declaredNames(file: string): string[] {
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    noEmit: true,
  })
  const checker = program.getTypeChecker()
  const module = checker.getSymbolAtLocation(program.getSourceFile(file)!)!
  return checker.getExportsOfModule(module).map((symbol) => symbol.name)
}

t.test('the Node entry exports exactly the listed values and types', { skip: built ? false : 'dist/ is missing (npm run build)' }, async (t) => {
  const api = await import('ws-stream-actor')
  const values = sorted(Object.keys(api))
  t.same(values, sorted([...sharedValues, ...nodeValues]), 'runtime names')
  const types = declaredNames(`${root}dist/src/index.d.ts`).filter((name) => !values.includes(name))
  t.same(sorted(types), sorted([...sharedTypes, ...nodeTypes]), 'type names')
})

t.test('the browser entry exports exactly the listed values and types', { skip: built ? false : 'dist/ is missing (npm run build)' }, async (t) => {
  const api = await import(`${root}dist/src/browser.js`) as Record<string, unknown>
  const values = sorted(Object.keys(api))
  t.same(values, sorted(sharedValues), 'runtime names')
  const types = declaredNames(`${root}dist/src/browser.d.ts`).filter((name) => !values.includes(name))
  t.same(sorted(types), sorted([...sharedTypes, ...browserTypes]), 'type names')
})

t.test('plain Node ESM imports the package by name through its exports map', async (t) => {
  const script = `
    import * as api from 'ws-stream-actor'
    const names = ['WsStream', 'connect', 'WsStreamServer', 'connectionMachine', 'serverMachine', 'WsStreamError',
      'ConnectionClosedError', 'ConnectionResetError', 'ProtocolError', 'ReceivedTextError', 'MessageTooLargeError',
      'UnexpectedEofError', 'InvalidCloseCodeError', 'HandshakeError', 'TimeoutError',
      'framed', 'linesCodec', 'lengthPrefixedCodec']
    console.log(JSON.stringify(names.filter((n) => api[n] === undefined)))`
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 })
  t.same(JSON.parse(stdout), [], 'every contract name is exported')
})
