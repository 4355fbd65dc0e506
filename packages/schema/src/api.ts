/**
 * The functions of the public API. Each works on a schema; the schema's own methods do the same.
 *
 * @module
 */
import type { Issue, Schema } from './contract.js'
import { ValidationError } from './contract.js'
import type { AnySchemaType, Infer, InferInput } from './infer.js'
import { errorText, FAIL, IssueSink } from './issues.js'
import { JsonSyntaxError, parseJson } from './json-parse.js'

/** Every issue of `value` against `schema`, each with its path; empty when valid. Never throws. */
export function validate(schema: Schema, value: unknown): Issue[] {
  return schema.validate(value)
}

/** Encodes a valid value with the compact binary codec. Throws {@link ValidationError} listing every issue. */
export function encode<S extends Schema>(schema: S, value: InferInput<S>): Uint8Array {
  return schema.encode(value)
}

/** Decodes bytes made by `encode`. Throws `DecodeError` on truncated, corrupt or foreign bytes. */
export function decode<S extends Schema>(schema: S, bytes: Uint8Array): Infer<S> {
  return schema.decode(bytes) as Infer<S>
}

/** The schema's fingerprint (see the README: "Evolution and fingerprints"). */
export function fingerprint(schema: Schema): string {
  return schema.fingerprint
}

/**
 * Zeek/Broker JSON v1 text of a valid value: `{"@data-type": …, "data": …}` all the way down,
 * integers written exactly. Throws {@link ValidationError} listing every issue.
 */
export function toJson<S extends AnySchemaType>(schema: S, value: InferInput<S>): string {
  const issues = schema.validate(value)
  if (issues.length > 0) throw new ValidationError(issues)
  try {
    return schema.impl.toJ(value)
  } catch (error) {
    throw new ValidationError(
      [{ path: '', code: 'type', message: `the value could not be read: ${errorText(error)}` }],
      { cause: error },
    )
  }
}

/**
 * The value of Zeek/Broker JSON v1: text (parsed here, integers beyond 2^53 kept exact) or an
 * already parsed value (integers beyond 2^53 are then a `range` issue: pass the text). Throws
 * {@link ValidationError} listing every issue, with paths as `validate` gives them; never
 * anything else on bad input.
 */
export function fromJson<S extends AnySchemaType>(schema: S, json: string | object): Infer<S> {
  const sink = new IssueSink()
  let value: unknown = FAIL
  try {
    const tree = typeof json === 'string' ? parseJson(json) : json
    value = schema.impl.fromJ(tree, '', sink)
  } catch (error) {
    if (error instanceof JsonSyntaxError)
      sink.issues.push({ path: '', code: 'format', message: error.message })
    else sink.finish(error)
  }
  if (sink.issues.length > 0 || value === FAIL) {
    if (sink.issues.length === 0) sink.issues.push({ path: '', code: 'type', message: 'not a valid value' })
    throw new ValidationError(sink.issues, { context: 'invalid JSON value' })
  }
  // Belt and braces: the converters check as they go, but a value fromJson returns is always valid.
  const issues = schema.validate(value)
  if (issues.length > 0) throw new ValidationError(issues, { context: 'invalid JSON value' })
  return value as Infer<S>
}

/** Whether two fingerprints may meet; see `fingerprint.ts`. */
export { compatible } from './fingerprint.js'
