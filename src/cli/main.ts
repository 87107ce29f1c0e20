/**
 * The `ws-stream` command's entry: parse, then run the command; resolves with the exit status.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { exitCodes, parseCommand, UsageError, USAGE, type Command } from './args.js'
import { runConnect, runListen } from './commands.js'
import { Reporter } from './report.js'

/** Runs the command line `argv` (without node and the script) and resolves with the exit status. */
export async function main(argv: string[]): Promise<number> {
  let command: Command
  try {
    command = parseCommand(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    return usage(error)
  }
  if (command.command === 'help') {
    process.stdout.write(USAGE)
    return exitCodes.ok
  }
  if (command.command === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
    process.stdout.write(`${pkg.version}\n`)
    return exitCodes.ok
  }
  const reporter = new Reporter(command.verbosity)
  try {
    return command.command === 'connect' ? await runConnect(command, reporter) : await runListen(command, reporter)
  } catch (error) {
    if (error instanceof UsageError) return usage(error) // a flag's file that cannot be read or parsed
    reporter.error(`unexpected failure: ${(error as Error).stack ?? String(error)}`)
    return exitCodes.failure
  }
}

function usage(error: UsageError): number {
  process.stderr.write(`ws-stream: ${error.message}\nRun 'ws-stream --help' for usage.\n`)
  return exitCodes.usage
}
