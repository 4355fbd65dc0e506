/**
 * What an update does to an entry's deadline (S4.2, core README): an op that changes nothing
 * (`UNCHANGED`) makes no mutation and leaves the deadline; one that returns a value writes
 * it, even an equal one, with the deadline that write carries.
 */
import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { manualClock } from '../src/testing.js'
import { useMemoryClusters } from './memory-cluster.js'

const cluster = useMemoryClusters()

describe('update ops and deadlines (S4.2)', () => {
  it('S4.2 an op that returns UNCHANGED keeps the deadline; one that returns an equal value writes it with the store default', async () => {
    const clock = manualClock()
    const Tags = t.set(t.string())
    const { hub, node } = await cluster({
      clock,
      stores: { tags: { schema: Tags, expiry: '1h', ops: { same: (current) => current } } },
    })
    const tags = await (await node()).open('tags', { schema: Tags })
    const master = hub.master('tags')!
    const first = await tags.update('k', 'a', { op: 'insertInto', expiry: '5m' })
    const deadline = master.get('k')!.deadline
    expect(deadline).toBe(clock.now() + 300_000)
    clock.advance(60_000)
    expect(await tags.update('k', 'a', { op: 'insertInto' })).toBe(first)
    expect(master.get('k')!.deadline).toBe(deadline)
    const second = await tags.update('k', null, { op: 'same' })
    expect(second).toBe(first + 1)
    expect(tags.seqOf('k')).toBe(second)
    expect(master.get('k')!.deadline).toBe(clock.now() + 3_600_000)
  })
})
