/**
 * `node bench/profile-summary.mjs FILE.cpuprofile [--top=N] [--filter=REGEX] [--callers=REGEX] [--under=REGEX]`
 *
 * Prints the functions with the most self time in a V8 CPU profile (from `node --cpu-prof`), and
 * the total time spent under ("inclusive") those that match `--filter`.
 *
 * @module
 */
import { readFileSync } from 'node:fs'

const [file, ...rest] = process.argv.slice(2)
if (!file) {
  console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top=N] [--filter=REGEX]')
  process.exit(2)
}
const option = (name) => rest.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const top = Number(option('top') ?? 30)
const filter = option('filter') ? new RegExp(option('filter')) : undefined

const profile = JSON.parse(readFileSync(file, 'utf8'))
const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

// Self time per node from the sample intervals.
const self = new Map()
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const total = [...self.values()].reduce((a, b) => a + b, 0)

const label = (n) => {
  const { functionName, url, lineNumber } = n.callFrame
  const where = url ? `${url.replace(/^.*\/(node_modules\/)?/, (m, nm) => (nm ? 'node_modules/' : ''))}:${lineNumber + 1}` : ''
  return `${functionName || '(anonymous)'} ${where}`.trim()
}

const bySelf = new Map()
for (const [id, time] of self) {
  const key = label(nodes.get(id))
  bySelf.set(key, (bySelf.get(key) ?? 0) + time)
}
const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)}%`
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`)
console.log('\nself time')
for (const [key, time] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(time)}  ${key}`)

if (filter) {
  // Inclusive time: a sample counts once for each distinct matching label on its stack.
  const inclusive = new Map()
  for (const [id, time] of self) {
    const seen = new Set()
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const key = label(nodes.get(at))
      if (filter.test(key) && !seen.has(key)) {
        seen.add(key)
        inclusive.set(key, (inclusive.get(key) ?? 0) + time)
      }
    }
  }
  console.log(`\ninclusive time of functions matching ${filter}`)
  for (const [key, time] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(time)}  ${key}`)
}

const callers = option('callers') ? new RegExp(option('callers')) : undefined
if (callers) {
  // Where the time of matching functions comes from: their callers, four frames up.
  const paths = new Map()
  for (const [id, time] of self) {
    const chain = []
    let matched = false
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const key = label(nodes.get(at))
      if (!matched && callers.test(key)) matched = true
      if (matched) chain.push(key)
      if (chain.length > 5) break
    }
    if (!matched) continue
    const path = chain.join(' < ')
    paths.set(path, (paths.get(path) ?? 0) + time)
  }
  console.log(`\ncallers of functions matching ${callers}`)
  for (const [path, time] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(time)}  ${path}`)
}

const under = option('under') ? new RegExp(option('under')) : undefined
if (under) {
  // What the time under matching functions is spent on: self time of the frames below them.
  const leaves = new Map()
  for (const [id, time] of self) {
    let inside = false
    for (let at = parent.get(id); at !== undefined && !inside; at = parent.get(at)) inside = under.test(label(nodes.get(at)))
    if (!inside && !under.test(label(nodes.get(id)))) continue
    const key = label(nodes.get(id))
    leaves.set(key, (leaves.get(key) ?? 0) + time)
  }
  console.log(`\nself time under functions matching ${under}`)
  for (const [key, time] of [...leaves].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(time)}  ${key}`)
}
