/**
 * The documentation: the typedoc site builds with no warnings (typedoc.json treats them as
 * errors) and has pages for the public classes only, every ERR_WS_* code the code raises is in
 * docs/errors.md, and every relative link of the README and the guides points to a file that exists.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)

async function filesUnder(dir: string, ext: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile() && e.name.endsWith(ext)).map((e) => join(e.parentPath, e.name))
}

t.test('npm run docs builds the typedoc site without a warning', async (t) => {
  const out = t.testdir({})
  const result = await run(process.execPath, ['node_modules/typedoc/bin/typedoc', '--out', out], { timeout: 110_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }),
  )
  t.equal(result.code, 0, result.output)
  // Match typedoc's level tags, not words: the output path names this test ("…without a warning").
  t.notMatch(result.output, /\[(warning|error)\]/i, 'no warnings')
  t.ok(existsSync(join(out, 'index.html')), 'the site was written')
  // The classes documented are the public ones, no internal class among them.
  const api = await import('ws-stream-actor') as Record<string, unknown>
  const publicClasses = Object.keys(api).filter((name) => String(api[name]).startsWith('class ')).sort()
  const documented = (await readdir(join(out, 'classes'))).map((file) => file.replace(/\.html$/, '')).sort()
  t.same(documented, publicClasses, 'a page for each public class, and for no other')
})

t.test('docs/errors.md documents every ERR_WS_* code raised in src/ and machines/', async (t) => {
  const codes = new Set<string>()
  for (const file of [...await filesUnder('src', '.ts'), ...await filesUnder('machines', '.ts')]) {
    for (const [code] of (await readFile(file, 'utf8')).matchAll(/ERR_WS_[A-Z_]+/g)) codes.add(code)
  }
  t.ok(codes.size >= 10, `found ${codes.size} codes`)
  const doc = await readFile('docs/errors.md', 'utf8')
  for (const code of [...codes].sort()) t.ok(doc.includes(`### \`${code}\``), `${code} has a section`)
})

t.test('every relative link in README.md and docs/*.md points to an existing file', async (t) => {
  const pages = ['README.md', ...(await filesUnder('docs', '.md')).filter((f) => !f.startsWith(join('docs', 'api')))]
  for (const page of pages) {
    const text = await readFile(page, 'utf8')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!) || target!.startsWith('#')) continue
      const file = join(dirname(page), target!.split('#')[0]!)
      t.ok(existsSync(file), `${page} → ${target}`)
    }
  }
})

t.test('the README links every guide under docs/', async (t) => {
  const readme = await readFile('README.md', 'utf8')
  for (const guide of ['architecture', 'getting-started', 'close-handshake', 'backpressure', 'errors', 'events', 'embedding-and-inspection', 'migrating', 'machines']) {
    t.ok(readme.includes(`(docs/${guide}.md)`), guide)
  }
})
