/**
 * Property-based tests of the codecs over generated schemas and values.
 */
import fc from 'fast-check'
import { pack } from 'msgpackr'
import { describe, expect, test } from 'vitest'
import { DecodeError, fromJson, isConcordError, toJson, ValidationError } from '../src/index.js'
import { normalize, schemaAndValue, schemaArb, valueArb } from './arbitraries.js'

const RUNS = 400

describe('generated schemas and values', () => {
  test('generated values are valid', () => {
    fc.assert(
      fc.property(schemaAndValue(3), ([schema, value]) => {
        expect(schema.validate(value)).toEqual([])
      }),
      { numRuns: RUNS },
    )
  })

  test('decode(encode(v)) equals v (defaults filled in)', () => {
    fc.assert(
      fc.property(schemaAndValue(3), ([schema, value]) => {
        const decoded = schema.decode(schema.encode(value as never))
        expect(decoded).toEqual(normalize(schema, value))
        expect(schema.validate(decoded)).toEqual([])
      }),
      { numRuns: RUNS },
    )
  })

  test('encoding is deterministic and re-encoding a decoded value gives the same bytes', () => {
    fc.assert(
      fc.property(schemaAndValue(3), ([schema, value]) => {
        const bytes = schema.encode(value as never)
        expect(schema.encode(value as never)).toEqual(bytes)
        expect(schema.encode(schema.decode(bytes) as never)).toEqual(bytes)
      }),
      { numRuns: RUNS },
    )
  })

  test('encodeTransient gives the bytes of encode; earlier results stay intact; large ones are buffers of their own', () => {
    const kept: Array<readonly [Uint8Array, Uint8Array]> = []
    fc.assert(
      fc.property(schemaAndValue(3), ([schema, value]) => {
        const transient = schema.encodeTransient(value as never)
        const bytes = schema.encode(value as never)
        expect(transient).toEqual(bytes)
        if (transient.byteLength > 1024) expect(transient.buffer.byteLength).toBe(transient.byteLength)
        kept.push([transient, bytes])
      }),
      { numRuns: RUNS },
    )
    for (const [transient, bytes] of kept) expect(transient).toEqual(bytes)
  })

  test('fromJson(toJson(v)) equals v, from text and from a parsed tree', () => {
    fc.assert(
      fc.property(schemaAndValue(3), ([schema, value]) => {
        const json = toJson(schema, value as never)
        expect(fromJson(schema, json)).toEqual(normalize(schema, value))
        // JSON.parse rounds integers beyond 2^53: a parsed tree is exact only without them.
        let parsed: unknown
        try {
          parsed = fromJson(schema, JSON.parse(json))
        } catch (error) {
          expect(isConcordError(error, ValidationError.code)).toBe(true)
          expect((error as ValidationError).issues.every((i) => i.code === 'range')).toBe(true)
          return
        }
        expect(parsed).toEqual(normalize(schema, value))
      }),
      { numRuns: RUNS },
    )
  })
})

/**
 * A near miss of a valid value: numbers for bigints and back, -0, a lone surrogate or upper
 * case in strings, an array, a Date or an object with a prototype in place of a plain object,
 * an extra property on an array. `r` picks the mutations.
 */
function nearMiss(v: unknown, r: number): unknown {
  if (v instanceof Set) return new Set([...v].map((x) => nearMiss(x, r)))
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, nearMiss(x, r)]))
  if (Array.isArray(v))
    return r % 5 === 0 ? Object.assign([...v], { extra: 1 }) : v.map((x) => nearMiss(x, r))
  if (typeof v === 'object' && v !== null) {
    if (r % 7 === 0) return Object.assign([], v)
    if (r % 11 === 0) return Object.assign(Object.create({ inherited: 1 }), v)
    if (r % 13 === 0) return Object.assign(new Date(), v)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, nearMiss(x, r)]))
  }
  if (typeof v === 'bigint') return r % 3 === 0 ? Number(v) : v
  if (typeof v === 'number') return r % 3 === 0 ? BigInt(Math.trunc(v)) : r % 4 === 0 ? -0 : v
  if (typeof v === 'string') return r % 3 === 0 ? `${v}\ud800` : r % 4 === 0 ? v.toUpperCase() : v
  return v
}

describe('encode and toJson agree with validate', () => {
  test('on near misses of valid values and on arbitrary values', () => {
    fc.assert(
      fc.property(schemaAndValue(3), fc.nat(), fc.anything(), ([schema, value], r, junk) => {
        for (const v of [nearMiss(value, r), junk]) {
          const valid = schema.validate(v).length === 0
          const outcome = (fn: () => unknown) => {
            try {
              fn()
              return true
            } catch (error) {
              expect(isConcordError(error, ValidationError.code)).toBe(true)
              return false
            }
          }
          expect(outcome(() => schema.encode(v as never))).toBe(valid)
          expect(outcome(() => toJson(schema, v as never))).toBe(valid)
        }
      }),
      { numRuns: RUNS },
    )
  })
})

/** Decoding must throw DecodeError or give a valid value; anything else fails. */
function decodesSafely(
  schema: { decode(b: Uint8Array): unknown; validate(v: unknown): unknown[] },
  bytes: Uint8Array,
) {
  let value: unknown
  try {
    value = schema.decode(bytes)
  } catch (error) {
    expect(error).toBeInstanceOf(DecodeError)
    return
  }
  expect(schema.validate(value)).toEqual([])
}

describe('decoding hostile bytes', () => {
  test('garbage bytes throw DecodeError or decode to a valid value', () => {
    fc.assert(
      fc.property(schemaArb(3), fc.uint8Array({ maxLength: 64 }), (schema, bytes) => {
        decodesSafely(schema, bytes)
      }),
      { numRuns: RUNS * 2 },
    )
  })

  test('mutated and truncated encodings throw DecodeError or decode to a valid value', () => {
    const mutation = fc.record({
      cut: fc.nat(),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      extra: fc.uint8Array({ maxLength: 3 }),
    })
    fc.assert(
      fc.property(schemaAndValue(3), mutation, ([schema, value], { cut, flips, extra }) => {
        const bytes = schema.encode(value as never)
        const mutated = Uint8Array.from(bytes)
        for (const [at, byte] of flips) if (mutated.length > 0) mutated[at % mutated.length] = byte
        decodesSafely(schema, mutated)
        decodesSafely(schema, bytes.subarray(0, bytes.length === 0 ? 0 : cut % bytes.length))
        const longer = new Uint8Array(bytes.length + extra.length)
        longer.set(bytes)
        longer.set(extra, bytes.length)
        if (extra.length > 0) expect(() => schema.decode(longer)).toThrow(DecodeError)
      }),
      { numRuns: RUNS },
    )
  })

  test('arrays with elements dropped or added throw DecodeError or decode to a valid value', () => {
    fc.assert(
      fc.property(schemaAndValue(3), fc.nat(), fc.boolean(), ([schema, value], pick, grow) => {
        const bytes = schema.encode(value as never)
        const headers = [...bytes.keys()].filter(
          (i) => (bytes[i]! & 0xf0) === 0x90 && (grow ? bytes[i]! < 0x9f : bytes[i]! > 0x90),
        )
        if (headers.length === 0) return
        const mutated = Uint8Array.from(bytes)
        const at = headers[pick % headers.length]!
        mutated[at] = mutated[at]! + (grow ? 1 : -1)
        decodesSafely(schema, mutated)
      }),
      { numRuns: RUNS },
    )
  })

  test('foreign msgpack (msgpackr of arbitrary values) throws DecodeError or decodes to a valid value', () => {
    const foreign = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom(null, true, false, 0, -1, 127, 2 ** 32, -(2 ** 40), 1.5),
        fc.integer(),
        fc.bigInt(-(2n ** 63n), 2n ** 64n - 1n),
        fc.string({ maxLength: 8 }),
        fc.uint8Array({ maxLength: 17 }),
        fc.array(tie('value'), { maxLength: 5 }),
      ),
    })).value
    fc.assert(
      fc.property(schemaArb(3), foreign, (schema, value) => {
        decodesSafely(schema, pack(value))
      }),
      { numRuns: RUNS * 2 },
    )
  })

  test('values of one schema decoded by another throw DecodeError or decode to a valid value', () => {
    fc.assert(
      fc.property(schemaAndValue(2), schemaArb(2), ([writer, value], reader) => {
        decodesSafely(reader, writer.encode(value as never))
      }),
      { numRuns: RUNS },
    )
  })
})

describe('hostile JSON', () => {
  test('JSON of one schema read by another throws ValidationError or gives a valid value', () => {
    fc.assert(
      fc.property(schemaAndValue(2), schemaArb(2), ([writer, value], reader) => {
        const json = toJson(writer, value as never)
        let out: unknown
        try {
          out = fromJson(reader, json)
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError)
          return
        }
        expect(reader.validate(out)).toEqual([])
      }),
      { numRuns: RUNS },
    )
  })

  test('arbitrary JSON values and mangled text throw ValidationError or give a valid value', () => {
    fc.assert(
      fc.property(schemaArb(2), fc.oneof(fc.jsonValue(), fc.string()), fc.nat(), (schema, json, cut) => {
        for (const input of [
          json as object,
          JSON.stringify(json) ?? '',
          (JSON.stringify(json) ?? '').slice(0, cut),
        ]) {
          let out: unknown
          try {
            out = fromJson(schema, input)
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError)
            continue
          }
          expect(schema.validate(out)).toEqual([])
        }
      }),
      { numRuns: RUNS },
    )
  })

  test('values of a schema validate against it after a JSON round trip of a sub-value', () => {
    fc.assert(
      fc.property(
        schemaArb(2).chain((s) => fc.tuple(fc.constant(s), valueArb(s))),
        ([schema, value]) => {
          expect(schema.validate(fromJson(schema, toJson(schema, value as never)))).toEqual([])
        },
      ),
      { numRuns: RUNS / 2 },
    )
  })
})
