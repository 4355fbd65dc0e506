/**
 * The public API's types.
 */
import type { AnySchemaType } from '@concord/schema'
import { describe, expectTypeOf, test } from 'vitest'
import {
  type CommandContext,
  type ConcordConfig,
  type ExitCode,
  ExitCodes,
  formatValue,
  loadConfig,
  parseValue,
  parseZeekType,
  run,
} from '../src/index.js'

describe('public API types', () => {
  test('run resolves to an exit code number and never needs a try', () => {
    expectTypeOf(run).parameters.toEqualTypeOf<[readonly string[], CommandContext]>()
    expectTypeOf(run).returns.resolves.toBeNumber()
  })

  test('exit codes are literal numbers', () => {
    expectTypeOf(ExitCodes.NOT_FOUND).toEqualTypeOf<3>()
    expectTypeOf<ExitCode>().toEqualTypeOf<0 | 1 | 2 | 3 | 130>()
  })

  test('types and values', () => {
    expectTypeOf(parseZeekType).returns.toEqualTypeOf<AnySchemaType>()
    expectTypeOf(formatValue).returns.toBeString()
    expectTypeOf(parseValue).returns.toBeUnknown()
    expectTypeOf(loadConfig).returns.resolves.toEqualTypeOf<ConcordConfig>()
  })
})
