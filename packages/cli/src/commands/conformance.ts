/**
 * `concord conformance`: runs the suites of `@concord/conformance` against a user's transport
 * and/or persistence module (through vitest's Node API) and prints a report per SPEC rule.
 *
 * @module
 */
import { formatReport } from '../conformance/report.js'
import { line } from '../context.js'
import { ExitCodes, InterruptedError, UsageError } from '../errors.js'
import type { Command } from './command.js'

/** The timeout of each test, unless `--timeout` says otherwise (the suites are tuned for it). */
const TEST_TIMEOUT = 20_000

/** `concord conformance`: check an adapter against the SPEC. */
export const conformance: Command = {
  name: 'conformance',
  summary: 'check your own transport or persistence against the SPEC, with a report per rule',
  usage: 'concord conformance [--transport MODULE] [--persistence MODULE] [--json] [--verbose]',
  details: [
    'Runs the suites of @concord/conformance with vitest: with --transport, the transport suite and the',
    'store and events suites over your transport and the in-memory persistence; with --persistence,',
    'the persistence suite and the store suite over your persistence and the in-memory transport; with',
    'both, all four over the pair. Prints, per SPEC rule, how many of its tests passed and failed, then',
    'each failure; --json prints the report as one JSON object. --timeout is the timeout of each test',
    '(default 20s). Exit code 0 when every test passed, 1 when one failed, 2 when a module cannot be used.',
    '',
    'MODULE is a file (.js, .mjs, or .ts: vitest compiles it), a package folder (its package.json',
    'export, usually a built dist), or an installed package name; MODULE#name picks the export.',
    'A transport module exports a factory returning a Transport — as default, `transport`,',
    '`createTransport`, or the only function named like `tcpTransport` — and optionally `address`',
    '(a string or a function; default tcp://127.0.0.1:0). A persistence factory is called with',
    '{ path }, a fresh folder per test, and again with the same path to reopen the data. Either',
    'may instead be an object { env() } returning a TransportEnv / PersistenceEnv of',
    '@concord/conformance, to offer transportFor, faults, crash, failCommits, failReads or corrupt.',
    '',
    'example: concord conformance --transport ./examples/transport-tcp',
  ].join('\n'),
  options: {
    transport: {
      type: 'string',
      value: 'MODULE',
      description: 'a module making your transport (file, package folder or package; MODULE#export)',
    },
    persistence: {
      type: 'string',
      value: 'MODULE',
      description: 'a module making your persistence (file, package folder or package; MODULE#export)',
    },
    verbose: { type: 'boolean', description: 'list every test under its rules, not only the failures' },
  },
  args: { min: 0, max: 0 },
  async run({ globals, options }, ctx) {
    const transportSpec = options.transport
    const persistenceSpec = options.persistence
    if (typeof transportSpec !== 'string' && typeof persistenceSpec !== 'string') {
      throw new UsageError(
        'give --transport MODULE, --persistence MODULE or both (see concord help conformance)',
      )
    }
    const { resolveTarget } = await import('../conformance/target.js')
    const transport =
      typeof transportSpec === 'string' ? resolveTarget(transportSpec, ctx.cwd, 'transport') : undefined
    const persistence =
      typeof persistenceSpec === 'string' ? resolveTarget(persistenceSpec, ctx.cwd, 'persistence') : undefined
    const { runConformance, suitesFor } = await import('../conformance/run.js')
    const suites = suitesFor(transport !== undefined, persistence !== undefined)
    await line(
      ctx.stderr,
      `running the ${suites.slice(0, -1).join(', ')} and ${suites.at(-1)} suites with vitest…`,
    )
    const outcome = await runConformance({
      ...(transport === undefined ? {} : { transport }),
      ...(persistence === undefined ? {} : { persistence }),
      timeout: globals.timeout ?? TEST_TIMEOUT,
      signal: ctx.signal,
      debug: globals.debug,
    })
    if (outcome.interrupted) throw new InterruptedError('conformance run stopped before the end')
    if (outcome.usageErrors.length > 0) throw new UsageError(outcome.usageErrors.join('\n'))
    if (globals.json) await line(ctx.stdout, JSON.stringify(outcome.report))
    else
      for (const text of formatReport(outcome.report, options.verbose === true)) await line(ctx.stdout, text)
    return outcome.report.ok ? ExitCodes.OK : ExitCodes.FAILED
  },
}
