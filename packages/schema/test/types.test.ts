/**
 * Type-level tests of the public API.
 */
import { describe, expectTypeOf, test } from 'vitest'
import {
  decode,
  encode,
  fromJson,
  type Infer,
  type InferInput,
  type Port,
  type Schema,
  type SchemaType,
  t,
} from '../src/index.js'

const Conn = t.record({
  ts: t.time(),
  uid: t.string(),
  id: t.record({ orig_h: t.addr(), orig_p: t.port() }),
  proto: t.enum(['tcp', 'udp']),
  service: t.string().optional(),
  missed: t.count().default(0n),
  tags: t.set(t.string()).optional(),
  hist: t.vector(t.double()),
  byKey: t.table(t.record({ a: t.string() }), t.bool()),
})

describe('Infer and InferInput', () => {
  test('scalars', () => {
    expectTypeOf<Infer<ReturnType<typeof t.bool>>>().toEqualTypeOf<boolean>()
    expectTypeOf<Infer<ReturnType<typeof t.count>>>().toEqualTypeOf<bigint>()
    expectTypeOf<Infer<ReturnType<typeof t.time>>>().toEqualTypeOf<bigint>()
    expectTypeOf<Infer<ReturnType<typeof t.double>>>().toEqualTypeOf<number>()
    expectTypeOf<Infer<ReturnType<typeof t.addr>>>().toEqualTypeOf<string>()
    expectTypeOf<Infer<ReturnType<typeof t.port>>>().toEqualTypeOf<Port>()
    expectTypeOf(t.enum(['a', 'b'])).toEqualTypeOf<SchemaType<'a' | 'b', 'a' | 'b', 'required'>>()
    expectTypeOf<Infer<typeof Conn>['proto']>().toEqualTypeOf<'tcp' | 'udp'>()
  })

  test('records: optional fields optional, defaulted fields required in output and optional in input', () => {
    type C = Infer<typeof Conn>
    expectTypeOf<C>().toEqualTypeOf<{
      ts: bigint
      uid: string
      id: { orig_h: string; orig_p: Port }
      proto: 'tcp' | 'udp'
      missed: bigint
      hist: number[]
      byKey: Map<{ a: string }, boolean>
      service?: string | undefined
      tags?: Set<string> | undefined
    }>()
    type I = InferInput<typeof Conn>
    expectTypeOf<I>().toEqualTypeOf<{
      ts: bigint
      uid: string
      id: { orig_h: string; orig_p: Port }
      proto: 'tcp' | 'udp'
      hist: number[]
      byKey: Map<{ a: string }, boolean>
      service?: string | undefined
      missed?: bigint | undefined
      tags?: Set<string> | undefined
    }>()
  })

  test('functions take inputs and return outputs', () => {
    expectTypeOf(decode<typeof Conn>).returns.toEqualTypeOf<Infer<typeof Conn>>()
    expectTypeOf(fromJson<typeof Conn>).returns.toEqualTypeOf<Infer<typeof Conn>>()
    expectTypeOf(encode<typeof Conn>)
      .parameter(1)
      .toEqualTypeOf<InferInput<typeof Conn>>()
    expectTypeOf(Conn).toExtend<Schema<Infer<typeof Conn>, InferInput<typeof Conn>>>()
    // Type errors only: these are never called.
    const mistakes = [
      // @ts-expect-error a number is not a count
      () => encode(t.count(), 1),
      // @ts-expect-error a required field is missing
      () => encode(t.record({ a: t.string() }), {}),
      // @ts-expect-error an optional schema cannot have a default
      () => t.string().optional().default('x'),
    ]
    expectTypeOf(mistakes).toBeArray()
  })

  test('modifiers', () => {
    expectTypeOf(t.string().optional()).toEqualTypeOf<
      SchemaType<string | undefined, string | undefined, 'optional'>
    >()
    expectTypeOf(t.optional(t.count())).toEqualTypeOf<
      SchemaType<bigint | undefined, bigint | undefined, 'optional'>
    >()
    expectTypeOf(t.default(t.count(), 1n)).toEqualTypeOf<SchemaType<bigint, bigint | undefined, 'default'>>()
  })
})
