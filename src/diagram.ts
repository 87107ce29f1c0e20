/**
 * Mermaid `stateDiagram-v2` text drawn from a machine's own definition (`machine.toJSON()`): the one
 * copy used by `npm run machines` (docs/machines.md) and by the admin dashboard, which adds a
 * highlight on the current state.
 *
 * @module
 */
import type { AnyStateMachine, StateValue } from 'xstate'

/** The parts of `toJSON()` the diagram reads. */
interface TransitionJSON {
  eventType: string
  target?: string[]
  guard?: string | { type?: string }
}

/** One state node as `toJSON()` gives it (with `always` added back, see {@link machineJSON}). */
export interface StateNodeJSON {
  id: string
  key: string
  type?: string
  initial?: { target?: string[] }
  states?: Record<string, StateNodeJSON>
  transitions?: TransitionJSON[]
  always?: TransitionJSON[]
}

/**
 * `machine.toJSON()` as plain data, with the eventless (`always`) transitions that XState's
 * `toJSON()` leaves out added back in the same shape, so that the editor and the diagram show e.g.
 * the server's `draining → stopped` once no connection is left.
 */
export function machineJSON(machine: AnyStateMachine): StateNodeJSON {
  return JSON.parse(JSON.stringify(withAlways(machine.root, machine.toJSON()))) as StateNodeJSON // state nodes become ids
}

interface AnyNode {
  states: Record<string, AnyNode>
  always?: { toJSON(): unknown }[]
}

function withAlways(stateNode: AnyNode, json: { states?: Record<string, unknown> }): object {
  const states = Object.fromEntries(Object.entries(json.states ?? {})
    .map(([key, child]) => [key, withAlways(stateNode.states[key]!, child as { states?: Record<string, unknown> })]))
  const always = (stateNode.always ?? []).map((transition) => transition.toJSON())
  return { ...json, states, ...(always.length > 0 ? { always } : {}) }
}

/** `#connection.closingSent` → `closingSent`; `#server.draining.closing` → `draining.closing`. */
function path(machineId: string, id: string): string {
  const bare = id.startsWith('#') ? id.slice(1) : id
  return bare === machineId ? '' : bare.slice(machineId.length + 1)
}

/** A state's node id in the diagram: its path with `_` for `.` (`closingReceived_flushing`). */
export const mermaidId = (statePath: string): string => statePath.replaceAll('.', '_')

/** The label of an event on an edge: delays and done events in the words the machine uses. */
function eventLabel(eventType: string): string {
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

function guardLabel(guard: TransitionJSON['guard']): string {
  if (!guard) return ''
  const name = typeof guard === 'string' ? guard : guard.type
  return name ? ` [${name}]` : ''
}

/**
 * A Mermaid stateDiagram-v2 of one machine's JSON (as {@link machineJSON} gives it): `body` is the
 * diagram, `note` a Markdown sentence naming the root's in-place transitions (or empty). With
 * `notes: false` the body leaves out the notes on states' in-place transitions (the Mermaid 11 that
 * the dashboard serves does not parse a note inside a compound state; GitHub's does).
 */
export function mermaid(json: StateNodeJSON, { notes = true }: { notes?: boolean } = {}): { body: string; note: string } {
  const machineId = json.id
  const lines = ['stateDiagram-v2']
  const edge = (indent: string, from: string, transition: TransitionJSON): void => {
    for (const target of transition.target ?? []) {
      const label = eventLabel(transition.eventType) + guardLabel(transition.guard)
      lines.push(`${indent}${from} --> ${mermaidId(path(machineId, target))} : ${label}`)
    }
  }
  const walk = (node: StateNodeJSON, indent: string): void => {
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
      const inPlace: string[] = []
      for (const transition of [...(child.transitions ?? []), ...(child.always ?? [])]) {
        if ((transition.target ?? []).length > 0) edge(indent, id, transition)
        else inPlace.push(eventLabel(transition.eventType) + guardLabel(transition.guard))
      }
      if (notes && inPlace.length > 0) lines.push(`${indent}note right of ${id} : handles in place: ${[...new Set(inPlace)].join(', ')}`)
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

/** The deepest state of a snapshot's value as a dotted path: `{ closingReceived: 'flushing' }` → `closingReceived.flushing`. */
export function statePath(value: StateValue): string {
  if (typeof value === 'string') return value
  const [key, child] = Object.entries(value)[0] ?? []
  if (key === undefined) return ''
  return child === undefined ? key : `${key}.${statePath(child)}`
}

/**
 * `body` with the state at `path` (and the compound states holding it) highlighted: a Mermaid
 * `classDef current` and a `class` line naming the node ids.
 */
export function highlighted(body: string, path: string): string {
  const parts = path.split('.').filter((p) => p !== '')
  const ids = parts.map((_, i) => mermaidId(parts.slice(0, i + 1).join('.')))
  if (ids.length === 0) return body
  return `${body}\n  classDef current fill:#ffb703,stroke:#d00000,stroke-width:3px,color:#000\n  class ${ids.join(',')} current`
}
