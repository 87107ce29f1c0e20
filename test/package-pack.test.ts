/**
 * The package as users receive it: what `npm pack` ships, publint and arethetypeswrong on it, and
 * the packed tarball installed into a scratch project, imported from ESM and from CommonJS
 * (`require()` of an ES module works unflagged from Node 20.19), type-checked, and its bin run.
 * `npm test` builds first, so dist/ is current; packing here skips the prepack build.
 */
import { execFile, type ExecFileOptions } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join, normalize } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'

const execFileAsync = promisify(execFile)
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

async function run(file: string, args: string[], options: ExecFileOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return execFileAsync(file, args, { timeout: 110_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', ...options }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout: String(stdout), stderr: String(stderr) }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  )
}

/** The files `npm pack` would ship. */
async function packedFiles(t: Test): Promise<string[]> {
  const { code, stdout, stderr } = await run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'])
  t.equal(code, 0, stderr)
  return JSON.parse(stdout)[0].files.map((f: { path: string }) => f.path)
}

t.test('npm pack ships the built code, its sources for the maps, the guides and examples, the README and LICENSE, and nothing else', async (t) => {
  const files = await packedFiles(t)
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli.js', 'dist/machines/connection.js', 'machines/connection.json', 'docs/errors.md', 'examples/echo-server.js']) {
    t.ok(files.includes(needed), `ships ${needed}`)
  }
  // docs/ (guides and the dashboard's picture), examples/ and CONTRIBUTING.md ship so that the
  // README's links work in node_modules and on the registry.
  const stray = files.filter((f) => !/^(dist\/(src|machines)\/|src\/|machines\/|docs\/[^/]+\.(md|png)$|examples\/[^/]+\.js$|package\.json$|README\.md$|CONTRIBUTING\.md$|LICENSE$)/.test(f))
  t.same(stray, [], 'no test/, bench/, docs/api/, scripts/, .notes/ or anything else')
  // Sources are shipped on purpose: the .js.map and .d.ts.map files point at them.
  const sources = files.filter((f) => /^(src|machines)\/.*\.ts$/.test(f))
  t.ok(sources.length > 10)
  for (const source of sources) {
    const built = `dist/${source.replace(/\.ts$/, '')}`
    t.ok(files.includes(`${built}.js.map`) && files.includes(`${built}.d.ts.map`), `${source} has its maps`)
  }
  // And every built file has its source: nothing stale from a deleted module.
  for (const built of files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
    t.ok(files.includes(built.replace(/^dist\//, '').replace(/\.js$/, '.ts')), `${built} comes from a shipped source`)
  }
})

t.test('publint finds nothing to fix (--strict: warnings fail too)', async (t) => {
  // No prepack build while other test files load dist/ (npm test built it already).
  const result = await run(process.execPath, ['node_modules/publint/src/cli.js', '--strict', '--pack', 'npm'], {
    env: { ...process.env, npm_config_ignore_scripts: 'true' },
  })
  t.equal(result.code, 0, result.stdout + result.stderr)
  t.notMatch(result.stdout, /Errors:|Warnings:/)
})

t.test('arethetypeswrong: the types resolve for ESM under node16 and bundlers (profile esm-only)', async (t) => {
  const result = await run(process.execPath, ['node_modules/@arethetypeswrong/cli/dist/index.js', '--pack', '.', '--profile', 'esm-only', '--format', 'json'], {
    env: { ...process.env, npm_config_ignore_scripts: 'true' },
  })
  t.equal(result.code, 0, result.code === 0 ? 'attw exits 0' : (result.stdout + result.stderr).slice(0, 4000))
  const report = JSON.parse(result.stdout)
  const problems = (report.analysis?.problems ?? []).filter((p: { resolutionKind?: string }) => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs')
  t.same(problems, [], 'no problem in node16-esm or bundler resolution')
})

t.test('the packed tarball installs into a scratch project and works from ESM, CommonJS, TypeScript and its bin', async (t) => {
  const dir = t.testdir({
    'package.json': JSON.stringify({ name: 'scratch', private: true, type: 'module' }),
    'esm.mjs': `
      import { connect, WsStreamServer } from 'ws-stream-actor'
      const server = new WsStreamServer({ host: '127.0.0.1', port: 0 })
      await server.listening
      server.on('connection', async (s) => { for await (const c of s) await s.write(c) })
      const stream = await connect('ws://127.0.0.1:' + server.address().port, { timeout: 5000 })
      await stream.write('ping over the installed package')
      const back = await stream.readExactly(31)
      const info = await stream.close(1000)
      await server.close({ timeout: 1000 })
      console.log(new TextDecoder().decode(back), info.wasClean)`,
    'cjs.cjs': `
      const api = require('ws-stream-actor')
      console.log(['WsStream', 'connect', 'WsStreamServer', 'connectionMachine', 'WsStreamError'].every((n) => api[n] !== undefined))`,
    'types.mts': `
      import { connect, type CloseInfo, type WsEvent } from 'ws-stream-actor'
      const stream = await connect('ws://127.0.0.1:1', { timeout: 1000, stream: { text: 'bytes' } })
      stream.on('closeFrame', (event) => { const code: number = event.code; void code })
      const info: CloseInfo = await stream.close(1000, 'bye', { timeout: 100 })
      const events: WsEvent[] = []
      void info; void events
      // @ts-expect-error a number is not bytes
      await stream.write(42)`,
  })
  const pack = await run(npm, ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'])
  t.equal(pack.code, 0, pack.stderr)
  const tarball = join(dir, JSON.parse(pack.stdout)[0].filename as string)
  // Dependencies come from npm's cache (filled by `npm ci`), the registry only if missing.
  const install = await run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: dir })
  t.equal(install.code, 0, install.stderr)

  const esm = await run(process.execPath, ['esm.mjs'], { cwd: dir, timeout: 30_000 })
  t.equal(esm.stdout.trim(), 'ping over the installed package true', esm.stderr)

  const cjs = await run(process.execPath, ['cjs.cjs'], { cwd: dir, timeout: 30_000 })
  t.equal(cjs.stdout.trim(), 'true', `require() of the ES module (Node ${process.version}): ${cjs.stderr}`)

  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'], typeRoots: [join(process.cwd(), 'node_modules/@types'), 'node_modules/@types'] },
    files: ['types.mts'],
  }))
  const tsc = await run(process.execPath, [join(process.cwd(), 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir })
  t.equal(tsc.code, 0, `a consumer type-checks against the shipped .d.ts (with @types/ws from our dependencies): ${tsc.stdout}`)

  const bin = join(dir, 'node_modules/.bin/ws-stream')
  t.ok(existsSync(bin), 'npm linked the ws-stream bin')
  const help = await run(bin, ['--help'], { cwd: dir })
  t.equal(help.code, 0)
  t.match(help.stdout, /ws-stream connect <url>/)
})

t.test('every link in the packed README and guides resolves inside the package, or is absolute', async (t) => {
  const files = await packedFiles(t)
  const shipped = new Set(files)
  const pkg = JSON.parse(await readFile('package.json', 'utf8'))
  t.match(pkg.repository?.url, /^git\+https:\/\/github\.com\//, 'repository, for the registry to resolve relative links')
  t.match(pkg.homepage, /^https:\/\//)
  t.match(pkg.bugs?.url, /^https:\/\//)
  const markdown = files.filter((f) => f.endsWith('.md'))
  t.ok(markdown.includes('README.md') && markdown.length > 5)
  let checked = 0
  for (const file of markdown) {
    const text = (await readFile(file, 'utf8')).replace(/```[\s\S]*?```/g, '') // code is not links
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][a-z+.-]*:/i.test(target!)) continue // absolute: https:, mailto:
      if (target!.startsWith('#')) continue // within the page
      const path = normalize(join(dirname(file), target!.split('#')[0]!))
      t.ok(shipped.has(path), `${file}: ${target} is in the package (${path})`)
      checked++
    }
  }
  t.ok(checked > 30, `${checked} relative links followed`)
})
