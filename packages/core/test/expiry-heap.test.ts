import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ExpiryHeap } from '../src/hub/expiry-heap.js'

describe('ExpiryHeap (S4.5)', () => {
  it('S4.5 pops due keys in deadline order, one node per key', () => {
    const heap = new ExpiryHeap()
    heap.set('a', 30)
    heap.set('b', 10)
    heap.set('c', 20)
    heap.set('a', 5) // moved, not added
    expect(heap.size).toBe(3)
    expect(heap.popDue(25)).toBe('a')
    expect(heap.popDue(25)).toBe('b')
    expect(heap.popDue(25)).toBe('c')
    expect(heap.popDue(25)).toBeUndefined()
  })

  it('S4.5 agrees with a sorted model under random set/delete/pop', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.tuple(
              fc.constant('set' as const),
              fc.integer({ min: 0, max: 9 }),
              fc.integer({ min: 0, max: 100 }),
            ),
            fc.tuple(fc.constant('delete' as const), fc.integer({ min: 0, max: 9 }), fc.constant(0)),
            fc.tuple(fc.constant('pop' as const), fc.constant(0), fc.integer({ min: 0, max: 100 })),
          ),
          { maxLength: 200 },
        ),
        (ops) => {
          const heap = new ExpiryHeap()
          const model = new Map<string, number>()
          for (const [op, k, n] of ops) {
            const key = `k${k}`
            if (op === 'set') {
              heap.set(key, n)
              model.set(key, n)
            } else if (op === 'delete') {
              heap.delete(key)
              model.delete(key)
            } else {
              const popped = heap.popDue(n)
              const min = Math.min(...model.values())
              if (model.size === 0 || min > n) expect(popped).toBeUndefined()
              else {
                expect(model.get(popped!)).toBe(min)
                model.delete(popped!)
              }
            }
            expect(heap.size).toBe(model.size)
          }
        },
      ),
    )
  })

  it('S4.4 load builds the heap from recovered deadlines in one pass', () => {
    const heap = new ExpiryHeap()
    heap.load([
      ['x', 3],
      ['y', 1],
      ['z', 2],
    ])
    expect([heap.popDue(10), heap.popDue(10), heap.popDue(10)]).toEqual(['y', 'z', 'x'])
  })
})
