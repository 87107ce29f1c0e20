/**
 * ws-stream-actor for browsers (and any runtime with a standard `WebSocket` and no ws): the
 * package's `browser` export. The same WsStream, machines, errors, codecs and web-stream adapters
 * as the Node entry, over the standard WebSocket; no server, no Node Duplex, and nothing on its
 * import path touches `ws`, `node:*` or `Buffer`. See docs/browser.md for what differs from Node.
 *
 * The names are the Node entry's (src/index.ts) where they apply; test/public-surface.test.ts
 * lists both.
 *
 * @module
 */

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
export { connect } from './connect-standard.js'
export type { StandardConnectOptions as ConnectOptions, StandardWebSocketConstructor } from './connect-standard.js'

// The machines, for embedding and custom transports
export { standardConnectionMachine, standardConnectionMachine as connectionMachine } from './standard-machine.js'
export { pureConnectionMachine } from '../machines/connection.js'
export { transportAttacher } from './transport/wiring.js'
export type { ConnectionInput, ConnectionEvent, ConnectionContext, Transport, TransportSink, ResumeControl } from '../machines/connection.js'
export type { SendFunction } from './write-queue.js'

// Adapters and codecs
export { isCloseRequest } from './adapters/web.js'
export type { CloseRequest } from './adapters/web.js'
export { framed } from './codecs/framed.js'
export type { Framed } from './codecs/framed.js'
export type { Codec, Decoded } from './codecs/codec.js'
export { linesCodec } from './codecs/lines.js'
export type { LinesCodecOptions } from './codecs/lines.js'
export { lengthPrefixedCodec } from './codecs/length-prefixed.js'
export type { LengthPrefixedCodecOptions } from './codecs/length-prefixed.js'
