/**
 * ws-stream-actor: a WebSocket as a reliable, fast byte stream, with one XState actor per connection.
 *
 * The public surface, nothing else: what the docs name, what an embedding machine or a custom
 * transport needs, and the types those refer to. The browser entry (src/browser.ts) exports the
 * same names where they apply; test/public-surface.test.ts lists both.
 *
 * @module
 */
import './node.js' // ws sockets and toDuplex() for WsStream (the browser entry, src/browser.ts, goes without)

// The stream
export { WsStream } from './stream.js'
export type { ConnectionActor, WsStreamStats, CloseOptions, ReadUntilOptions, EventsOptions, WsEventIterator, EventHandler } from './stream.js'
export type { CloseInfo, WsEvent, State } from '../machines/connection.js'
export { defaultOptions, defaultKeepAliveTimeout } from './options.js'
export type { WsStreamOptions, KeepAliveOptions, TextPolicy, PeerClosePolicy, ResolvedOptions } from './options.js'
export { isSendableCloseCode } from './close-code.js'
export { isStandardCloseCode } from './transport/standard.js'
export type { StandardWebSocket, StandardListener } from './transport/standard.js'
export * from './errors.js'
export { connect } from './connect.js'
export { proxyFromEnv } from './proxy.js'
export type { ConnectOptions } from './connect.js'
export { resumeProtocol, defaultResumeOptions } from './transport/resume.js'
export type { ResumeOptions } from './transport/resume.js'
export type { ResumeRefusal } from './resume.js'

// The machines, for embedding and custom transports
export { connectionMachine } from './machine.js'
export { standardConnectionMachine } from './standard-machine.js'
export { pureConnectionMachine } from '../machines/connection.js'
export { transportAttacher } from './transport/wiring.js'
export type { ConnectionInput, ConnectionEvent, ConnectionContext, Transport, TransportSink, ResumeControl } from '../machines/connection.js'
export type { SendFunction } from './write-queue.js'

// The server
export { WsStreamServer, serverMachine, defaultServerKeepAlive } from './server.js'
export type { WsStreamServerOptions, ServerCloseOptions, WsStreamServerEvents, ServerActor, ConnectionHandler, ConnectionErrorInfo } from './server.js'
export { canAccept, countConnections, defaultDrain } from '../machines/server.js'
export { createMetrics } from './metrics.js'
export type { MetricsOptions, WsStreamMetrics, ConnectionInfo } from './metrics.js'
export { adminHandler, createAdminHandler, readinessOf, serverAdminSource } from './admin.js'
export type { AdminOptions, AdminHandler, AdminRoute, AdminSource, Readiness } from './admin.js'
export { createDashboard } from './dashboard.js'
export type { Dashboard, DashboardOptions, DashboardRow, DashboardViewer } from './dashboard.js'
export type { DrainReport, DrainOptions, ConnectionCounts, ConnectionRef, ServerEvent, ServerInput, ServerContext, ServerSnapshot } from '../machines/server.js'

// Adapters and codecs
export type { DuplexOptions, WsDuplex } from './adapters/duplex.js'
export { isCloseRequest } from './adapters/web.js'
export type { CloseRequest } from './adapters/web.js'
export { framed } from './codecs/framed.js'
export type { Framed } from './codecs/framed.js'
export type { Codec, Decoded } from './codecs/codec.js'
export { linesCodec } from './codecs/lines.js'
export type { LinesCodecOptions } from './codecs/lines.js'
export { lengthPrefixedCodec } from './codecs/length-prefixed.js'
export type { LengthPrefixedCodecOptions } from './codecs/length-prefixed.js'
