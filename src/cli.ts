#!/usr/bin/env node
/**
 * The `ws-stream` binary: runs {@link main} on the process's arguments and exits with its status.
 *
 * ```
 * ws-stream connect <url>                          stdin → the connection → stdout
 * ws-stream listen <port> --echo                   echo every connection back
 * ws-stream listen <port> --exec <command>         bridge each connection to a spawned command's stdio
 * ws-stream listen <port> --to <host:port>         bridge each connection to a TCP service
 * ```
 *
 * The parser, the reporter and the commands live in src/cli/; exit statuses are in `ws-stream --help`.
 *
 * @module
 */
import { exitCodes } from './cli/args.js'
import { main } from './cli/main.js'

main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`ws-stream: ${String(error)}\n`)
  process.exit(exitCodes.failure)
})
