/** The types a program needs to spell out what it passes to the public API are exported by name. */
import { t } from '@concord/schema'
import { expect, expectTypeOf, it } from 'vitest'
import type { AnySchema, NodeConfig, StoreConfig, TopicConfig } from '../src/index.js'

it('AnySchema, the schema type of StoreConfig, TopicConfig and NodeConfig.topics, is exported', () => {
  expectTypeOf<StoreConfig['schema']>().toEqualTypeOf<AnySchema>()
  expectTypeOf<TopicConfig['schema']>().toEqualTypeOf<AnySchema>()
  expectTypeOf<NonNullable<NodeConfig['topics']>[string]['schema']>().toEqualTypeOf<AnySchema>()
  // A program's own helper over stores of any schema, typed without reaching into @concord/schema/contract.
  const storesOf = (schemas: Record<string, AnySchema>): Record<string, StoreConfig> =>
    Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, { schema, expiry: '1m' }]))
  expect(Object.keys(storesOf({ hits: t.count(), names: t.set(t.string()) }))).toEqual(['hits', 'names'])
})
