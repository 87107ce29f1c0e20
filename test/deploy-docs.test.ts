/**
 * docs/deploy.md shows the proxy configurations the load-balancer tests run, byte for byte, and
 * names every metric the server exports.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { createMetrics, WsStreamServer } from '../src/index.js'

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8')

t.test('docs/deploy.md embeds docs/deploy/haproxy.cfg and nginx.conf unchanged', async (t) => {
  const doc = read('docs/deploy.md')
  t.ok(doc.includes('```haproxy\n' + read('docs/deploy/haproxy.cfg') + '```'), 'haproxy.cfg')
  t.ok(doc.includes('```nginx\n' + read('docs/deploy/nginx.conf') + '```'), 'nginx.conf')
})

t.test('docs/deploy.md names every metric the server exports', async (t) => {
  const doc = read('docs/deploy.md')
  const server = new WsStreamServer({ noServer: true })
  t.teardown(() => server.close({ timeout: 0 }))
  for (const { name } of await createMetrics(server).registry.getMetricsAsJSON()) t.ok(doc.includes(`\`${name}`), name)
})
