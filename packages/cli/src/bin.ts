#!/usr/bin/env node
/**
 * The `concord` executable: runs the command line with the process's streams, turns SIGINT
 * and SIGTERM into a clean stop (a second one exits at once), and exits with the code the
 * command gave.
 *
 * @module
 */
import { run } from './cli.js'
import { commandContext } from './context.js'
import { ExitCodes } from './errors.js'

const stop = new AbortController()
const onSignal = () => {
  if (stop.signal.aborted) process.exit(ExitCodes.INTERRUPTED)
  stop.abort()
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)
// A reader that stopped early (`concord keys kv | head -1`) is not an error: stop quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})

const code = await run(process.argv.slice(2), commandContext({ signal: stop.signal }))
process.exitCode = code
