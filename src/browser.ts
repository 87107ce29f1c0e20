/**
 * ws-stream-actor for browsers (and any runtime with a standard `WebSocket` and no ws): the
 * package's `browser` export. The same WsStream, machines, errors, codecs and web-stream adapters
 * as the Node entry, over the standard WebSocket; no server, no Node Duplex, and nothing on its
 * import path touches `ws`, `node:*` or `Buffer`. See docs/browser.md for what differs from Node.
 *
 * @module
 */
export { WsStream } from './stream.js'
export type { ConnectionActor, WsStreamStats, CloseOptions, ReadUntilOptions, EventsOptions, WsEventIterator } from './stream.js'
export { standardConnectionMachine, standardConnectionMachine as connectionMachine } from './standard-machine.js'
export { connectionMachine as pureConnectionMachine, transportAttacher } from '../machines/connection.js'
export type { CloseInfo, WsEvent, State, Transport, TransportSink, ConnectionInput, ConnectionEvent } from '../machines/connection.js'
export type { StandardWebSocket } from './transport/standard.js'
export { isStandardCloseCode } from './transport/standard.js'
export { connect } from './connect-standard.js'
export type { StandardConnectOptions as ConnectOptions, StandardWebSocketConstructor } from './connect-standard.js'
export { defaultOptions, defaultKeepAliveTimeout } from './options.js'
export type { WsStreamOptions, KeepAliveOptions, TextPolicy } from './options.js'
export { isSendableCloseCode } from './close-code.js'
export * from './errors.js'
export { framed } from './codecs/framed.js'
export type { Framed } from './codecs/framed.js'
export type { Codec, Decoded } from './codecs/codec.js'
export { linesCodec } from './codecs/lines.js'
export type { LinesCodecOptions } from './codecs/lines.js'
export { lengthPrefixedCodec } from './codecs/length-prefixed.js'
export type { LengthPrefixedCodecOptions } from './codecs/length-prefixed.js'
export { isCloseRequest } from './adapters/web.js'
export type { CloseRequest } from './adapters/web.js'
