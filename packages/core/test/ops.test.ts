import { t } from '@concord/schema'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { createHub, createNode } from '../src/compose.js'
import { memoryPersistence, memoryTransport } from '../src/memory/index.js'
import { builtinOps, REMOVE, UNCHANGED, updateOp, updateRegistry } from '../src/ops.js'
import type { UpdateContext, UpdateOp } from '../src/ports/update-registry.js'

// A stand-in for the store schema: tables of anything, and sets of anything but pairs.
const valid = (v: unknown) => v instanceof Map || (v instanceof Set && ![...v].some(Array.isArray))
const ctx = { store: 's', key: 'k', present: false, identity: 'i', now: 0, valid }
const run = (op: string, current: unknown, delta?: unknown) =>
  builtinOps[op]!(current, delta, { ...ctx, present: current !== undefined })

describe('built-in update ops (S3.5)', () => {
  it('S3.5 increment and decrement numbers and bigints; absent is zero', () => {
    expect(run('increment', undefined, 2n)).toBe(2n)
    expect(run('increment', 5n, 2n)).toBe(7n)
    expect(run('decrement', 5, 2)).toBe(3)
    expect(() => run('increment', 'a', 1n)).toThrow(TypeError)
  })

  it('S3.5 append strings and vectors; push and pop vectors', () => {
    expect(run('append', 'ab', 'c')).toBe('abc')
    expect(run('append', [1], [2, 3])).toEqual([1, 2, 3])
    expect(run('push', undefined, 1)).toEqual([1])
    expect(run('pop', [1, 2])).toEqual([1])
    expect(run('pop', [])).toBe(UNCHANGED)
  })

  it('S3.5 insertInto and removeFrom sets and tables, by value', () => {
    const set = new Set([{ a: 1 }])
    expect(run('insertInto', set, { a: 1 })).toBe(UNCHANGED)
    expect(run('insertInto', set, { a: 2 })).toEqual(new Set([{ a: 1 }, { a: 2 }]))
    expect(run('removeFrom', set, { a: 1 })).toEqual(new Set())
    // A field set to undefined is an absent field, as the schema encodes it.
    expect(run('removeFrom', new Set([{ a: 'x' }]), { a: 'x', b: undefined })).toEqual(new Set())
    // Something the schema refuses as an element is an error, not a silent no-op.
    const strict = { ...ctx, valid: () => false }
    expect(() => builtinOps.removeFrom!(set, 7, strict)).toThrow(/not an element/)
    expect(() => builtinOps.removeFrom!(new Map([['x', 1n]]), 7, strict)).toThrow(/not a key/)
    const table = new Map([['x', 1n]])
    expect(run('insertInto', table, ['y', 2n])).toEqual(
      new Map([
        ['x', 1n],
        ['y', 2n],
      ]),
    )
    expect(run('removeFrom', table, 'x')).toEqual(new Map())
    expect(run('removeFrom', table, 'zz')).toBe(UNCHANGED)
    expect(run('insertInto', undefined, ['k', 1n])).toEqual(new Map([['k', 1n]]))
    expect(set.size).toBe(1) // never mutates the current value
  })

  it('S3.5 putIfAbsent inserts only when absent', () => {
    expect(run('putIfAbsent', undefined, 'v')).toBe('v')
    expect(run('putIfAbsent', 'old', 'v')).toBe(UNCHANGED)
    // A key holding undefined (a store whose schema allows it) is present.
    expect(builtinOps.putIfAbsent!(undefined, 'v', { ...ctx, present: true })).toBe(UNCHANGED)
  })

  it('S3.5 a registry adds user ops and refuses to redefine built-ins', () => {
    const registry = updateRegistry({ drop: () => REMOVE })
    expect(registry.get('drop')?.(1, undefined, ctx)).toBe(REMOVE)
    expect(registry.names()).toContain('increment')
    expect(() => updateRegistry({ increment: () => 1 })).toThrow(/built in/)
  })
})

describe('typed update ops (S3.5)', () => {
  it("S3.5 updateOp types a callback by the store's schema, and the master runs it like any op", async () => {
    const Count = t.count()
    const max = updateOp(Count, (current, delta: bigint) => {
      expectTypeOf(current).toEqualTypeOf<bigint | undefined>()
      return current === undefined || delta > current ? delta : UNCHANGED
    })
    expectTypeOf(max).toEqualTypeOf<UpdateOp>()
    // What the schema cannot hold is a type error where the op is written.
    // @ts-expect-error a string is not a count
    updateOp(Count, () => 'five')
    expectTypeOf<UpdateOp<bigint, bigint>>().returns.toEqualTypeOf<
      bigint | typeof REMOVE | typeof UNCHANGED
    >()
    // The default is the callback a store's ops take, as before: unknown in, unknown out.
    expectTypeOf<UpdateOp>().toEqualTypeOf<
      (current: unknown, delta: unknown, ctx: UpdateContext) => unknown
    >()
    expect(() => updateOp(Count, 'max' as never)).toThrow(TypeError)

    const transport = memoryTransport()
    const hub = await createHub({
      transport,
      listen: 'memory://typed-ops',
      persistence: memoryPersistence(),
      stores: { hits: { schema: Count, ops: { max } } },
    })
    const node = await createNode({ transport, hub: hub.address })
    const hits = await node.writer('hits', { schema: Count })
    await hits.update('a', 5n, { op: 'max' })
    await hits.update('a', 3n, { op: 'max' })
    expect(Count.decode(hub.master('hits')!.get('a')!.value)).toBe(5n)
    await node.close()
    await hub.close()
  })
})
