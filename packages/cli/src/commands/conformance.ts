/**
 * `concord conformance`: reserved. It will run the conformance suites of
 * `@concord/conformance` against a user's transport or persistence module and print a
 * per-rule report.
 *
 * @module
 */
import { UsageError } from '../errors.js'
import type { Command } from './command.js'

/** `concord conformance`: reserved for a later release. */
export const conformance: Command = {
  name: 'conformance',
  summary: 'check your own transport or persistence against the SPEC (coming in a later release)',
  usage: 'concord conformance --transport ./my-transport.js [--persistence ./my-persistence.js]',
  details:
    'Reserved: it will run the suites of @concord/conformance against the module and print a report per\nrule. Until then, run those suites with vitest (see conformance/README.md).',
  options: {
    transport: {
      type: 'string',
      value: 'MODULE',
      description: 'a module whose default export makes your transport',
    },
    persistence: {
      type: 'string',
      value: 'MODULE',
      description: 'a module whose default export makes your persistence',
    },
  },
  args: { min: 0, max: 0 },
  async run() {
    throw new UsageError(
      'concord conformance is not available yet: run the @concord/conformance suites with vitest',
    )
  },
}
