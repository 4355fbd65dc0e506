/**
 * Issue collection and the small, never-throwing helpers that describe values and paths.
 *
 * @module
 */
import type { Issue, IssueCode } from './contract.js'

/**
 * The most issues one validation collects. A hostile value (a sparse array of a billion holes)
 * would otherwise make `validate` allocate without bound; past this the sink stops looking.
 */
export const MAX_ISSUES = 1000

/** Thrown by {@link IssueSink.add} when {@link MAX_ISSUES} is reached; caught at the top level. */
export const TOO_MANY_ISSUES: unique symbol = Symbol('too many issues')

/**
 * Thrown by compiled encoders on the first problem. It carries nothing because the public
 * `encode` answers it by running the full validation, which reports every issue with its path.
 */
export const INVALID: unique symbol = Symbol('invalid')

/** Returned by JSON converters for a value that produced issues. */
export const FAIL: unique symbol = Symbol('fail')

/** Collects the issues of one validation or one `fromJson` call. */
export class IssueSink {
  readonly issues: Issue[] = []

  add(path: string, code: IssueCode, message: string): void {
    if (this.issues.length >= MAX_ISSUES) throw TOO_MANY_ISSUES
    this.issues.push({ path, code, message })
  }

  /** Records why the sink stopped early, when it did. */
  finish(error: unknown): void {
    if (error === TOO_MANY_ISSUES) {
      this.issues.push({ path: '', code: 'size', message: `more than ${MAX_ISSUES} issues; stopped looking` })
    } else {
      this.issues.push({
        path: '',
        code: 'type',
        message: `the value could not be read: ${errorText(error)}`,
      })
    }
  }
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

/** The path of a record field: `a.b`, or `a["odd name"]` for names that are not identifiers. */
export function fieldPath(path: string, name: string): string {
  if (!IDENTIFIER.test(name)) return `${path}[${JSON.stringify(name)}]`
  return path === '' ? name : `${path}.${name}`
}

/** The path of the element at `index` of a vector or set (sets count in iteration order). */
export function indexPath(path: string, index: number): string {
  return `${path}[${index}]`
}

/** A short description of any value for messages. Runs no user code that could throw uncaught. */
export function show(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value.length > 60 ? `${JSON.stringify(value.slice(0, 60))}…` : JSON.stringify(value)
    case 'number':
      return `the number ${Object.is(value, -0) ? '-0' : String(value)}`
    case 'bigint':
      return `${value}n`
    case 'boolean':
      return String(value)
    case 'undefined':
      return 'undefined'
    case 'symbol':
      return 'a symbol'
    case 'function':
      return 'a function'
  }
  if (value === null) return 'null'
  try {
    if (Array.isArray(value)) return 'an array'
    if (value instanceof Set) return 'a Set'
    if (value instanceof Map) return 'a Map'
    if (value instanceof Date) return 'a Date'
    if (value instanceof Uint8Array) return 'a Uint8Array'
  } catch {
    // A revoked Proxy throws on every question; it is still "an object".
  }
  return 'an object'
}

/** The message of anything thrown, without letting a hostile `toString` escape. */
export function errorText(error: unknown): string {
  try {
    if (error instanceof Error) return error.message
    return String(error)
  } catch {
    return 'an unprintable error'
  }
}

/** A problem found by a parser, before it knows the path it belongs to. */
export class Problem {
  constructor(
    readonly code: IssueCode,
    readonly message: string,
  ) {}

  /** As a {@link ValidationError}-ready issue at the root. */
  toIssue(path = ''): Issue {
    return { path, code: this.code, message: this.message }
  }
}
