/**
 * The shape of a command: its name, help text, options and what it runs.
 *
 * @module
 */

import { isConcordError, toMillis } from '@concord/core'
import type { AnySchemaType } from '@concord/schema'
import { isBareNumber, timerRange } from '../config.js'
import type { CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { type ParseValueOptions, parseInput } from '../parse-value.js'
import type { GlobalOptions } from '../session.js'

/** One option of a command, for `node:util` `parseArgs` and the help text. */
export interface OptionDef {
  readonly type: 'string' | 'boolean'
  readonly short?: string
  /** The value's name in help (`--key FIELD`). */
  readonly value?: string
  readonly description: string
}

/** What a command receives. */
export interface CommandInput {
  readonly globals: GlobalOptions
  /** Positional arguments after the command name. */
  readonly args: readonly string[]
  /** The command's own options. */
  readonly options: Readonly<Record<string, string | boolean | undefined>>
}

/** A `concord` command. */
export interface Command {
  readonly name: string
  /** One line for the command list. */
  readonly summary: string
  /** `concord get STORE KEY`. */
  readonly usage: string
  /** More help: what it prints, an example. */
  readonly details?: string
  readonly options?: Readonly<Record<string, OptionDef>>
  /** Positional arguments: at least `min`, at most `max`. */
  readonly args: { readonly min: number; readonly max: number }
  /** Runs; resolves to the exit code (default 0). */
  run(input: CommandInput, ctx: CommandContext): Promise<number | undefined>
}

/** The text of an error's problem without the "invalid value: (root):" framing. */
export function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.replace(/^invalid (value|JSON value): (\(root\): )?/, '')
}

/**
 * Parses a value typed on the command line; a value that does not parse is a usage error
 * (exit 2) saying what was expected.
 */
export function argValue(
  schema: AnySchemaType,
  text: string,
  json: boolean,
  what: string,
  options?: ParseValueOptions,
): unknown {
  try {
    return parseInput(schema, text, json, options)
  } catch (error) {
    if (isConcordError(error, 'ERR_SCHEMA_INVALID'))
      throw new UsageError(`bad ${what}: ${reason(error)}`, { cause: error })
    throw error
  }
}

/** Reads a `--number` option: a positive integer. */
export function positiveInteger(value: string | boolean | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`--${name} takes a positive integer, got ${JSON.stringify(value)}`)
  }
  return n
}

/**
 * Reads a `--name DURATION` option a timer waits for: a duration with a unit (a bare number
 * is ambiguous), from `minMs` to what a timer can wait; in ms.
 */
export function durationOption(
  value: string | boolean | undefined,
  name: string,
  minMs: number,
): number | undefined {
  if (value === undefined) return undefined
  let ms: number
  try {
    if (typeof value !== 'string' || isBareNumber(value)) throw new RangeError('no unit')
    ms = toMillis(value)
  } catch {
    throw new UsageError(`--${name} takes a duration like 5s or 1m, got ${JSON.stringify(value)}`)
  }
  if (!(ms >= minMs && ms <= timerRange.max)) {
    throw new UsageError(
      `--${name} takes a duration from ${minMs}ms to ${timerRange.maxText}, got ${JSON.stringify(value)}`,
    )
  }
  return ms
}
