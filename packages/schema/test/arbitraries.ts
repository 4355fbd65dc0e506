/**
 * fast-check arbitraries for schemas (recursive, bounded depth) and for values of a schema.
 */
import fc from 'fast-check'
import { type AnySchemaType, addr, type SchemaType, subnet, t } from '../src/index.js'

/** The schema as a required one (for calling `.optional()` and `.default()`, which need that type). */
export const req = (s: AnySchemaType) => s as unknown as SchemaType<unknown, unknown, 'required'>

const MIN_I64 = -(2n ** 63n)
const MAX_I64 = 2n ** 63n - 1n
const MAX_U64 = 2n ** 64n - 1n

const i64 = fc.oneof(
  fc.constantFrom(MIN_I64, MAX_I64, 0n, -1n, 1n),
  fc.bigInt(-(2n ** 40n), 2n ** 40n),
  fc.bigInt(MIN_I64, MAX_I64),
)
const u64 = fc.oneof(
  fc.constantFrom(0n, MAX_U64, 2n ** 32n, 2n ** 53n + 1n),
  fc.bigInt(0n, 2n ** 40n),
  fc.bigInt(0n, MAX_U64),
)

const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/).filter((s) => s !== '__proto__')

const enumSchema = fc
  .uniqueArray(fc.oneof(name, fc.string({ minLength: 1, maxLength: 4 })), { minLength: 1, maxLength: 5 })
  .map((names) => t.enum(names as [string, ...string[]]) as unknown as AnySchemaType)

const scalar: fc.Arbitrary<AnySchemaType> = fc.oneof(
  fc.constantFrom<AnySchemaType>(
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
  ),
  enumSchema,
)

/** A schema of at most `depth` levels of containers and records. */
export function schemaArb(depth: number): fc.Arbitrary<AnySchemaType> {
  if (depth <= 0) return scalar
  const inner = schemaArb(depth - 1)
  const field = fc.oneof(
    { weight: 3, arbitrary: inner },
    {
      weight: 1,
      arbitrary: inner.map((s) => (s.mode === 'required' ? (req(s).optional() as AnySchemaType) : s)),
    },
    {
      weight: 1,
      arbitrary: inner.chain((s) =>
        s.mode === 'required'
          ? valueArb(s).map((v) => req(s).default(v as never) as AnySchemaType)
          : fc.constant(s),
      ),
    },
  )
  return fc.oneof(
    { weight: 2, arbitrary: scalar },
    { weight: 1, arbitrary: inner.map((e) => t.vector(e) as unknown as AnySchemaType) },
    { weight: 1, arbitrary: inner.map((e) => t.set(e) as unknown as AnySchemaType) },
    {
      weight: 1,
      arbitrary: fc.tuple(inner, inner).map(([k, v]) => t.table(k, v) as unknown as AnySchemaType),
    },
    {
      weight: 2,
      arbitrary: fc
        .uniqueArray(fc.tuple(name, field), { minLength: 1, maxLength: 5, selector: ([n]) => n })
        .map((fields) => t.record(Object.fromEntries(fields)) as unknown as AnySchemaType),
    },
    {
      weight: 1,
      arbitrary: inner.map((s) => (s.mode === 'required' ? (req(s).optional() as AnySchemaType) : s)),
    },
  )
}

const addrArb = fc
  .oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('::', '::1', '::ffff:1.2.3.4', '1::', 'fe80::1:0:0:1'))
  .map(addr.canonical)

const subnetArb = fc
  .tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 128 }))
  .map(([a, p]) => subnet.canonical(`${a}/${a.includes(':') ? p : p % 33}`))

/** Values valid for `schema`. Optional fields are absent or present; defaulted ones sometimes left out. */
export function valueArb(schema: AnySchemaType): fc.Arbitrary<unknown> {
  const def = schema.def
  switch (def.kind) {
    case 'bool':
      return fc.boolean()
    case 'int':
    case 'time':
    case 'interval':
      return i64
    case 'count':
      return u64
    case 'double':
      return fc.double({ noNaN: true, noDefaultInfinity: true })
    case 'string':
      return fc.oneof(
        fc.string(),
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'grapheme', maxLength: 80 }),
      )
    case 'port':
      return fc.record({
        port: fc.integer({ min: 0, max: 65535 }),
        proto: fc.constantFrom('tcp', 'udp', 'icmp', 'unknown'),
      })
    case 'addr':
      return addrArb
    case 'subnet':
      return subnetArb
    case 'enum':
      return fc.constantFrom(...def.names)
    case 'vector':
      return fc.array(valueArb(def.element), { maxLength: 4 })
    case 'set': {
      const key = def.element.impl.key
      return fc.uniqueArray(valueArb(def.element), { maxLength: 4, selector: key }).map((xs) => new Set(xs))
    }
    case 'table': {
      const key = def.key.impl.key
      return fc
        .uniqueArray(fc.tuple(valueArb(def.key), valueArb(def.value)), {
          maxLength: 4,
          selector: ([k]) => key(k),
        })
        .map((entries) => new Map(entries))
    }
    case 'record': {
      const parts = Object.entries(def.fields).map(([n, f]) =>
        f.mode === 'required'
          ? valueArb(f).map((v) => [n, v] as const)
          : fc.option(valueArb(f), { nil: undefined }).map((v) => [n, v] as const),
      )
      return fc
        .tuple(...parts)
        .map((entries) => Object.fromEntries(entries.filter(([, v]) => v !== undefined)))
    }
    case 'optional':
      return fc.option(valueArb(def.inner), { nil: undefined })
    case 'default':
      return fc.option(valueArb(def.inner), { nil: undefined })
  }
}

/** A schema and a value of it. */
export const schemaAndValue = (depth: number): fc.Arbitrary<[AnySchemaType, unknown]> =>
  schemaArb(depth).chain((s) => valueArb(s).map((v) => [s, v] as [AnySchemaType, unknown]))

/** What decoding a value yields: defaults filled in, absent optional fields absent. */
export function normalize(schema: AnySchemaType, value: unknown): unknown {
  const def = schema.def
  switch (def.kind) {
    case 'vector':
      return (value as unknown[]).map((x) => normalize(def.element, x))
    case 'set':
      return new Set([...(value as Set<unknown>)].map((x) => normalize(def.element, x)))
    case 'table':
      return new Map(
        [...(value as Map<unknown, unknown>)].map(([k, v]) => [
          normalize(def.key, k),
          normalize(def.value, v),
        ]),
      )
    case 'record': {
      const out: Record<string, unknown> = {}
      for (const [n, f] of Object.entries(def.fields)) {
        const v = normalize(f, (value as Record<string, unknown>)[n])
        if (v !== undefined) out[n] = v
      }
      return out
    }
    case 'optional':
      return value === undefined ? undefined : normalize(def.inner, value)
    case 'default':
      return normalize(def.inner, value === undefined ? def.value : value)
    default:
      return value
  }
}
