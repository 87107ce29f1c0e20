/**
 * A standard-WebSocket stand-in for Node 20 (which has no global WebSocket): ws's own WebSocket
 * seen only through the members of the standard API, with two browser rules added — close() takes
 * only 1000 or 3000–4999, and messages arriving after close() are dropped (as the HTML spec says).
 * It has no `on` or `terminate`, so `new WsStream(socket)` takes it for a standard WebSocket.
 */
import { WebSocket } from 'ws'
import type { StandardWebSocket } from '../../src/index.js'

type Listener = (event: any) => void // eslint-disable-line @typescript-eslint/no-explicit-any

/** The standard API over a ws WebSocket. */
export class StandardOnly implements StandardWebSocket {
  readonly #ws: WebSocket
  readonly #wrapped = new Map<Listener, Listener>()

  constructor(urlOrSocket: string | URL | WebSocket, protocols?: string | string[]) {
    this.#ws = urlOrSocket instanceof WebSocket ? urlOrSocket : new WebSocket(urlOrSocket, protocols)
  }

  /** The ws socket underneath (for teardown only). */
  get raw(): WebSocket {
    return this.#ws
  }

  get readyState(): number {
    return this.#ws.readyState
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount
  }

  get binaryType(): string {
    return this.#ws.binaryType
  }

  set binaryType(type: string) {
    this.#ws.binaryType = type as WebSocket['binaryType']
  }

  send(data: Uint8Array): void {
    this.#ws.send(data)
  }

  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new DOMException(`The close code must be either 1000, or between 3000 and 4999. ${code} is neither.`, 'InvalidAccessError')
    }
    this.#ws.close(code, reason)
  }

  addEventListener(type: string, listener: Listener): void {
    let wrapped = listener
    if (type === 'message') {
      const ws = this.#ws
      wrapped = ((event: unknown) => {
        if (ws.readyState === WebSocket.OPEN) listener(event)
      }) as Listener
      this.#wrapped.set(listener, wrapped)
    }
    this.#ws.addEventListener(type as 'message', wrapped as () => void)
  }

  removeEventListener(type: string, listener: Listener): void {
    const wrapped = this.#wrapped.get(listener) ?? listener
    this.#wrapped.delete(listener)
    this.#ws.removeEventListener(type as 'message', wrapped as () => void)
  }
}
