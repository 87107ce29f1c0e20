/**
 * A TCP proxy on 127.0.0.1 that forwards to a target and can cut every connection through it at
 * once, both legs, with a TCP reset: the network failure a resumable stream must survive.
 */
import { once } from 'node:events'
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net'

export interface CutProxy {
  /** `ws://127.0.0.1:PORT` of the proxy. */
  readonly url: string
  readonly port: number
  /** Connections made through the proxy so far. */
  readonly accepted: number
  /** Cuts made so far that found at least one connection to cut. */
  readonly cuts: number
  /** Connections through the proxy right now. */
  readonly live: number
  /** Resets both legs of every live connection; returns how many it cut. */
  cut(): number
  /** While true, new connections are reset as soon as they arrive (a network that is down). */
  down: boolean
  /** While true, new connections are accepted and held, nothing forwarded, until `release()` or `cut()`. */
  hold: boolean
  /** Forwards the held connections (or resets them while `down`); returns how many. */
  release(): number
  /**
   * Stops forwarding on every live connection, both ways, without closing it: a network that
   * silently drops everything (keep-alive notices it, TCP does not). `cut()` still resets them.
   */
  stall(): number
  close(): Promise<void>
}

/** Starts a proxy to `127.0.0.1:targetPort`. */
export async function cutProxy(targetPort: number): Promise<CutProxy> {
  const pairs = new Set<[Socket, Socket]>()
  const held = new Set<Socket>()
  let accepted = 0
  let cuts = 0
  const server = createServer((client) => {
    accepted++
    if (proxy.down) {
      client.resetAndDestroy()
      return
    }
    if (proxy.hold) {
      held.add(client)
      client.pause()
      client.on('error', () => client.destroy())
      client.on('close', () => held.delete(client))
      return
    }
    forward(client)
  })
  const forward = (client: Socket): void => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort })
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    client.pipe(upstream)
    upstream.pipe(client)
    const end = (): void => {
      if (!pairs.delete(pair)) return
      client.destroy()
      upstream.destroy()
    }
    for (const s of pair) {
      s.on('error', end)
      s.on('close', end)
    }
  }
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const proxy: CutProxy = {
    url: `ws://127.0.0.1:${port}`,
    port,
    get accepted() {
      return accepted
    },
    get cuts() {
      return cuts
    },
    get live() {
      return pairs.size
    },
    down: false,
    hold: false,
    cut() {
      const n = pairs.size + held.size
      for (const pair of [...pairs]) {
        pairs.delete(pair)
        for (const s of pair) s.resetAndDestroy()
      }
      for (const client of [...held]) {
        held.delete(client)
        client.resetAndDestroy()
      }
      if (n > 0) cuts++
      return n
    },
    release() {
      const n = held.size
      for (const client of [...held]) {
        held.delete(client)
        if (proxy.down) client.resetAndDestroy()
        else {
          client.removeAllListeners('error')
          client.removeAllListeners('close')
          forward(client)
          client.resume()
        }
      }
      return n
    },
    stall() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
      return pairs.size
    },
    async close() {
      proxy.cut()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return proxy
}
