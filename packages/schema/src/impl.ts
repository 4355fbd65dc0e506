/**
 * The compiled form of a schema: closures built once when the schema is built, so encoding,
 * decoding, validation and JSON conversion never interpret the schema tree per call.
 *
 * Internal: not exported from the package entry.
 *
 * @module
 */
import type { FAIL, IssueSink } from './issues.js'
import type { Reader } from './reader.js'
import type { Writer } from './writer.js'

/** How a schema behaves as a record field: required, optional (may be absent) or defaulted. */
export type FieldMode = 'required' | 'optional' | 'default'

/** The compiled operations of one schema node. */
export interface Impl {
  /** Canonical description; equal schemas have equal descriptions. */
  readonly desc: string
  readonly mode: FieldMode
  /**
   * Whether values are objects that JavaScript's `Set`/`Map` compare by identity, so sets and
   * tables must compare them by {@link Impl.key} instead.
   */
  readonly composite: boolean
  /** Writes a value; throws `INVALID` at the first problem (cheap checks only). */
  readonly enc: (w: Writer, value: unknown) => void
  /** Reads a value; throws `DecodeError`. Recursion depth is bounded by the schema's depth. */
  readonly dec: (r: Reader) => unknown
  /** Adds every issue of `value` to `sink`; returns whether it found none. Never throws but `TOO_MANY_ISSUES`. */
  readonly check: (value: unknown, path: string, sink: IssueSink) => boolean
  /** Zeek/Broker JSON v1 text of a valid value. */
  readonly toJ: (value: unknown) => string
  /** Converts a parsed Broker JSON value; reports issues and returns `FAIL` when it cannot. */
  readonly fromJ: (json: unknown, path: string, sink: IssueSink) => unknown | typeof FAIL
  /** A string equal for values equal by value (valid values only); used to find duplicates. */
  readonly key: (value: unknown) => string
  /** How a table key appears in a path (`{"k"}`), or `undefined` to use the entry index. */
  readonly render: (value: unknown) => string | undefined
  /** For an optional schema: the schema it makes optional (records handle nil themselves). */
  readonly inner?: Impl
  /** For a defaulted schema: a fresh copy of the default value (mutable defaults are never shared). */
  readonly fallback?: () => unknown
  /** For a defaulted schema: the default's canonical text in descriptions, taken when it was built. */
  readonly defaultText?: string
}
