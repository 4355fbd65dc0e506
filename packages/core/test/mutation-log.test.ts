import { describe, expect, it } from 'vitest'
import { ownValues } from '../src/hub/master.js'
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

describe('ownValues', () => {
  it('S6.3 moves the values a committed batch keeps for the log out of the frames they came in, into one buffer', () => {
    const frame = new Uint8Array(10_000).fill(1)
    const a = frame.subarray(10, 20)
    const b = new Uint8Array([5, 6, 7])
    const muts: (number | string | Uint8Array | null)[] = [1, 0, 'a', a, 2, 1, 'gone', null, 3, 0, 'b', b]
    ownValues(muts)
    expect(muts[3]).toEqual(a)
    expect(muts[7]).toBeNull()
    expect(muts[11]).toEqual(b)
    const own = (muts[3] as Uint8Array).buffer
    expect(own).not.toBe(frame.buffer)
    expect((muts[11] as Uint8Array).buffer).toBe(own)
    expect(own.byteLength).toBe(13)
    frame.fill(2)
    expect(muts[3]).toEqual(new Uint8Array(10).fill(1))
  })
})
