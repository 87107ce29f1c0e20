/**
 * What the `ws-stream` command prints on stderr: diagnostics at the chosen verbosity, connection
 * events under --verbose, and the --progress line.
 *
 * @module
 */
import type { CloseInfo, WsEvent, WsStream } from '../index.js'
import type { Verbosity } from './args.js'

/** Writes diagnostics to stderr at the chosen verbosity; the progress line is redrawn under them. */
export class Reporter {
  readonly #verbosity: Verbosity
  #progressLine = ''

  constructor(verbosity: Verbosity) {
    this.#verbosity = verbosity
  }

  /** Fatal errors: always printed. */
  error(message: string): void {
    this.#print(`ws-stream: ${message}`)
  }

  /** Lifecycle lines (listening, accepted, closed): not under --quiet. */
  info(message: string): void {
    if (this.#verbosity !== 'quiet') this.#print(`ws-stream: ${message}`)
  }

  /** Every out-of-band event of `stream`, under --verbose. */
  watch(stream: WsStream, label: string): void {
    if (this.#verbosity !== 'verbose') return
    stream.on('*', (event) => this.#print(`ws-stream: [${label}] ${describe(event)}`))
  }

  progress(line: string, final = false): void {
    this.#progressLine = line
    process.stderr.write(`\r${line}${final ? '\n' : ''}`)
    if (final) this.#progressLine = ''
  }

  #print(line: string): void {
    // Clear the progress line, print, redraw it below.
    const clear = this.#progressLine ? `\r${' '.repeat(this.#progressLine.length)}\r` : ''
    process.stderr.write(`${clear}${line}\n${this.#progressLine}`)
  }
}

export function describe(event: WsEvent): string {
  switch (event.type) {
    case 'state': return `state ${event.from} → ${event.to}`
    case 'ping':
    case 'pong': return `${event.type} ${event.data.length} bytes`
    case 'closeFrame': return `closeFrame ${event.code} ${JSON.stringify(event.reason)}`
    case 'error': return `error ${event.error.code}: ${event.error.message}`
    case 'closed': return `closed ${closeSummary(event.info)}`
    case 'interrupted': return `interrupted (${event.error.code}: ${event.error.message}); waiting to resume`
    case 'reconnecting': return `reconnecting: attempt ${event.attempt}, ${event.delay} ms after the loss`
    case 'sessionResumed': return `resumed after ${event.downtime} ms, ${event.attempts} attempt(s)`
    default: return event.type
  }
}

export function closeSummary(info: CloseInfo): string {
  const reason = info.reason ? ` ${JSON.stringify(info.reason)}` : ''
  const error = info.error ? ` (${info.error.code}: ${info.error.message})` : ''
  return `code ${info.code}${reason}, ${info.wasClean ? 'clean' : 'unclean'}, initiator ${info.initiator}${error}`
}

/** Counts bytes of every stream it is given (live ones through `stats`) and redraws a pv-like line. */
export class Progress {
  readonly #live = new Set<WsStream>()
  #doneIn = 0
  #doneOut = 0
  #lastTotal = 0
  #lastTime = performance.now()
  #rate = 0
  readonly #started = performance.now()
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(readonly reporter: Reporter) {}

  add(stream: WsStream): void {
    this.#live.add(stream)
    void stream.closed.then(() => {
      this.#live.delete(stream)
      this.#doneIn += stream.stats.bytesRead
      this.#doneOut += stream.stats.bytesWritten
    })
  }

  start(): void {
    this.#timer = setInterval(() => this.draw(), 500)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.draw(true)
  }

  draw(final = false): void {
    let bytesIn = this.#doneIn
    let bytesOut = this.#doneOut
    for (const stream of this.#live) {
      bytesIn += stream.stats.bytesRead
      bytesOut += stream.stats.bytesWritten
    }
    const now = performance.now()
    const total = bytesIn + bytesOut
    if (now > this.#lastTime) this.#rate = ((total - this.#lastTotal) * 1000) / (now - this.#lastTime)
    this.#lastTotal = total
    this.#lastTime = now
    const elapsed = ((now - this.#started) / 1000).toFixed(1)
    const rate = final ? (total * 1000) / Math.max(1, now - this.#started) : this.#rate
    this.reporter.progress(`in ${size(bytesIn)}  out ${size(bytesOut)}  ${size(rate)}/s  ${elapsed}s  ${this.#live.size} open`, final)
  }
}

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}
