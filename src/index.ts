/**
 * ws-stream-actor: a WebSocket as a reliable, fast byte stream, with one XState actor per connection.
 *
 * @module
 */
import './node.js' // ws sockets and toDuplex() for WsStream (the browser entry, src/browser.ts, goes without)
export { WsStream } from './stream.js'
export type { ConnectionActor, WsStreamStats, CloseOptions, ReadUntilOptions, EventsOptions, WsEventIterator } from './stream.js'
export { connectionMachine } from './machine.js'
export { standardConnectionMachine } from './standard-machine.js'
export type { StandardWebSocket } from './transport/standard.js'
export type { CloseInfo, WsEvent, State, Transport, TransportSink, ConnectionInput, ConnectionEvent } from '../machines/connection.js'
export { defaultOptions } from './options.js'
export type { WsStreamOptions, KeepAliveOptions, TextPolicy } from './options.js'
export { isSendableCloseCode } from './close-code.js'
export {
  WsStreamError,
  ConnectionClosedError,
  ConnectionResetError,
  ProtocolError,
  ReceivedTextError,
  MessageTooLargeError,
  UnexpectedEofError,
  InvalidCloseCodeError,
  HandshakeError,
  TimeoutError,
} from './errors.js'
export { WsStreamServer, serverMachine, defaultServerKeepAlive } from './server.js'
export type { WsStreamServerOptions, ServerCloseOptions, WsStreamServerEvents, ServerActor } from './server.js'
export { canAccept, countConnections, defaultDrain } from '../machines/server.js'
export type { DrainReport, DrainOptions, ConnectionCounts, ServerEvent, ServerInput, ServerContext, ServerSnapshot } from '../machines/server.js'
export { connect } from './connect.js'
export type { ConnectOptions } from './connect.js'
export { framed } from './codecs/framed.js'
export type { Framed } from './codecs/framed.js'
export type { Codec, Decoded } from './codecs/codec.js'
export { linesCodec } from './codecs/lines.js'
export type { LinesCodecOptions } from './codecs/lines.js'
export { lengthPrefixedCodec } from './codecs/length-prefixed.js'
export type { LengthPrefixedCodecOptions } from './codecs/length-prefixed.js'
export type { DuplexOptions, WsDuplex } from './adapters/duplex.js'
export { isCloseRequest } from './adapters/web.js'
export type { CloseRequest } from './adapters/web.js'
