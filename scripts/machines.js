#!/usr/bin/env node
// `npm run machines`: writes each machine's `toJSON()` (machines/<name>.json, for the Stately
// editor) and a Mermaid stateDiagram-v2 of each (docs/machines.md, and between the
// `<!-- machine:NAME -->` markers of the guides in `embeds`), all generated from the machine
// definitions in dist/machines (run after `npm run build`).
//
//   node scripts/machines.js            write the files
//   node scripts/machines.js --check    write nothing; exit 1 naming the files that are stale
//   --root <dir>                        read and write under <dir> instead of the repository
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { pureConnectionMachine as connectionMachine } from '../dist/machines/connection.js'
import { serverMachine } from '../dist/machines/server.js'

const repository = join(dirname(fileURLToPath(import.meta.url)), '..')

const machines = [
  {
    name: 'connection',
    machine: connectionMachine,
    about: 'One WebSocket connection (machines/connection.ts): the lifecycle and the close handshake. ' +
      'The close timeout is the `after closeTimeout` edge out of both closing states.',
  },
  {
    name: 'server',
    machine: serverMachine,
    about: 'The connection manager (machines/server.ts): one child connection actor per accepted socket, ' +
      'and the drain that closes them all.',
  },
]

/** `#connection.closingSent` → `closingSent`; `#server.draining.closing` → `draining.closing`. */
function path(machineId, id) {
  const bare = id.startsWith('#') ? id.slice(1) : id
  return bare === machineId ? '' : bare.slice(machineId.length + 1)
}

const mermaidId = (statePath) => statePath.replaceAll('.', '_')

/** The label of an event on an edge: delays and done events in the words the machine uses. */
function eventLabel(eventType) {
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType)
  if (after) return `after ${after[1]}`
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType)
  if (done) return `done ${done[1]}`
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType)
  if (error) return `error ${error[1]}`
  if (eventType === '') return 'always'
  if (eventType === '*') return 'any event'
  return eventType
}

function guardLabel(guard) {
  if (!guard) return ''
  const name = typeof guard === 'string' ? guard : guard.type
  return name ? ` [${name}]` : ''
}

/** A Mermaid stateDiagram-v2 of one machine's JSON (as `machine.toJSON()` gives it). */
export function mermaid(json) {
  const machineId = json.id
  const lines = ['stateDiagram-v2']
  const edge = (indent, from, transition) => {
    for (const target of transition.target ?? []) {
      const label = eventLabel(transition.eventType) + guardLabel(transition.guard)
      lines.push(`${indent}${from} --> ${mermaidId(path(machineId, target))} : ${label}`)
    }
  }
  const walk = (node, indent) => {
    const children = Object.values(node.states ?? {})
    const initial = node.initial?.target?.[0]
    if (initial) lines.push(`${indent}[*] --> ${mermaidId(path(machineId, initial))}`)
    for (const child of children) {
      const id = mermaidId(path(machineId, child.id))
      if (child.key !== id) lines.push(`${indent}state "${child.key}" as ${id}`)
      if (Object.keys(child.states ?? {}).length > 0) {
        lines.push(`${indent}state ${id} {`)
        walk(child, `${indent}  `)
        lines.push(`${indent}}`)
      }
      if (child.type === 'final') lines.push(`${indent}${id} --> [*]`)
      const inPlace = []
      for (const transition of [...(child.transitions ?? []), ...(child.always ?? [])]) {
        if ((transition.target ?? []).length > 0) edge(indent, id, transition)
        else inPlace.push(eventLabel(transition.eventType) + guardLabel(transition.guard))
      }
      if (inPlace.length > 0) lines.push(`${indent}note right of ${id} : handles in place: ${[...new Set(inPlace)].join(', ')}`)
    }
    // The root's own transitions leave every top-level state that can still move. A compound state's
    // own transitions are drawn once, from its box, by the loop above.
    if (node !== json) return
    for (const transition of node.transitions ?? []) {
      if ((transition.target ?? []).length === 0) continue
      for (const child of children) {
        if (child.type === 'final') continue
        edge(indent, mermaidId(path(machineId, child.id)), transition)
      }
    }
  }
  walk(json, '  ')
  const inPlace = (json.transitions ?? []).filter((transition) => (transition.target ?? []).length === 0)
  const body = lines.join('\n')
  const note = inPlace.length > 0
    ? `\n\nIn every state: ${[...new Set(inPlace.map((transition) => `\`${eventLabel(transition.eventType)}\``))].join(', ')} (actions only, no transition).`
    : ''
  return { body, note }
}

/**
 * XState's `toJSON()` leaves out eventless (`always`) transitions; they are added back, in the
 * same shape as the other transitions, so that the editor and the diagram show e.g. the server's
 * `draining → stopped` once no connection is left.
 */
function withAlways(stateNode, json) {
  const states = Object.fromEntries(Object.entries(json.states ?? {}).map(([key, child]) => [key, withAlways(stateNode.states[key], child)]))
  const always = (stateNode.always ?? []).map((transition) => transition.toJSON())
  return { ...json, states, ...(always.length > 0 ? { always } : {}) }
}

/** Guides that embed a diagram between `<!-- machine:NAME … -->` and `<!-- /machine:NAME -->`. */
const embeds = [join('docs', 'close-handshake.md')]

/** The files to write, by path relative to `root`, with their content. */
export async function generate(root) {
  const files = new Map()
  const sections = []
  const diagrams = new Map()
  for (const { name, machine, about } of machines) {
    const json = JSON.parse(JSON.stringify(withAlways(machine.root, machine.toJSON()))) // state nodes become ids
    files.set(join('machines', `${name}.json`), `${JSON.stringify(json, null, 2)}\n`)
    const { body, note } = mermaid(json)
    diagrams.set(name, `\`\`\`mermaid\n${body}\n\`\`\`\n`)
    sections.push(`## ${name}\n\n${about}\n\n\`\`\`mermaid\n${body}\n\`\`\`${note}\n`)
  }
  files.set(join('docs', 'machines.md'), [
    '# The machines, drawn from their definitions',
    '',
    '<!-- Generated by `npm run machines` from dist/machines; do not edit. A test fails when this is stale. -->',
    '',
    'GitHub renders these Mermaid diagrams. For the interactive picture, paste `machines/connection.json`',
    'or `machines/server.json` (each machine\'s `toJSON()`) into the Stately editor, or use the',
    'live inspector (see [embedding and inspection](embedding-and-inspection.md)).',
    '',
    sections.join('\n'),
  ].join('\n'))
  for (const file of embeds) {
    const text = await readFile(join(root, file), 'utf8')
    files.set(file, text.replace(/(<!-- machine:(\w+)[^>]*-->\n)[\s\S]*?(<!-- \/machine:\2 -->)/g,
      (_, open, name, close) => `${open}${diagrams.get(name) ?? ''}${close}`))
  }
  return files
}

async function main() {
  const { values } = parseArgs({ options: { check: { type: 'boolean' }, root: { type: 'string' } } })
  const root = values.root ?? repository
  const stale = []
  for (const [file, content] of await generate(root)) {
    const target = join(root, file)
    const current = await readFile(target, 'utf8').catch(() => undefined)
    if (current === content) continue
    if (values.check) {
      stale.push(file)
      continue
    }
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, content)
    console.log(`wrote ${file}`)
  }
  if (stale.length > 0) {
    console.error(`stale (run npm run machines and commit): ${stale.join(', ')}`)
    process.exitCode = 1
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
