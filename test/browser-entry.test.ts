/**
 * The browser entry's import graph, read from the build without a browser: nothing on it imports
 * ws, node:* or another package than xstate and p-timeout, and no module on it names Buffer
 * (test/browser-chromium.test.ts then loads it in Chromium).
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('..', import.meta.url))
const entry = join(root, 'dist/src/browser.js')

t.test('the browser entry reaches no ws, no node:* and no Buffer, and the package exports it under "browser"', { skip: existsSync(entry) ? false : 'dist/src/browser.js is missing (npm run build)' }, async (t) => {
  const seen = new Set<string>()
  const bare = new Set<string>()
  const buffers: string[] = []
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop()!
    if (seen.has(file)) continue
    seen.add(file)
    const code = await readFile(file, 'utf8')
    const body = code.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
    if (/\bBuffer\s*[.(]/.test(body.replace(/globalThis\)\.Buffer|\{ Buffer\?/g, ''))) buffers.push(relative(root, file))
    for (const [, specifier] of body.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      if (specifier === undefined) continue
      if (specifier.startsWith('.')) queue.push(join(dirname(file), specifier))
      else bare.add(specifier)
    }
  }
  t.same([...bare].sort(), ['p-timeout', 'xstate'], 'the only packages imported')
  t.same(buffers, [], 'no module uses Buffer')
  t.notOk([...seen].some((file) => /\/(node|server|machine|connect|cli)\.js$|\/transport\/ws\.js$|\/adapters\/duplex\.js$/.test(file)), 'no Node-only module of ours')
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { browser?: { default?: string } }> }
  t.equal(pkg.exports['.']?.browser?.default, './dist/src/browser.js')
})
