/**
 * The schema builders.
 *
 * @module
 */
import { setImpl, tableImpl, vectorImpl } from './builders/containers.js'
import { addr, port, subnet } from './builders/network.js'
import { checkFieldNames, recordImpl } from './builders/record.js'
import { bool, count, double, enumImpl, int, string } from './builders/scalars.js'
import { interval, time } from './builders/temporal.js'
import type { AnySchemaType, Infer, InferInput, RecordInput, RecordOutput, Shape } from './infer.js'
import type { Port } from './port.js'
import { isSchemaType, SchemaType } from './schema-type.js'

const BOOL = new SchemaType<boolean, boolean, 'required'>({ kind: 'bool' }, bool)
const INT = new SchemaType<bigint, bigint, 'required'>({ kind: 'int' }, int)
const COUNT = new SchemaType<bigint, bigint, 'required'>({ kind: 'count' }, count)
const DOUBLE = new SchemaType<number, number, 'required'>({ kind: 'double' }, double)
const STRING = new SchemaType<string, string, 'required'>({ kind: 'string' }, string)
const TIME = new SchemaType<bigint, bigint, 'required'>({ kind: 'time' }, time)
const INTERVAL = new SchemaType<bigint, bigint, 'required'>({ kind: 'interval' }, interval)
const PORT = new SchemaType<Port, Port, 'required'>({ kind: 'port' }, port)
const ADDR = new SchemaType<string, string, 'required'>({ kind: 'addr' }, addr)
const SUBNET = new SchemaType<string, string, 'required'>({ kind: 'subnet' }, subnet)

function need(value: unknown, what: string): AnySchemaType {
  if (!isSchemaType(value)) throw new TypeError(`${what} must be a schema built by t`)
  return value
}

/** A record schema with fields `S`. */
export type RecordSchema<S extends Shape> = SchemaType<RecordOutput<S>, RecordInput<S>, 'required'>

/**
 * The schema builders, one per Zeek type. Builders take schemas and return new immutable
 * schemas; scalar builders return shared instances.
 *
 * @example
 * ```ts
 * const Conn = t.record({ ts: t.time(), uid: t.string(), service: t.string().optional() })
 * ```
 */
export const t = {
  /** `bool` → `boolean`. */
  bool: (): SchemaType<boolean, boolean, 'required'> => BOOL,
  /** `int` → `bigint` in [-2^63, 2^63-1]. Numbers are refused so nothing is rounded. */
  int: (): SchemaType<bigint, bigint, 'required'> => INT,
  /** `count` → `bigint` in [0, 2^64-1]. */
  count: (): SchemaType<bigint, bigint, 'required'> => COUNT,
  /** `double` → a finite `number` (NaN and ±Infinity are `range` issues). */
  double: (): SchemaType<number, number, 'required'> => DOUBLE,
  /** `string` → `string` (well-formed: a lone surrogate is a `format` issue). */
  string: (): SchemaType<string, string, 'required'> => STRING,
  /** `time` → `bigint` nanoseconds since the Unix epoch (int64). See the `time` helpers. */
  time: (): SchemaType<bigint, bigint, 'required'> => TIME,
  /** `interval` → `bigint` nanoseconds, may be negative (int64). See the `interval` helpers. */
  interval: (): SchemaType<bigint, bigint, 'required'> => INTERVAL,
  /** `port` → `{ port: 0..65535, proto: 'tcp' | 'udp' | 'icmp' | 'unknown' }`. */
  port: (): SchemaType<Port, Port, 'required'> => PORT,
  /** `addr` → canonical address text (dotted quad, RFC 5952). See `addr.canonical`. */
  addr: (): SchemaType<string, string, 'required'> => ADDR,
  /** `subnet` → canonical CIDR text, host bits zero. See `subnet.canonical`. */
  subnet: (): SchemaType<string, string, 'required'> => SUBNET,

  /** `enum` → one of `names` (a string literal union). Names are unique; their order is the wire format. */
  enum<const N extends readonly [string, ...string[]]>(
    names: N,
  ): SchemaType<N[number], N[number], 'required'> {
    if (!Array.isArray(names) || names.length === 0)
      throw new TypeError('t.enum: expected a non-empty array of names')
    const list = [...names] as string[]
    if (list.some((n) => typeof n !== 'string')) throw new TypeError('t.enum: names must be strings')
    if (new Set(list).size !== list.length) throw new TypeError('t.enum: names must be unique')
    return new SchemaType({ kind: 'enum', names: Object.freeze(list) }, enumImpl(list))
  },

  /** `set[T]` → `Set`. Elements that are objects (records, ports…) compare by value. */
  set<E extends AnySchemaType>(element: E): SchemaType<Set<Infer<E>>, Set<InferInput<E>>, 'required'> {
    const e = need(element, 't.set: the element type')
    return new SchemaType({ kind: 'set', element: e }, setImpl(e.impl))
  },

  /** `vector of T` → an array. */
  vector<E extends AnySchemaType>(element: E): SchemaType<Infer<E>[], InferInput<E>[], 'required'> {
    const e = need(element, 't.vector: the element type')
    return new SchemaType({ kind: 'vector', element: e }, vectorImpl(e.impl))
  },

  /** `table[K] of V` → `Map`. Any key type, records included (composite keys compare by value). */
  table<K extends AnySchemaType, V extends AnySchemaType>(
    key: K,
    value: V,
  ): SchemaType<Map<Infer<K>, Infer<V>>, Map<InferInput<K>, InferInput<V>>, 'required'> {
    const k = need(key, 't.table: the key type')
    const v = need(value, 't.table: the value type')
    return new SchemaType({ kind: 'table', key: k, value: v }, tableImpl(k.impl, v.impl))
  },

  /**
   * `record { … }` → a plain object. Field order is the wire order; appending optional or
   * defaulted fields at the end is the one compatible change.
   */
  record<S extends Shape>(fields: S): RecordSchema<S> {
    if (typeof fields !== 'object' || fields === null)
      throw new TypeError('t.record: expected an object of fields')
    const entries = Object.entries(fields).map(
      ([name, f]) => [name, need(f, `t.record: field ${name}`)] as const,
    )
    checkFieldNames(entries.map(([name]) => name))
    return new SchemaType(
      { kind: 'record', fields: Object.freeze(Object.fromEntries(entries)) },
      recordImpl(entries.map(([name, f]) => [name, f.impl] as const)),
    )
  },

  /** `schema.optional()`: the value may be `undefined` (absent). */
  optional<S extends SchemaType<unknown, never, 'required'>>(
    schema: S,
  ): SchemaType<Infer<S> | undefined, InferInput<S> | undefined, 'optional'> {
    const s = need(schema, 't.optional: the type') as SchemaType<Infer<S>, InferInput<S>, 'required'>
    return s.optional()
  },

  /** `schema.default(value)`: as a record field, may be left out of the input; always present in the output. */
  default<S extends SchemaType<unknown, never, 'required'>>(
    schema: S,
    value: InferInput<S>,
  ): SchemaType<Infer<S>, InferInput<S> | undefined, 'default'> {
    const s = need(schema, 't.default: the type') as SchemaType<Infer<S>, InferInput<S>, 'required'>
    return s.default(value)
  },
} as const
