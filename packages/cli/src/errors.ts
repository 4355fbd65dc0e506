/**
 * The errors the CLI adds to core's. Codes are stable API (listed in the package README);
 * each maps to one exit code in `exitCodeOf`.
 *
 * @module
 */
import { ConcordError, type ConcordErrorOptions, isConcordError } from '@concord/core'

/** Exit codes of the `concord` command. Stable API. */
export const ExitCodes = {
  /** Success. */
  OK: 0,
  /** An operation failed: the hub refused or was unreachable, rows failed to import, … */
  FAILED: 1,
  /** Bad command line or config file: nothing was done. */
  USAGE: 2,
  /** `get` found no such key. */
  NOT_FOUND: 3,
  /** Stopped by Ctrl-C before a bounded job (import, export) finished. */
  INTERRUPTED: 130,
} as const

/** One of {@link ExitCodes}. */
export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes]

/** The command line is wrong: an unknown command or option, a missing argument, a value that does not parse. */
export class UsageError extends ConcordError {
  static readonly code = 'ERR_USAGE'
  constructor(message: string, options?: ConcordErrorOptions) {
    super(UsageError.code, message, options)
  }
}

/** One problem found in a config file. */
export interface ConfigProblem {
  /** Dotted path of the key, e.g. `stores.conn.expiry`; empty for the whole file. */
  readonly path: string
  /** What is wrong: what was expected and what was found. */
  readonly message: string
  /** 1-based line in the file, when known. */
  readonly line?: number
}

/** The config file is missing, not YAML, or does not describe a valid deployment. */
export class ConfigError extends ConcordError {
  static readonly code = 'ERR_CONFIG'
  /** Every problem found (validation does not stop at the first). */
  readonly problems: readonly ConfigProblem[]
  /** The file, when there is one. */
  readonly file: string | undefined

  constructor(file: string | undefined, problems: readonly ConfigProblem[], options?: ConcordErrorOptions) {
    const lines = problems.map((p) => formatProblem(file, p))
    const head = problems.length === 1 ? 'invalid config' : `invalid config (${problems.length} problems)`
    super(ConfigError.code, `${head}:\n${lines.map((l) => `  ${l}`).join('\n')}`, options)
    this.file = file
    this.problems = problems
  }
}

function formatProblem(file: string | undefined, p: ConfigProblem): string {
  const where = file === undefined ? '' : p.line === undefined ? `${file}: ` : `${file}:${p.line}: `
  const what = p.path === '' ? '' : `${p.path}: `
  return `${where}${what}${p.message}`
}

/** A Zeek type string does not parse. `offset`, `line` and `column` point at the problem. */
export class TypeSyntaxError extends ConcordError {
  static readonly code = 'ERR_TYPE_SYNTAX'
  /** 0-based offset into the text. */
  readonly offset: number
  /** 1-based line and column in the text. */
  readonly line: number
  readonly column: number
  /** The message without the position. */
  readonly reason: string

  constructor(text: string, offset: number, reason: string, options?: ConcordErrorOptions) {
    const before = text.slice(0, offset)
    const line = before.split('\n').length
    const column = offset - (before.lastIndexOf('\n') + 1) + 1
    super(TypeSyntaxError.code, `${reason} (line ${line}, column ${column})`, options)
    this.offset = offset
    this.line = line
    this.column = column
    this.reason = reason
  }
}

/** `get` asked for a key the store does not hold. */
export class NotFoundError extends ConcordError {
  static readonly code = 'ERR_NOT_FOUND'
  constructor(message: string, options?: ConcordErrorOptions) {
    super(NotFoundError.code, message, options)
  }
}

/** A bounded job was stopped by the user (Ctrl-C) before it finished. */
export class InterruptedError extends ConcordError {
  static readonly code = 'ERR_INTERRUPTED'
  constructor(message: string, options?: ConcordErrorOptions) {
    super(InterruptedError.code, message, options)
  }
}

/** Where a value came from: a key of the config file, or options on the command line. */
export type ValueSource =
  | { readonly file: string | undefined; readonly path: string }
  | { readonly commandLine: string }

/**
 * An error an adapter threw for a value the user gave, as the CLI reports it. Adapters refuse
 * bad arguments with a plain `TypeError` or `RangeError` (a programmer's mistake in a
 * program; a user's here, since the value came from the config or the command line): that
 * becomes a `ConfigError` naming the key, or a `UsageError` naming the options. Anything
 * else (the hub refused, the port is taken) is returned as it is.
 */
export function refusedValue(error: unknown, source: ValueSource): unknown {
  if (!(error instanceof TypeError || error instanceof RangeError) || isConcordError(error)) return error
  if ('commandLine' in source)
    return new UsageError(`${source.commandLine}: ${error.message}`, { cause: error })
  return new ConfigError(source.file, [{ path: source.path, message: error.message }], { cause: error })
}

/** The exit code for an error a command threw. */
export function exitCodeOf(error: unknown): ExitCode {
  if (isConcordError(error, UsageError.code) || isConcordError(error, ConfigError.code))
    return ExitCodes.USAGE
  if (isConcordError(error, TypeSyntaxError.code)) return ExitCodes.USAGE
  if (isConcordError(error, NotFoundError.code)) return ExitCodes.NOT_FOUND
  if (isConcordError(error, InterruptedError.code)) return ExitCodes.INTERRUPTED
  return ExitCodes.FAILED
}
