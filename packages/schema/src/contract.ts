/**
 * The contract between a schema implementation and Concord's core.
 *
 * This module has no dependencies and contains no builders: `@concord/core` depends on it
 * alone, so a user may bring their own schema implementation (anything that satisfies
 * {@link Schema}) while `@concord/schema`'s builders stay the batteries-included choice.
 *
 * @module
 */

const ERROR_BRAND = Symbol.for('@concord/error')

/** One problem found in a value, with the path to it, e.g. `conns[3].id.orig_h`. */
export interface Issue {
  /** Path from the root of the value: `.field`, `[index]`, `{key}` segments; `''` is the root. */
  readonly path: string
  /** A stable, machine-readable kind of problem. */
  readonly code: IssueCode
  /** A human-readable sentence. */
  readonly message: string
}

/** Kinds of {@link Issue}. Stable API. */
export type IssueCode =
  | 'type' // wrong JavaScript type
  | 'range' // integer out of range, port out of range, non-finite double, bad prefix length
  | 'format' // unparsable address, subnet, timestamp, timespan, port text
  | 'enum' // unknown enum name
  | 'missing' // required record field absent
  | 'extra' // record field the schema does not declare
  | 'duplicate' // two set elements or table keys that are equal by value
  | 'size' // value larger than a configured limit

/** Options accepted by the constructor of every {@link ConcordError}. */
export interface ConcordErrorOptions {
  readonly cause?: unknown
}

/**
 * The base class of every error Concord raises on purpose. `code` is stable API; `name` is
 * the subclass's name. Use {@link isConcordError} rather than `instanceof` when values may
 * cross copies of the package.
 */
export class ConcordError extends Error {
  /** Stable, machine-readable code, e.g. `ERR_SCHEMA_INVALID`. */
  readonly code: string
  readonly [ERROR_BRAND] = true

  constructor(code: string, message: string, options: ConcordErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.name = new.target.name
  }
}

/** True for any {@link ConcordError}, from any copy of the package; with `code`, only that code. */
export function isConcordError(value: unknown, code?: string): value is ConcordError {
  if (typeof value !== 'object' || value === null) return false
  const branded = (value as Record<symbol, unknown>)[ERROR_BRAND] === true
  return branded && (code === undefined || (value as ConcordError).code === code)
}

/** A value does not match its schema. `issues` lists every problem with its path. */
export class ValidationError extends ConcordError {
  static readonly code = 'ERR_SCHEMA_INVALID'
  readonly issues: readonly Issue[]

  constructor(issues: readonly Issue[], options: ConcordErrorOptions & { readonly context?: string } = {}) {
    const head = issues
      .slice(0, 3)
      .map((i) => `${i.path === '' ? '(root)' : i.path}: ${i.message}`)
      .join('; ')
    const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : ''
    const prefix = options.context === undefined ? 'invalid value' : options.context
    super(ValidationError.code, `${prefix}: ${head}${more}`, options)
    this.issues = issues
  }
}

/** Bytes that are truncated, corrupt or were not produced by this schema's encoder. */
export class DecodeError extends ConcordError {
  static readonly code = 'ERR_DECODE'
  /** Byte offset at which decoding failed, when known. */
  readonly offset: number | undefined

  constructor(message: string, options: ConcordErrorOptions & { readonly offset?: number } = {}) {
    super(DecodeError.code, message, options)
    this.offset = options.offset
  }
}

/**
 * What core needs from a schema. `T` is the value type a reader gets back; `I` is what a
 * writer may pass in (the same, except that record fields with defaults may be left out).
 *
 * Implementations must be pure and deterministic: equal schemas built in different
 * processes have equal fingerprints, and `decode(encode(v))` equals `v` for every valid `v`.
 */
export interface Schema<T = unknown, I = T> {
  /**
   * A stable identity of the schema's wire format. Equal for equal schemas built anywhere;
   * different after any incompatible change.
   */
  readonly fingerprint: string
  /** Every issue of `value` against the schema; empty when valid. Never throws. */
  validate(value: unknown): Issue[]
  /** Encodes a valid value. Throws {@link ValidationError} when it is not valid. */
  encode(value: I): Uint8Array
  /**
   * Like `encode`, for bytes the caller copies soon and then drops (a write on its way to the
   * master): they may share one buffer with other such results, so keeping them would keep
   * that buffer. Optional: without it core calls `encode`.
   */
  encodeTransient?(value: I): Uint8Array
  /** Decodes bytes made by `encode`. Throws {@link DecodeError} on anything else. */
  decode(bytes: Uint8Array): T
  /**
   * Whether data written under the schema with fingerprint `other` can be read by this one
   * and the other way round. Optional: when absent, only equal fingerprints are compatible.
   */
  compatibleWith?(other: string): boolean
  /**
   * The schema's canonical text (`count`, `record("a":addr)`), which core puts in the
   * messages that refuse another schema (S2.2). Optional: without it they give the
   * fingerprint alone.
   */
  describe?(): string
}

/** Any schema, whatever its value types (for configuration objects that hold many). */
// biome-ignore lint/suspicious/noExplicitAny: a schema of any value type must fit here, in both variances
export type AnySchema = Schema<any, any>

/** Whether two schema fingerprints may meet (a master and a clone, a store and its file). */
export function schemasCompatible(local: Schema, remoteFingerprint: string): boolean {
  if (local.fingerprint === remoteFingerprint) return true
  return local.compatibleWith?.(remoteFingerprint) ?? false
}
