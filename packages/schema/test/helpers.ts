/** Small helpers shared by the fixed-case tests. */
import { expect } from 'vitest'
import { type Issue, isConcordError, type Schema, ValidationError } from '../src/index.js'

/** Hex of bytes, for comparing wire forms. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

/** Bytes of a hex string. */
export function bytes(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'))
}

/** The issues of the ValidationError that `fn` throws. */
export function issuesOf(fn: () => unknown): Issue[] {
  try {
    fn()
  } catch (error) {
    expect(isConcordError(error, ValidationError.code)).toBe(true)
    return [...(error as ValidationError).issues]
  }
  throw new Error('expected a ValidationError')
}

/** `[path, code]` pairs of a schema's issues with a value. */
export function codes(schema: Schema, value: unknown): [string, string][] {
  return schema.validate(value).map((i) => [i.path, i.code])
}
