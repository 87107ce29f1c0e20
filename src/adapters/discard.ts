/**
 * Closing a stream whose reader has gone away.
 *
 * After our Close the peer may keep sending until its own Close, and that Close is only seen
 * once the bytes before it are read. A consumer that stopped reading (a destroyed Duplex, a
 * cancelled ReadableStream, a codec that gave up) would leave the handshake to time out, unclean.
 * So those paths close and then read and drop what is left: the handshake ends cleanly and
 * memory stays bounded by the stream's high-water mark.
 *
 * @module
 */
import type { CloseInfo } from '../../machines/connection.js'
import type { WsStream } from '../stream.js'

/**
 * Sends our Close (`code`, `reason`; when no code is given, 1000, or after the peer's Close an echo
 * of it) and discards incoming bytes until the end of the stream.
 * Resolves with how the connection ended; rejects only for an invalid code or reason
 * (`InvalidCloseCodeError`), and then nothing is closed or dropped.
 *
 * @param stream The stream to close.
 * @param code The close code.
 * @param reason The close reason.
 * @param pendingRead A read still in flight on `stream`, awaited before discarding starts so that
 *   no byte is taken out from under it.
 */
export async function closeAndDiscard(
  stream: WsStream,
  code?: number,
  reason?: string,
  pendingRead?: Promise<unknown>,
): Promise<CloseInfo> {
  const closing = stream.close(code, reason)
  // close() validates the code (its own rules and the transport's) before it awaits anything, so a
  // refusal has settled the promise already: let it reach the caller before anything is dropped.
  await Promise.race([closing, undefined])
  void discard(stream, pendingRead)
  return closing
}

async function discard(stream: WsStream, pendingRead: Promise<unknown> | undefined): Promise<void> {
  await pendingRead?.catch(() => {})
  try {
    while ((await stream.read()) !== null);
  } catch {
    // A reset after close: the end of input all the same; `closed` says how it ended.
  }
}
