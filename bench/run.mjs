/**
 * `npm run bench [-- --quick | --smoke] [--only=REGEX] [--runs=N] [--idle=N,N] [--out=DIR] [--no-bufferutil-compare]`
 *
 * Forks a server and a client process (bench/peer.mjs) per cell, runs each cell several times and
 * writes a markdown table and the raw figures: bench/results/latest.{md,json} for a full run,
 * latest-quick.* for --quick, latest-smoke.* for --smoke (or under --out).
 *
 * @module
 */
import { execFile, execFileSync, fork } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { defaultMetricsConfig, measureMetricsCost, summarizeMetricsCost } from './metrics-cost.mjs'
import { WINDOW, extraStreamOptions } from './transports.mjs'
import { evaluateTargets, formatSize, renderMarkdown, summarize } from './report.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const execFileAsync = promisify(execFile)
const KiB = 1024
const MiB = 1024 * 1024

const args = process.argv.slice(2)
const flag = (name) => args.includes(`--${name}`)
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const mode = flag('smoke') ? 'smoke' : flag('quick') ? 'quick' : 'full'

const fileLimit = Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 1024
const SIZES = [64, KiB, 16 * KiB, 64 * KiB, MiB]

/** What each mode measures. */
const configs = {
  full: {
    runs: 7,
    warmup: 1,
    sizes: SIZES,
    bytes: { 64: 4 * MiB, [KiB]: 32 * MiB, [16 * KiB]: 256 * MiB, [64 * KiB]: 512 * MiB, [MiB]: 512 * MiB },
    idleCounts: [1000, 10000],
    floodSeconds: 3,
    lifecycleCount: 2000,
    machineConnections: 5000,
    metrics: defaultMetricsConfig,
    bufferutilCompare: true,
    note: '',
  },
  quick: {
    runs: 5,
    warmup: 1,
    sizes: SIZES,
    bytes: { 64: MiB / 2, [KiB]: 4 * MiB, [16 * KiB]: 16 * MiB, [64 * KiB]: 32 * MiB, [MiB]: 32 * MiB },
    idleCounts: [1000],
    floodSeconds: 1,
    lifecycleCount: 200,
    machineConnections: 2000,
    metrics: {
      warmupConnections: 50,
      block: MiB,
      cells: [
        { name: 'one way, 1 KiB writes', write: KiB, bytes: 4 * MiB },
        { name: 'one way, 64 KiB writes', write: 64 * KiB, bytes: 32 * MiB },
        { name: 'connections (open + close)', connections: 200 },
      ],
    },
    bufferutilCompare: false,
    note:
      'Quick mode: an eighth of the bytes per run, idle memory at 1,000 connections only (not 10,000), ' +
      'a 1 s flood instead of 3 s, 200 connections per lifecycle and metrics run, no bufferutil comparison.',
  },
  smoke: {
    runs: 1,
    warmup: 0,
    sizes: [64, 64 * KiB],
    bytes: { 64: 64 * KiB, [64 * KiB]: MiB },
    idleCounts: [20],
    floodSeconds: 0.3,
    lifecycleCount: 20,
    machineConnections: 50,
    metrics: {
      warmupConnections: 5,
      block: 64 * KiB,
      cells: [
        { name: 'one way, 1 KiB writes', write: KiB, bytes: 128 * KiB },
        { name: 'one way, 64 KiB writes', write: 64 * KiB, bytes: 256 * KiB },
        { name: 'connections (open + close)', connections: 20 },
      ],
    },
    bufferutilCompare: false,
    note: 'Smoke mode: proves the harness runs; the figures mean nothing.',
  },
}
const config = {
  ...configs[mode],
  window: WINDOW,
  floodMessage: 64 * KiB,
  lifecycleConcurrency: 32,
  runTimeout: mode === 'smoke' ? 15_000 : 60_000,
}
if (option('runs')) config.runs = Math.max(1, Number(option('runs')))
if (option('idle')) config.idleCounts = option('idle').split(',').map(Number)
if (process.env.BENCH_LIB) config.note += ` Ours is BENCH_LIB=${process.env.BENCH_LIB}, not the package build.`
if (Object.keys(extraStreamOptions).length > 0) {
  config.note += ` Ours ran with BENCH_STREAM_OPTIONS=${JSON.stringify(extraStreamOptions)}.`
}
const only = option('only') ? new RegExp(option('only')) : undefined
const compareBufferutil = config.bufferutilCompare && !flag('no-bufferutil-compare')

// Each process holds one descriptor per connection plus a few dozen of its own.
const reducedIdle = config.idleCounts.filter((n) => n + 200 > fileLimit)
if (reducedIdle.length > 0) {
  const fits = Math.max(100, Math.floor((fileLimit - 200) / 1000) * 1000)
  config.note += ` The open-file limit (${fileLimit}) is too low for ${reducedIdle.join(', ')} connections per process: measured ${fits} instead (raise \`ulimit -n\`).`
  config.idleCounts = [...new Set(config.idleCounts.map((n) => Math.min(n, fits)))]
}

const outDir = resolve(option('out') ?? join(here, 'results'))
const base = mode === 'full' ? 'latest' : `latest-${mode}`

/** A forked peer process and its IPC calls. */
class Peer {
  #pending = new Map()
  #waiters = new Map()
  #nextId = 0
  #exited

  constructor(env = {}) {
    this.child = fork(join(here, 'peer.mjs'), [], {
      execArgv: ['--expose-gc', ...(process.env.BENCH_PEER_FLAGS ?? '').split(' ').filter(Boolean)],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.#exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.on('message', (message) => {
      if (message.event) {
        const waiter = this.#waiters.get(message.event)?.shift()
        waiter?.(message)
        return
      }
      const call = this.#pending.get(message.id)
      if (!call) return
      this.#pending.delete(message.id)
      if (message.error) call.reject(new Error(message.error))
      else call.resolve(message.result)
    })
    this.child.once('exit', (code, signal) => {
      for (const call of this.#pending.values()) call.reject(new Error(`peer exited (${code ?? signal})`))
      this.#pending.clear()
    })
  }

  call(cmd, args = {}, timeout = config.runTimeout) {
    const id = this.#nextId++
    return withTimeout(
      new Promise((resolve, reject) => {
        this.#pending.set(id, { resolve, reject })
        this.child.send({ id, cmd, ...args })
      }),
      timeout,
      cmd,
    )
  }

  /** Resolves with the next `{ event: name }` message. Register before triggering it. */
  next(name, timeout = config.runTimeout) {
    const list = this.#waiters.get(name) ?? []
    this.#waiters.set(name, list)
    return withTimeout(new Promise((resolve) => list.push(resolve)), timeout, `event ${name}`)
  }

  /** Asks the peer to close its server (if `graceful`) and exit; kills it if it does not within seconds. */
  async stop(graceful = true) {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await this.call(graceful ? 'stop' : 'exit', {}, 3000).catch(() => {})
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
      await this.#exited
      clearTimeout(timer)
    }
  }
}

function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** A server process and a client process for one cell. */
function newPair(env) {
  return { server: new Peer(env), client: new Peer(env) }
}

async function stopPair(pair, graceful) {
  if (pair) await Promise.all([pair.server.stop(graceful), pair.client.stop(graceful)])
}

/**
 * Runs the cells of one row (e.g. every contender for one write size and direction) run by run,
 * interleaved and in a rotating order, so that a shared machine's changing load falls on all of
 * them alike. Each cell keeps one pair of processes for all its runs (after `config.warmup`
 * discarded runs), or gets a fresh pair per run when `perRun` (memory cells; no warm-up run then:
 * their scenario warms the processes itself).
 */
async function runRow(steps) {
  const perRun = steps[0].perRun
  const warmup = perRun ? 0 : config.warmup
  const state = steps.map(() => ({ values: [], extras: [], pair: undefined }))
  try {
    for (let i = 0; i < warmup + config.runs; i++) {
      for (let j = 0; j < steps.length; j++) {
        const k = (i + j) % steps.length
        const { cell, measure } = steps[k]
        const st = state[k]
        if (cell.error) continue
        try {
          if (perRun && st.pair) {
            await stopPair(st.pair, false)
            st.pair = undefined
          }
          st.pair ??= newPair(cell.env)
          const { value, ...extra } = await measure(st.pair)
          if (i >= warmup) {
            st.values.push(value)
            st.extras.push(extra)
          }
        } catch (error) {
          cell.error = String(error?.message ?? error)
          await stopPair(st.pair, false)
          st.pair = undefined
        }
      }
    }
  } finally {
    await Promise.all(state.map((st) => stopPair(st.pair, !perRun)))
  }
  return steps.map(({ cell, finish }, k) => {
    const { values, extras } = state[k]
    cell.values = values
    cell.extras = extras
    if (!cell.error) {
      cell.stats = summarize(values)
      if (extras.some((e) => e.cpuPerGiB !== undefined)) cell.cpuStats = summarize(extras.map((e) => e.cpuPerGiB))
      finish?.(cell)
    }
    const side = (key) => summarize(cell.extras.map((e) => e[key])).median.toFixed(2)
    const perConn = cell.extras.some((e) => e.serverCpuPerConn !== undefined)
      ? `  cpu µs/conn: server ${side('serverCpuPerConn')}, client ${side('clientCpuPerConn')}`
      : ''
    const cpu = cell.cpuStats
      ? `  cpu ${cell.cpuStats.median.toFixed(2)} s/GiB (server ${side('serverCpuPerGiB')}, client ${side('clientCpuPerGiB')})`
      : ''
    const shown = cell.stats
      ? `${cell.stats.median.toFixed(1)} ${cell.unit} (${cell.stats.min.toFixed(1)}–${cell.stats.max.toFixed(1)})${cpu}${perConn}`
      : `FAILED: ${cell.error}`
    console.error(`  ${cell.id.padEnd(44)} ${shown}`)
    return cell
  })
}

/** One throughput cell: `kind` on both sides, `dir` one way or echo. */
function throughputCell(group, kind, dir, size, { coalesce = true, env = {}, tag = '' } = {}) {
  const total = config.bytes[size]
  const cell = {
    id: `${group}/${dir}/${formatSize(size).replace(' ', '')}/${kind}${coalesce ? '' : '-nocoalesce'}${tag}`,
    group,
    kind: coalesce ? kind : `${kind}-nocoalesce`,
    dir,
    size,
    total,
    unit: 'MiB/s',
    env,
  }
  return {
    cell,
    row: `throughput/${dir}/${size}`,
    perRun: false,
    async measure(pair) {
      if (!pair.port) pair.port = (await pair.server.call('serve', { scenario: dir, kind, total })).port
      const request = { kind, port: pair.port, size, total, coalesce }
      const cpuBefore = await Promise.all([pair.server.call('cpu'), pair.client.call('cpu')])
      let ms
      let messages
      if (dir === 'oneway') {
        const received = pair.server.next('received')
        const r = await pair.client.call('oneway', request)
        ms = (await received).t1 - r.t0
        messages = r.messages
      } else {
        const r = await pair.client.call('echo', request)
        ms = r.t1 - r.t0
      }
      const cpuAfter = await Promise.all([pair.server.call('cpu'), pair.client.call('cpu')])
      const serverMs = cpuAfter[0].ms - cpuBefore[0].ms
      const clientMs = cpuAfter[1].ms - cpuBefore[1].ms
      const perGiB = (cpuMs) => (cpuMs / 1000) * ((1024 * MiB) / total)
      // CPU of both processes per GiB moved (connection setup and close included): a cost that
      // contention on a shared machine changes far less than it changes MiB/s. Each side's share
      // goes into the JSON too, to tell which end a difference comes from.
      return {
        value: total / MiB / (ms / 1000),
        ms,
        messages,
        cpuPerGiB: perGiB(serverMs + clientMs),
        serverCpuPerGiB: perGiB(serverMs),
        clientCpuPerGiB: perGiB(clientMs),
      }
    },
  }
}

function idleCell(kind, n) {
  return {
    cell: { id: `idle/${n}/${kind}`, group: 'idle', kind, connections: n, unit: 'B heap/conn', env: {} },
    row: `idle/${n}`,
    perRun: true,
    async measure(pair) {
      const { port } = await pair.server.call('serve', { scenario: 'idle', kind })
      await pair.client.call('warm', { port, n: 20 })
      const before = await pair.server.call('baseline')
      const t0 = Date.now()
      await pair.client.call('idleOpen', { port, n }, 180_000)
      const openSeconds = (Date.now() - t0) / 1000
      const after = await pair.server.call('measure', { expect: n }, 180_000)
      if (after.connections < n) throw new Error(`only ${after.connections} of ${n} connections arrived`)
      return { value: (after.heapUsed - before.heapUsed) / n, rss: (after.rss - before.rss) / n, openSeconds }
    },
    finish(cell) {
      cell.rssStats = summarize(cell.extras.map((e) => e.rss))
      cell.openStats = summarize(cell.extras.map((e) => e.openSeconds))
    },
  }
}

function floodCell(kind) {
  return {
    // ours: readHighWaterMark (default 1 MiB) + one message + 8 MiB
    cell: { id: `flood/${kind}`, group: 'flood', kind, unit: 'B RSS growth', env: {}, bound: MiB + config.floodMessage + 8 * MiB },
    row: 'flood',
    perRun: true,
    async measure(pair) {
      const { port } = await pair.server.call('serve', { scenario: 'flood', kind })
      const connected = pair.server.next('connected')
      await pair.client.call('flood', { port, size: config.floodMessage })
      await connected
      await pair.server.call('sampleStart')
      const { accepted } = await pair.client.call('floodRun', { seconds: config.floodSeconds, size: config.floodMessage })
      const growth = await pair.server.call('sampleStop')
      return { value: growth.rssGrowth, heap: growth.heapGrowth, accepted }
    },
    finish(cell) {
      cell.heapStats = summarize(cell.extras.map((e) => e.heap))
      cell.sentStats = summarize(cell.extras.map((e) => e.accepted))
    },
  }
}

/** The keep-alive both ends of ours use in the lifecycle cells that have it on (a server's default). */
const LIFECYCLE_KEEPALIVE = { interval: 30_000, timeout: 10_000 }

/** Lifecycle: `kind` is ws, ours (keepAlive on at both ends) or ours-nokeepalive (off at both ends). */
function lifecycleCell(kind) {
  const ours = kind !== 'ws'
  const streamOptions = { keepAlive: kind === 'ours-nokeepalive' ? false : LIFECYCLE_KEEPALIVE }
  return {
    cell: { id: `lifecycle/${kind}`, group: 'lifecycle', kind, unit: 'conn/s', env: {} },
    row: 'lifecycle',
    perRun: false,
    async measure(pair) {
      if (!pair.port) {
        const serverKind = ours ? 'ours' : 'ws'
        pair.port = (await pair.server.call('serve', { scenario: 'lifecycle', kind: serverKind, ...(ours ? { streamOptions } : {}) })).port
      }
      const cpuBefore = await Promise.all([pair.server.call('cpu'), pair.client.call('cpu')])
      const r = await pair.client.call('lifecycle', {
        kind: ours ? 'ours' : 'ws',
        port: pair.port,
        count: config.lifecycleCount,
        concurrency: config.lifecycleConcurrency,
        ...(ours ? { streamOptions } : {}),
      })
      const cpuAfter = await Promise.all([pair.server.call('cpu'), pair.client.call('cpu')])
      if (r.unclean > 0) throw new Error(`${r.unclean} connections closed uncleanly`)
      // CPU µs per connection, each side: steadier than connections/s on a shared machine.
      const perConnection = (side) => ((cpuAfter[side].ms - cpuBefore[side].ms) * 1000) / r.count
      return { value: (r.count / r.elapsed) * 1000, serverCpuPerConn: perConnection(0), clientCpuPerConn: perConnection(1) }
    },
  }
}

/**
 * The connection machine alone, with no socket (bench/machine-cost.mjs, in a process of its own):
 * CPU and allocation per connection of a client's and a server's lifecycle, and of a bare XState
 * actor. The floor under the lifecycle cells' ratio.
 */
async function machineCells() {
  const script = fileURLToPath(new URL('./machine-cost.mjs', import.meta.url))
  try {
    const { stdout } = await execFileAsync(process.execPath, [script, '--json', `--runs=${config.runs}`, `--connections=${config.machineConnections}`], { timeout: 300_000 })
    const result = JSON.parse(stdout)
    return result.rows.map((row) => ({
      id: `machine/${row.name.replace(/\W+/g, '-').replace(/-$/, '')}`,
      group: 'machine',
      kind: row.name,
      unit: 'CPU µs/conn',
      values: row.cpu,
      stats: summarize(row.cpu),
      allocatedKiB: row.allocatedKiB,
    }))
  } catch (error) {
    const message = String(error?.message ?? error)
    console.error(`  machine FAILED: ${message}`)
    return [{ id: 'machine', group: 'machine', kind: 'machine', unit: '', values: [], error: message }]
  }
}

/**
 * The metrics' cost (bench/metrics-cost.mjs): a server with `createMetrics()` and one without, side
 * by side, as a pair of cells per workload, `off` and `on`, with the server's CPU per unit and the
 * median of the runs' on/off ratios (the runs are paired, so their ratios are steadier than a ratio of medians).
 */
async function metricsCells() {
  const started = Date.now()
  let results
  try {
    results = await measureMetricsCost({ ...config.metrics, runs: config.runs })
  } catch (error) {
    const message = String(error?.message ?? error)
    console.error(`  metrics FAILED: ${message}`)
    return [{ id: 'metrics', group: 'metrics', kind: 'on', unit: '', values: [], error: message }]
  }
  const cells = []
  for (const [i, summary] of summarizeMetricsCost(results).entries()) {
    const { cell } = summary
    const slug = cell.connections ? 'connections' : `oneway/${formatSize(cell.write).replace(' ', '')}`
    for (const variant of ['off', 'on']) {
      const { rate, cpu } = results[i][variant]
      cells.push({
        id: `metrics/${slug}/${variant}`,
        group: 'metrics',
        kind: variant,
        name: cell.name,
        unit: summary.unit,
        cpuUnit: summary.cpuUnit,
        values: rate,
        stats: summarize(rate),
        cpuValues: cpu,
        cpuStats: summarize(cpu),
        ...(variant === 'on' ? { rateRatio: summary.rateRatio, cpuRatio: summary.cpuRatio } : {}),
      })
    }
    console.error(`  ${`metrics/${slug}`.padEnd(44)} on/off ${summary.rateRatio.toFixed(3)}×  server CPU on/off ${summary.cpuRatio.toFixed(3)}×`)
  }
  console.error(`  (metrics cells took ${Math.round((Date.now() - started) / 1000)} s)`)
  return cells
}

/** The commit measured, marked dirty when src/ or machines/ differ from it (a shared tree). */
function gitDescribe() {
  try {
    const cwd = join(here, '..')
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'machines'], { cwd, encoding: 'utf8' }).trimEnd()
    return dirty ? `${head} + uncommitted changes in ${dirty.split('\n').map((l) => l.slice(3)).join(', ')}` : head
  } catch {
    return 'unknown'
  }
}

function versionOf(name) {
  try {
    const require = createRequire(createRequire(import.meta.url).resolve('ws'))
    return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version
  } catch {
    return undefined
  }
}

async function main() {
  const started = Date.now()
  const plan = []
  for (const dir of ['oneway', 'echo']) {
    for (const size of config.sizes) {
      for (const kind of ['tcp', 'ws', 'cwss', 'ours', 'ours-duplex']) plan.push(throughputCell('throughput', kind, dir, size))
    }
  }
  plan.push(throughputCell('throughput', 'ours', 'oneway', 64, { coalesce: false }))
  for (const n of config.idleCounts) for (const kind of ['ws', 'ours']) plan.push(idleCell(kind, n))
  for (const kind of ['ours', 'cwss', 'ws-paused']) plan.push(floodCell(kind))
  for (const kind of ['ws', 'ours', 'ours-nokeepalive']) plan.push(lifecycleCell(kind))

  const bufferutilVersion = versionOf('bufferutil')
  const bufferutilInUse = Boolean(bufferutilVersion) && !process.env.WS_NO_BUFFER_UTIL
  const comparePairs = []
  if (compareBufferutil && bufferutilInUse) {
    for (const dir of ['oneway', 'echo']) {
      for (const size of [64 * KiB, MiB]) {
        for (const kind of ['ws', 'ours']) {
          const twin = throughputCell('bufferutil', kind, dir, size, { env: { WS_NO_BUFFER_UTIL: '1' }, tag: '-nobufferutil' })
          twin.cell.kind = kind
          comparePairs.push({ kind, dir, size, twin })
          plan.push(twin)
        }
      }
    }
  }

  // Resume on vs off: ours read/write with resumable streams on both sides (acknowledgements, kept
  // bytes), in the same rows as the plain cells it is compared with, so they run interleaved.
  const resumePairs = []
  for (const dir of ['oneway', 'echo']) {
    for (const size of [64 * KiB, MiB].filter((s) => config.sizes.includes(s))) {
      const twin = throughputCell('resume', 'ours', dir, size, { env: { BENCH_RESUME: '1' }, tag: '-resume' })
      resumePairs.push({ dir, size, twin })
      plan.push(twin)
    }
  }

  const selected = only ? plan.filter((p) => only.test(p.cell.id)) : plan
  const withMetrics = !only || only.test('metrics/')
  const withMachine = !only || only.test('machine/')
  const count = selected.length + (withMetrics ? config.metrics.cells.length * 2 : 0) + (withMachine ? 3 : 0)
  console.error(`bench: ${mode} mode, ${count} cells, ${config.runs} runs each${only ? ` (only ${only})` : ''}`)
  const rows = new Map()
  for (const step of selected) rows.set(step.row, [...(rows.get(step.row) ?? []), step])
  const cells = []
  for (const steps of rows.values()) cells.push(...(await runRow(steps)))
  if (withMetrics) cells.push(...(await metricsCells()))
  if (withMachine) cells.push(...(await machineCells()))

  // 64 B writes per second, from the 64 B one-way cells.
  const rateCells = cells
    .filter((c) => c.group === 'throughput' && c.dir === 'oneway' && c.size === 64 && ['ws', 'cwss', 'ours', 'ours-nocoalesce'].includes(c.kind))
    .map((c) => {
      const values = (c.values ?? []).map((v) => (v * MiB) / 64)
      const messages = c.extras?.map((e) => e.messages).filter((m) => m !== undefined) ?? []
      return {
        id: `rate/${c.kind}`,
        group: 'rate',
        kind: c.kind,
        unit: 'writes/s',
        values,
        stats: c.stats ? summarize(values) : undefined,
        error: c.error,
        messagesPerRun: messages.length > 0 ? summarize(messages).median : undefined,
      }
    })
  const all = [...cells.filter((c) => c.group !== 'bufferutil' && c.group !== 'resume'), ...rateCells]

  const bufferutilCells = comparePairs
    .map(({ kind, dir, size, twin }) => ({
      withIt: all.find((c) => c.group === 'throughput' && c.kind === kind && c.dir === dir && c.size === size),
      without: twin.cell.values ? twin.cell : undefined,
    }))
    .filter((p) => p.withIt && p.without)

  const resumeCells = resumePairs
    .map(({ dir, size, twin }) => ({
      off: all.find((c) => c.group === 'throughput' && c.kind === 'ours' && c.dir === dir && c.size === size),
      on: twin.cell.values ? twin.cell : undefined,
    }))
    .filter((p) => p.off && p.on)

  const cpus = os.cpus()
  const meta = {
    mode,
    command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
    date: new Date().toISOString(),
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    os: `${os.type()} ${os.release()}`,
    node: process.versions.node,
    ws: versionOf('ws') ?? JSON.parse(readFileSync(createRequire(import.meta.url).resolve('ws/package.json'), 'utf8')).version,
    bufferutil: bufferutilInUse,
    bufferutilVersion,
    fileLimit,
    commit: gitDescribe(),
    seconds: undefined,
  }
  const targets = evaluateTargets(all, config)
  meta.seconds = Math.round((Date.now() - started) / 1000)
  const { env: _env, ...publicConfig } = config
  const markdown = renderMarkdown({ meta, cells: all, targets, config, bufferutilCells, resumeCells }) + `\nTook ${meta.seconds} s.\n`
  const strip = (c) => {
    const { env: _e, ...rest } = c
    return rest
  }
  const json = { meta, config: publicConfig, cells: all.map(strip), bufferutil: bufferutilCells.map((p) => ({ with: strip(p.withIt), without: strip(p.without) })), resume: resumeCells.map((p) => ({ on: strip(p.on), off: strip(p.off) })), targets }
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, `${base}.md`), markdown)
  writeFileSync(join(outDir, `${base}.json`), JSON.stringify(json, null, 2) + '\n')
  console.log(markdown)
  console.error(`bench: wrote ${join(outDir, `${base}.md`)} and .json in ${meta.seconds} s`)
  if (all.some((c) => c.error) || resumePairs.some((p) => p.twin.cell.error)) process.exitCode = 1
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
