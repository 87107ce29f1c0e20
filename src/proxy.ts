/**
 * HTTP proxies for {@link connect}: the `proxy` option's validation, the agent that tunnels
 * through HTTP CONNECT, and {@link proxyFromEnv}, curl's reading of `HTTPS_PROXY`/`HTTP_PROXY`/
 * `NO_PROXY` for callers that want it (the `ws-stream` command does; `connect()` alone does not).
 *
 * @module
 */
import { BlockList, isIP } from 'node:net'
import type { Agent } from 'node:http'
import { HttpsProxyAgent } from 'https-proxy-agent'

/**
 * Checks a proxy URL (`http://[user:pass@]host:port` or `https://…`; without a scheme, `http://`
 * as curl assumes) and returns it parsed. Throws a `TypeError` with code `ERR_INVALID_ARG_VALUE` that names `name` and quotes the value.
 */
export function parseProxyUrl(proxy: string | URL, name = 'proxy'): URL {
  let url: URL | undefined
  try {
    url = new URL(typeof proxy === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(proxy.trim()) ? `http://${proxy.trim()}` : proxy)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    const error = new TypeError(`${name} must be an http:// or https:// proxy URL with a host (http://[user:pass@]host:port), got '${String(proxy)}'`)
    Object.assign(error, { code: 'ERR_INVALID_ARG_VALUE' })
    throw error
  }
  return url
}

/**
 * The agent that opens each connection as an HTTP CONNECT tunnel through `proxy` (basic auth from
 * its user and password), then speaks TLS inside it for `wss:`.
 */
export function proxyAgent(proxy: string | URL): Agent {
  // https-proxy-agent: CONNECT for both ws: and wss: targets (http-proxy-agent would send ws:
  // upgrades as absolute-URI requests, which many proxies do not pass through).
  return new HttpsProxyAgent(parseProxyUrl(proxy))
}

/**
 * The proxy curl would use for `url`, read from `env`: `https_proxy`/`HTTPS_PROXY` for `wss:`,
 * `http_proxy`/`HTTP_PROXY` for `ws:` (lower case first), none for `ws+unix:`, and none when
 * `no_proxy`/`NO_PROXY` lists the host: `*`, the host itself, a domain it is in (`example.com` and
 * `.example.com` both match `a.example.com`), an IP address or a CIDR range. A value without a
 * scheme means `http://`. Returns undefined for no proxy.
 *
 * Pass the result to `connect(url, { proxy })`; connect() never reads the environment itself.
 */
export function proxyFromEnv(url: string | URL, env: Record<string, string | undefined> = process.env): string | undefined {
  const target = new URL(url)
  const names = target.protocol === 'wss:' ? ['https_proxy', 'HTTPS_PROXY'] : target.protocol === 'ws:' ? ['http_proxy', 'HTTP_PROXY'] : []
  const name = names.find((n) => env[n]?.trim())
  if (name === undefined) return undefined
  const noProxy = env.no_proxy?.trim() ? env.no_proxy : env.NO_PROXY
  if (noProxy !== undefined && bypasses(target.hostname, noProxy)) return undefined
  return parseProxyUrl(env[name]!, name).href
}

/** Whether NO_PROXY's comma- or space-separated list `list` exempts `hostname`. */
function bypasses(hostname: string, list: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const family = isIP(host)
  for (const raw of list.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase().replace(/^\[|\]$/g, '')
    if (entry === '') continue
    if (entry === '*') return true
    if (family !== 0) {
      const [address, bits] = entry.split('/')
      const entryFamily = isIP(address ?? '')
      if (entryFamily !== family) continue
      if (bits === undefined) {
        if (address === host) return true
        continue
      }
      const type = family === 4 ? 'ipv4' : 'ipv6'
      const range = new BlockList()
      const prefix = Number(bits)
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) continue
      range.addSubnet(address!, prefix, type)
      if (range.check(host, type)) return true
      continue
    }
    const domain = entry.replace(/^\*?\./, '')
    if (host === domain || host.endsWith(`.${domain}`)) return true
  }
  return false
}
