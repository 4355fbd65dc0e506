/**
 * The class of every schema `t` builds.
 *
 * @module
 */
import { defaultImpl, optionalImpl } from './builders/modifiers.js'
import { DecodeError, type Issue, type Schema, ValidationError } from './contract.js'
import { compatible, computeFingerprint, valueText } from './fingerprint.js'
import type { FieldMode, Impl } from './impl.js'
import type { AnySchemaType } from './infer.js'
import { errorText, INVALID, IssueSink } from './issues.js'
import { Reader } from './reader.js'
import { acquireWriter, releaseWriter, takeBytes, takeTransientBytes, type Writer } from './writer.js'

/** Kinds of scalar schemas. */
export type ScalarKind =
  | 'bool'
  | 'int'
  | 'count'
  | 'double'
  | 'string'
  | 'time'
  | 'interval'
  | 'port'
  | 'addr'
  | 'subnet'

/** What a schema is, for introspection: its kind and its parts. */
export type SchemaDef =
  | { readonly kind: ScalarKind }
  | { readonly kind: 'enum'; readonly names: readonly string[] }
  | { readonly kind: 'set' | 'vector'; readonly element: AnySchemaType }
  | { readonly kind: 'table'; readonly key: AnySchemaType; readonly value: AnySchemaType }
  | { readonly kind: 'record'; readonly fields: { readonly [name: string]: AnySchemaType } }
  | { readonly kind: 'optional'; readonly inner: AnySchemaType }
  | { readonly kind: 'default'; readonly inner: AnySchemaType; readonly value: unknown }

/** Every kind of schema. */
export type SchemaKind = SchemaDef['kind']

const BRAND = Symbol.for('@concord/schema.type')

/**
 * A schema built by `t`: validates, encodes, decodes and fingerprints values of type `T`,
 * accepting `I` for encoding. `M` says how it behaves as a record field: `'required'`,
 * `'optional'` (may be absent) or `'default'` (absent means the default value).
 *
 * Schemas are immutable and compile their codec when built; build them once and reuse them.
 */
export class SchemaType<T = unknown, I = T, M extends FieldMode = FieldMode> implements Schema<T, I> {
  /** What this schema is: `kind` and parts (`fields`, `element`, `names`, …). */
  readonly def: SchemaDef
  /** How this schema behaves as a record field. */
  readonly mode: M
  /** @internal The compiled operations. */
  readonly impl: Impl
  readonly [BRAND] = true
  #fingerprint: string | undefined

  /** @internal Use the builders of `t`. */
  constructor(def: SchemaDef, impl: Impl) {
    this.def = def
    this.impl = impl
    this.mode = impl.mode as M
  }

  /** The kind of schema (`'record'`, `'count'`, …). */
  get kind(): SchemaKind {
    return this.def.kind
  }

  /**
   * `cs1:<base hash>` plus one `;<path>#<index>=<hash>` entry per record extension field. See
   * the package README ("Evolution and fingerprints").
   */
  get fingerprint(): string {
    this.#fingerprint ??= computeFingerprint(this as unknown as AnySchemaType)
    return this.#fingerprint
  }

  /** The canonical description: equal for equal schemas, e.g. `record("a":count,"b":optional(string))`. */
  describe(): string {
    return this.impl.desc
  }

  /** Every issue of `value`, each with its path; empty when valid. Never throws. */
  validate(value: unknown): Issue[] {
    const sink = new IssueSink()
    try {
      this.impl.check(value, '', sink)
    } catch (error) {
      sink.finish(error)
    }
    return sink.issues
  }

  /**
   * Encodes a valid value into a new `Uint8Array` of its own. Throws {@link ValidationError}
   * listing every issue when the value is not valid.
   */
  encode(value: I): Uint8Array {
    return this.#encode(value, takeBytes)
  }

  /**
   * Like {@link encode}, but a small result is a view of a buffer shared with other such
   * results (about half the cost of a buffer of its own): for bytes copied soon and then
   * dropped, as core does with a write on its way to the master. Keeping the result keeps the
   * shared buffer (64 KiB) alive.
   */
  encodeTransient(value: I): Uint8Array {
    return this.#encode(value, takeTransientBytes)
  }

  #encode(value: I, take: (w: Writer) => Uint8Array): Uint8Array {
    const w = acquireWriter()
    try {
      this.impl.enc(w, value)
      return take(w)
    } catch (error) {
      throw this.encodeFailure(value, error)
    } finally {
      releaseWriter(w)
    }
  }

  private encodeFailure(value: unknown, error: unknown): unknown {
    // The encoder only knows that something is wrong; validation says what and where.
    const issues = this.validate(value)
    const cause = error === INVALID ? undefined : error
    if (issues.length > 0) return new ValidationError(issues, { cause })
    if (error !== INVALID) return error
    return new ValidationError(
      [{ path: '', code: 'type', message: 'the value changed while it was being encoded' }],
      { cause },
    )
  }

  /** Decodes bytes made by `encode` (under this schema or a compatible one). Throws {@link DecodeError}. */
  decode(bytes: Uint8Array): T {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('decode: expected a Uint8Array')
    const r = new Reader(bytes)
    let value: unknown
    try {
      value = this.impl.dec(r)
    } catch (error) {
      if (error instanceof DecodeError) throw error
      throw new DecodeError(`could not decode: ${errorText(error)}`, { cause: error, offset: r.pos })
    }
    if (r.pos !== r.end) {
      throw new DecodeError(`${r.end - r.pos} bytes left over after the value (at byte ${r.pos})`, {
        offset: r.pos,
      })
    }
    return value as T
  }

  /** Whether data written under the schema with fingerprint `other` can be read here and vice versa. */
  compatibleWith(other: string): boolean {
    return compatible(this.fingerprint, other)
  }

  /**
   * This schema as an optional record field or element: `undefined` (absent) is allowed, nil on
   * the wire and `none` in JSON.
   */
  optional(this: SchemaType<T, I, 'required'>): SchemaType<T | undefined, I | undefined, 'optional'> {
    if (this.impl.mode !== 'required')
      throw new TypeError('optional(): the schema is already optional or defaulted')
    return new SchemaType(
      { kind: 'optional', inner: this as unknown as AnySchemaType },
      optionalImpl(this.impl),
    )
  }

  /**
   * This schema with a default: as a record field it may be left out of the input and is
   * always present in the output. Throws `TypeError` when `value` is not valid.
   */
  default(this: SchemaType<T, I, 'required'>, value: I): SchemaType<T, I | undefined, 'default'> {
    if (this.impl.mode !== 'required')
      throw new TypeError('default(): the schema is already optional or defaulted')
    const issues = this.validate(value)
    if (issues.length > 0) {
      throw new TypeError(`default(): the default value is invalid: ${new ValidationError(issues).message}`)
    }
    return new SchemaType(
      { kind: 'default', inner: this as unknown as AnySchemaType, value },
      defaultImpl(this.impl, value, valueText(this as unknown as AnySchemaType, value)),
    )
  }
}

/** Whether `value` is a schema built by `t` (from any copy of this package). */
export function isSchemaType(value: unknown): value is AnySchemaType {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
}
