/** The types a program needs to spell out what it passes to the public API are exported by name. */
import { t } from '@concord/schema'
import { expect, expectTypeOf, it } from 'vitest'
import type {
  AnySchema,
  ConcordNode,
  NodeConfig,
  ReadOptions,
  ReadResult,
  StoreConfig,
  TopicConfig,
} from '../src/index.js'

it('AnySchema, the schema type of StoreConfig, TopicConfig and NodeConfig.topics, is exported', () => {
  expectTypeOf<StoreConfig['schema']>().toEqualTypeOf<AnySchema>()
  expectTypeOf<TopicConfig['schema']>().toEqualTypeOf<AnySchema>()
  expectTypeOf<NonNullable<NodeConfig['topics']>[string]['schema']>().toEqualTypeOf<AnySchema>()
  // A program's own helper over stores of any schema, typed without reaching into @concord/schema/contract.
  const storesOf = (schemas: Record<string, AnySchema>): Record<string, StoreConfig> =>
    Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, { schema, expiry: '1m' }]))
  expect(Object.keys(storesOf({ hits: t.count(), names: t.set(t.string()) }))).toEqual(['hits', 'names'])
})

it("node.read's result carries the store's value type, and ReadResult/ReadOptions are exported", () => {
  type Read = ConcordNode['read']
  const read = null as unknown as Read
  const counts = () => read('hits', 'k', { schema: t.count() })
  expectTypeOf(counts).returns.resolves.toEqualTypeOf<ReadResult<bigint>>()
  expectTypeOf<ReadResult<bigint>['value']>().toEqualTypeOf<bigint | undefined>()
  expectTypeOf<ReadOptions<string>['schema']>().not.toBeAny()
  expect(typeof counts).toBe('function')
})
