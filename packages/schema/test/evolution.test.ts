/**
 * Schema evolution: fingerprints, the compatibility rule, and reading data across versions.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { valueText } from '../src/fingerprint.js'
import {
  type AnySchemaType,
  compatible,
  DecodeError,
  fingerprint,
  fromJson,
  schemasCompatible,
  t,
  toJson,
} from '../src/index.js'
import { req, schemaAndValue, schemaArb, valueArb } from './arbitraries.js'

/** Whether -0 is anywhere in `value` (a Set's or Map's elements too). */
function holdsNegativeZero(value: unknown): boolean {
  if (Object.is(value, -0)) return true
  if (value instanceof Map) return [...value].some(([k, v]) => holdsNegativeZero(k) || holdsNegativeZero(v))
  if (value instanceof Set || Array.isArray(value)) return [...value].some(holdsNegativeZero)
  if (typeof value === 'object' && value !== null) return Object.values(value).some(holdsNegativeZero)
  return false
}

const build = () =>
  t.record({
    ts: t.time(),
    id: t.record({ h: t.addr(), p: t.port() }),
    conns: t.vector(t.record({ uid: t.string(), n: t.count().optional() })),
    note: t.string().optional(),
  })

const V1 = build()
const V2 = t.record({
  ts: t.time(),
  id: t.record({ h: t.addr(), p: t.port(), vlan: t.int().optional() }),
  conns: t.vector(t.record({ uid: t.string(), n: t.count().optional(), seen: t.bool().default(false) })),
  note: t.string().optional(),
  tags: t.set(t.string()).optional(),
  level: t.enum(['low', 'high']).default('low'),
})

describe('fingerprints', () => {
  test('format: cs1:<base> then sorted entries for extension fields', () => {
    expect(V1.fingerprint).toMatch(/^cs1:[0-9a-f]{16}(;\$[^;]*#\d+=[0-9a-f]{16})*$/)
    const entries = V2.fingerprint
      .split(';')
      .slice(1)
      .map((e) => e.split('=')[0])
    expect(entries).toEqual(['$#3', '$#4', '$#5', '$.conns[]#1', '$.conns[]#2', '$.id#2'])
    expect(fingerprint(V1)).toBe(V1.fingerprint)
  })

  test('equal schemas built independently have equal fingerprints', () => {
    expect(build().fingerprint).toBe(V1.fingerprint)
    expect(build().describe()).toBe(V1.describe())
    fc.assert(
      fc.property(schemaArb(3), (s) => {
        expect(s.fingerprint).toBe(s.fingerprint)
        expect(compatible(s.fingerprint, s.fingerprint)).toBe(true)
      }),
      { numRuns: 100 },
    )
  })

  test('appending optional and defaulted fields is compatible, both ways', () => {
    expect(compatible(V1.fingerprint, V2.fingerprint)).toBe(true)
    expect(compatible(V2.fingerprint, V1.fingerprint)).toBe(true)
    expect(V2.compatibleWith(V1.fingerprint)).toBe(true)
    expect(schemasCompatible(V1, V2.fingerprint)).toBe(true)
  })

  const R = (fields: Record<string, AnySchemaType>) => t.record(fields)
  const base = { a: t.string(), b: t.count(), c: t.enum(['x', 'y']), d: t.int().optional() }
  const incompatible: [string, AnySchemaType][] = [
    ['a required field appended', R({ ...base, e: t.string() })],
    ['a field type changed', R({ ...base, b: t.int() })],
    ['fields reordered', R({ b: base.b, a: base.a, c: base.c, d: base.d })],
    ['a field renamed', R({ A: base.a, b: base.b, c: base.c, d: base.d })],
    ['an extension field renamed', R({ a: base.a, b: base.b, c: base.c, D: base.d })],
    ['an extension field retyped', R({ ...base, d: t.count().optional() })],
    ['an extension field made required', R({ ...base, d: t.int() })],
    ['an extension field given a default', R({ ...base, d: t.int().default(0n) })],
    ['enum names reordered', R({ ...base, c: t.enum(['y', 'x']) })],
    ['an enum name added', R({ ...base, c: t.enum(['x', 'y', 'z']) })],
    ['a required field removed', R({ a: base.a, c: base.c, d: base.d })],
    [
      'a field inserted before the extension fields',
      R({ a: base.a, b: base.b, z: t.bool(), c: base.c, d: base.d }),
    ],
    [
      'an optional field inserted before a required one',
      R({ a: base.a, z: t.bool().optional(), b: base.b, c: base.c, d: base.d }),
    ],
  ]
  const original = R(base)
  test.each(incompatible)('incompatible: %s', (_, changed) => {
    expect(compatible(original.fingerprint, changed.fingerprint)).toBe(false)
    expect(compatible(changed.fingerprint, original.fingerprint)).toBe(false)
  })

  test('incompatible: a default changed', () => {
    const a = t.record({ x: t.string(), y: t.count().default(1n) })
    const b = t.record({ x: t.string(), y: t.count().default(2n) })
    const c = t.record({ y: t.count().default(1n), x: t.string() })
    const d = t.record({ y: t.count().default(2n), x: t.string() })
    expect(compatible(a.fingerprint, b.fingerprint)).toBe(false)
    expect(compatible(c.fingerprint, d.fingerprint)).toBe(false)
  })

  test('incompatible: a default of -0 and one of 0, wherever the -0 is', () => {
    // A default reads back as itself (Object.is), so -0 is another default than 0, though a
    // set or table counts -0 and 0 as one element.
    const field = (d: number) => t.record({ x: t.string(), y: t.double().default(d) })
    const pairs: [string, AnySchemaType, AnySchemaType][] = [
      ['a double', t.double().default(-0), t.double().default(0)],
      ['an extension field', field(-0), field(0)],
      [
        'a field before the extension fields',
        req(t.record({ y: t.double().default(-0), x: t.string() })),
        req(t.record({ y: t.double().default(0), x: t.string() })),
      ],
      ['a vector element', t.vector(t.double()).default([0, -0]), t.vector(t.double()).default([-0, 0])],
      [
        'a record in a set',
        t.set(t.record({ d: t.double() })).default(new Set([{ d: -0 }])),
        t.set(t.record({ d: t.double() })).default(new Set([{ d: 0 }])),
      ],
      [
        'a table value',
        t.table(t.string(), t.double()).default(new Map([['k', -0]])),
        t.table(t.string(), t.double()).default(new Map([['k', 0]])),
      ],
      [
        'an optional field',
        t.record({ o: t.double().optional() }).default({ o: -0 }),
        t.record({ o: t.double().optional() }).default({ o: 0 }),
      ],
    ]
    for (const [where, negative, positive] of pairs) {
      expect(negative.fingerprint, where).not.toBe(positive.fingerprint)
      expect(compatible(negative.fingerprint, positive.fingerprint), where).toBe(false)
      expect(negative.describe(), where).not.toBe(positive.describe())
    }
    // Equal by value is still equal: a set default in any order, -0 or not.
    const inOrder = t.set(t.record({ d: t.double() })).default(new Set([{ d: -0 }, { d: 1 }]))
    const reversed = t.set(t.record({ d: t.double() })).default(new Set([{ d: 1 }, { d: -0 }]))
    expect(inOrder.fingerprint).toBe(reversed.fingerprint)
  })

  test('fingerprints of defaults without -0 are what they were (stored data keeps opening)', () => {
    const schema = t.record({
      a: t.string(),
      v: t.vector(t.double()).default([1.5, 0, -2]),
      s: t
        .set(t.record({ p: t.port(), n: t.count().optional() }))
        .default(new Set([{ p: { port: 80, proto: 'tcp' } }, { p: { port: 53, proto: 'udp' }, n: 2n }])),
      m: t.table(t.addr(), t.interval()).default(new Map([['10.0.0.1', 5n]])),
      r: t.record({ b: t.bool().default(true), e: t.enum(['x', 'y']).optional() }).default({ e: 'y' }),
      d: t.double().default(0),
    })
    expect(schema.fingerprint).toBe(
      'cs1:5cfc9d44045bbcdb;$#1=a2afac849936d9b6;$#2=b60aa47ee543ea38;$#3=d96149f8fb81f9f4;$#4=daf35ad87f8c5c84;$#5=c839e241477a4e46',
    )
  })

  test('property: a default’s text is its key when it holds no -0', () => {
    fc.assert(
      fc.property(schemaAndValue(2), ([schema, value]) => {
        fc.pre(!holdsNegativeZero(value))
        expect(valueText(schema, value)).toBe(schema.impl.key(value))
      }),
    )
  })

  test('incompatible: nested changes, and any change to records used as set elements or table keys', () => {
    const nested = (f: AnySchemaType) => t.record({ outer: t.vector(t.record({ inner: f })) })
    expect(compatible(nested(t.string()).fingerprint, nested(t.addr()).fingerprint)).toBe(false)
    const inSet = (extra: boolean) =>
      t.set(t.record(extra ? { a: t.string(), b: t.string().optional() } : { a: t.string() }))
    expect(compatible(inSet(false).fingerprint, inSet(true).fingerprint)).toBe(false)
    const asKey = (extra: boolean) =>
      t.table(t.record(extra ? { a: t.string(), b: t.string().optional() } : { a: t.string() }), t.bool())
    expect(compatible(asKey(false).fingerprint, asKey(true).fingerprint)).toBe(false)
    // As a table value, the record may grow.
    const asValue = (extra: boolean) =>
      t.table(t.string(), t.record(extra ? { a: t.string(), b: t.string().optional() } : { a: t.string() }))
    expect(compatible(asValue(false).fingerprint, asValue(true).fingerprint)).toBe(true)
  })

  test('different scalar types and containers all differ', () => {
    const all = [
      t.bool(),
      t.int(),
      t.count(),
      t.double(),
      t.string(),
      t.time(),
      t.interval(),
      t.port(),
      t.addr(),
      t.subnet(),
      t.enum(['a']),
      t.set(t.string()),
      t.vector(t.string()),
      t.table(t.string(), t.string()),
      t.record({ a: t.string() }),
      t.string().optional(),
    ]
    const prints = new Set(all.map((s) => s.fingerprint))
    expect(prints.size).toBe(all.length)
  })

  test('anything but a cs1 fingerprint is compatible with nothing', () => {
    expect(compatible('x', 'x')).toBe(false)
    expect(compatible(V1.fingerprint, 'cs1:')).toBe(false)
    expect(compatible(V1.fingerprint, `${V1.fingerprint};junk`)).toBe(false)
  })
})

describe('reading data across versions', () => {
  const v1 = {
    ts: 1n,
    id: { h: '10.0.0.1', p: { port: 22, proto: 'tcp' as const } },
    conns: [{ uid: 'a' }, { uid: 'b', n: 2n }],
    note: 'hi',
  }
  const v2 = {
    ts: 1n,
    id: { h: '10.0.0.1', p: { port: 22, proto: 'tcp' as const }, vlan: -5n },
    conns: [
      { uid: 'a', seen: true },
      { uid: 'b', n: 2n, seen: false },
    ],
    tags: new Set(['x']),
    level: 'high' as const,
  }

  test('old data under the new schema: extension fields absent or default', () => {
    const expected = {
      ...v1,
      conns: [
        { uid: 'a', seen: false },
        { uid: 'b', n: 2n, seen: false },
      ],
      level: 'low',
    }
    expect(V2.decode(V1.encode(v1))).toEqual(expected)
    expect(fromJson(V2, toJson(V1, v1))).toEqual(expected)
  })

  test('new data under the old schema: unknown trailing fields skipped', () => {
    const expected = {
      ts: 1n,
      id: { h: '10.0.0.1', p: { port: 22, proto: 'tcp' } },
      conns: [{ uid: 'a' }, { uid: 'b', n: 2n }],
    }
    expect(V1.decode(V2.encode(v2))).toEqual(expected)
    expect(fromJson(V1, toJson(V2, v2))).toEqual(expected)
  })

  test('trailing absent optional fields are trimmed on the wire', () => {
    const R = t.record({ a: t.bool(), b: t.bool().optional(), c: t.bool().optional() })
    expect([...R.encode({ a: true })]).toEqual([0x91, 0xc3])
    expect([...R.encode({ a: true, c: false })]).toEqual([0x93, 0xc3, 0xc0, 0xc2])
  })

  test('a missing required field is a DecodeError', () => {
    const Old = t.record({ a: t.string() })
    const New = t.record({ a: t.string(), b: t.string() })
    expect(() => New.decode(Old.encode({ a: 'x' }))).toThrow(DecodeError)
  })

  test('property: dropping a record schema’s last field', () => {
    const arb = fc
      .uniqueArray(
        fc.tuple(
          fc.stringMatching(/^[a-z]{1,4}$/),
          schemaArb(2),
          fc.constantFrom('required', 'optional', 'default'),
        ),
        {
          minLength: 2,
          maxLength: 6,
          selector: ([n]) => n,
        },
      )
      .chain((fields) =>
        fc.tuple(
          ...fields.map(([n, s, mode]) =>
            mode === 'default' && s.mode === 'required'
              ? valueArb(s).map((v) => [n, req(s).default(v as never)] as const)
              : fc.constant([
                  n,
                  mode === 'optional' && s.mode === 'required' ? req(s).optional() : s,
                ] as const),
          ),
        ),
      )
      .map((fields) => ({
        reader: t.record(Object.fromEntries(fields)) as unknown as AnySchemaType,
        writer: t.record(Object.fromEntries(fields.slice(0, -1))) as unknown as AnySchemaType,
      }))
      .chain(({ reader, writer }) => fc.tuple(fc.constant(reader), fc.constant(writer), valueArb(writer)))
    fc.assert(
      fc.property(arb, ([reader, writer, value]) => {
        const lastMode = Object.values((reader.def as { fields: Record<string, AnySchemaType> }).fields).at(
          -1,
        )!.mode
        const bytes = writer.encode(value as never)
        if (lastMode === 'required') {
          expect(compatible(reader.fingerprint, writer.fingerprint)).toBe(false)
          expect(() => reader.decode(bytes)).toThrow(DecodeError)
          return
        }
        expect(compatible(reader.fingerprint, writer.fingerprint)).toBe(true)
        expect(reader.validate(reader.decode(bytes))).toEqual([])
        expect(reader.validate(fromJson(reader, toJson(writer, value as never)))).toEqual([])
        // And the other way: the old reader skips the new field.
        const newer = valueArb(reader) as fc.Arbitrary<unknown>
        fc.assert(
          fc.property(newer, (v) => {
            expect(writer.validate(writer.decode(reader.encode(v as never)))).toEqual([])
          }),
          { numRuns: 3 },
        )
      }),
      { numRuns: 150 },
    )
  })
})
