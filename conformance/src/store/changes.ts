import { memoryPersistence, OverflowError } from '@concord/core'
import { manualClock } from '@concord/core/testing'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../harness.js'
import { cloneEntries, eventually, masterEntries, masterSeq, record, SOON, take, within } from '../helpers.js'
import { Text } from '../schemas.js'

/** S5: change notification. */
export function changesTests({ h, probe }: SuiteContext): void {
  describe('S5 change notification', () => {
    it('S5.1 changes() yields put, remove, expire and clear in seq order, with value and previous', async () => {
      const clock = manualClock()
      const hub = await h().hub({
        clock,
        heartbeat: '20d',
        stores: { kv: { schema: Text, expiryTolerance: 10 } },
      })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const changes = store.changes()
      const s1 = await store.put('a', 'one')
      const s2 = await store.put('a', 'two')
      const s3 = await store.remove('a')
      const s4 = await store.put('b', 'short', { expiry: 100 })
      clock.advance(200)
      await eventually(() => expect(store.has('b')).toBe(false))
      const s6 = await store.put('c', 'three')
      const s7 = await store.clear()
      expect(await take(changes, 7)).toEqual([
        { kind: 'put', key: 'a', value: 'one', previous: undefined, seq: s1 },
        { kind: 'put', key: 'a', value: 'two', previous: 'one', seq: s2 },
        { kind: 'remove', key: 'a', previous: 'two', seq: s3 },
        { kind: 'put', key: 'b', value: 'short', previous: undefined, seq: s4 },
        { kind: 'expire', key: 'b', previous: 'short', seq: s4 + 1 },
        { kind: 'put', key: 'c', value: 'three', previous: undefined, seq: s6 },
        { kind: 'clear', key: '', seq: s7 },
      ])
    })

    it('S5.1 changes({ prefix }) yields only the changes under the prefix, and clears', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const filtered = store.changes({ prefix: 'x/' })
      await store.put('x/1', 'a')
      await store.put('y/1', 'b')
      await store.put('x1', 'c')
      await store.remove('y/1')
      await store.put('x/2', 'd')
      await store.clear()
      const seen = await take(filtered, 3)
      expect(seen.map((c) => `${c.kind} ${c.key}`)).toEqual(['put x/1', 'put x/2', 'clear '])
    })

    it('S5.1 a changes() iterator yields from its creation on, and ends when the store closes', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await store.put('before', '1')
      const changes = record(store.changes())
      await store.put('after', '2')
      await eventually(() => expect(changes.items).toHaveLength(1))
      await store.close()
      expect(await within(changes.ended, SOON, 'the iterator after close')).toBeUndefined()
      expect(changes.items.map((c) => c.key)).toEqual(['after'])
    })

    it('S5.2 a consumer that falls behind gets an OverflowError after what was buffered; the store keeps working', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const slow = store.changes({ bufferSize: 4 })
      const healthy = record(store.changes())
      for (let i = 0; i < 10; i++) await store.put(`k${i}`, `v${i}`)
      const read: string[] = []
      const error = await (async () => {
        try {
          for await (const change of slow) read.push(change.key)
        } catch (caught) {
          return caught
        }
        return undefined
      })()
      expect(error).toBeInstanceOf(OverflowError)
      expect((error as OverflowError).code).toBe('ERR_OVERFLOW')
      expect(read).toEqual(['k0', 'k1', 'k2', 'k3'])
      expect(await store.put('k10', 'v10')).toBe(masterSeq(hub, 'kv'))
      expect(store.get('k10')).toBe('v10')
      await eventually(() => expect(healthy.items).toHaveLength(11))
    })

    it('S5.1 S6.4 after a master restarted without its data, changes() reports every value that differs, even at a seq the clone saw', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const reader = await (await h().node(hub)).open('kv', { schema: Text })
      await reader.put('same-seq', 'old')
      await reader.put('unchanged', 'kept')
      const changes = record(reader.changes())
      // Other data, whose seqs 1 and 2 are other writes (restored from elsewhere, say).
      const storage = memoryPersistence()
      const other = await h().hub({ stores, persistence: storage })
      const filler = await (await h().node(other)).open('kv', { schema: Text })
      await filler.put('same-seq', 'new')
      await filler.put('unchanged', 'kept')
      await other.close()
      const address = hub.address
      await h().stopHub(hub)
      const restarted = await h().hub({ stores, listen: address, persistence: storage })
      await eventually(() => expect(reader.epoch).toBe(restarted.master('kv')!.epoch))
      await eventually(() => expect(reader.status).toBe('live'))
      expect(reader.get('same-seq')).toBe('new')
      expect(changes.items).toEqual([{ kind: 'put', key: 'same-seq', value: 'new', previous: 'old', seq: 1 }])
    })

    if (probe.has.faults) {
      it('S5.1 S6.3 changes stay in seq order across a snapshot resync', async () => {
        const hub = await h().hub({ stores: { kv: { schema: Text, log: { maxMutations: 1 } } } })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        const reader = await (await h().node(hub, { identity: 'reader' })).open('kv', { schema: Text })
        for (const key of ['a', 'b', 'c', 'd']) await writer.put(key, 'old')
        await eventually(() => expect(reader.size).toBe(4))
        const changes = record(reader.changes())
        h().env.faults!.partition('reader')
        await eventually(() => expect(reader.status).toBe('stale'))
        // Written in reverse key order, so key order and seq order differ.
        for (const key of ['z', 'd', 'b']) await writer.put(key, 'new')
        await writer.remove('c')
        h().env.faults!.heal('reader')
        await eventually(() => expect(reader.seq).toBe(masterSeq(hub, 'kv')))
        expect(cloneEntries(reader)).toEqual(masterEntries(hub, 'kv', Text))
        const seqs = changes.items.map((c) => c.seq)
        for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThanOrEqual(seqs[i - 1]!)
        expect(changes.items.map((c) => `${c.kind} ${c.key}`).sort()).toEqual(
          ['put b', 'put d', 'put z', 'remove c'].sort(),
        )
      })
    }
  })
}
