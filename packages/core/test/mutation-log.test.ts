import { describe, expect, it } from 'vitest'
import { MutationLog } from '../src/hub/mutation-log.js'

function batch(from: number, to: number) {
  const muts: (number | string | null)[] = []
  for (let s = from + 1; s <= to; s++) muts.push(s, 1, `k${s}`, null)
  return { from, to, muts, bytes: 10 * (to - from) }
}

describe('MutationLog (S6.3)', () => {
  it('S6.3 gives the batches after a seq it still holds', () => {
    const log = new MutationLog(0, 100, 1e9)
    log.append(batch(0, 3))
    log.append(batch(3, 5))
    expect(log.since(0)?.map((b) => b.to)).toEqual([3, 5])
    expect(log.since(4)?.map((b) => b.to)).toEqual([5])
    expect(log.since(5)).toEqual([])
  })

  it('S6.3 forgets the oldest batches past its bounds, and says so', () => {
    const log = new MutationLog(0, 4, 1e9)
    log.append(batch(0, 3))
    log.append(batch(3, 6))
    expect(log.start).toBe(3)
    expect(log.since(2)).toBeUndefined()
    expect(log.since(3)?.map((b) => b.to)).toEqual([6])
  })

  it('S6.3 is bounded by bytes too, keeping at least the newest batch', () => {
    const log = new MutationLog(0, 1e9, 15)
    log.append(batch(0, 1))
    log.append(batch(1, 3))
    expect(log.since(0)).toBeUndefined()
    expect(log.since(1)?.length).toBe(1)
  })
})
