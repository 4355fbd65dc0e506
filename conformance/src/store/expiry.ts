import { type Hub, PersistenceError, type StoreConfig } from '@concord/core'
import { type ManualClock, manualClock } from '@concord/core/testing'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../harness.js'
import { eventually, masterSeq, record } from '../helpers.js'
import { Text } from '../schemas.js'

/** The deadline the master stored for `key`, or undefined. */
function deadlineOf(hub: Hub, store: string, key: string): number | undefined {
  return hub.master(store)?.backend.get(key)?.deadline
}

/** Whether the master still holds `key` (committed or not). */
function masterHas(hub: Hub, store: string, key: string): boolean {
  return hub.master(store)?.get(key) !== undefined
}

/** S4: expiry. The hubs run on a manual clock, so deadlines are exact and nothing waits. */
export function expiryTests({ h, probe }: SuiteContext): void {
  describe('S4 expiry', () => {
    /** A hub on a manual clock; its heartbeat is 20 days away, so only expiry moves with the clock. */
    const clockedHub = async (config: Partial<StoreConfig> = {}, clock: ManualClock = manualClock()) => {
      const hub = await h().hub({ clock, heartbeat: '20d', stores: { kv: { schema: Text, ...config } } })
      return { hub, clock }
    }

    it("S4.1 a store's default expiry applies to every write that carries none, as an absolute persisted deadline", async () => {
      const { hub, clock } = await clockedHub({ expiry: 1000, expiryTolerance: 50 })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const changes = record(store.changes())
      const t0 = clock.now()
      await store.put('a', 'one')
      expect(deadlineOf(hub, 'kv', 'a')).toBe(t0 + 1000)
      clock.advance(999)
      expect(masterHas(hub, 'kv', 'a')).toBe(true)
      clock.advance(51)
      expect(masterHas(hub, 'kv', 'a')).toBe(false)
      await eventually(() => expect(store.has('a')).toBe(false))
      expect(changes.items.map((c) => `${c.kind} ${c.key}`)).toEqual(['put a', 'expire a'])
    })

    it('S4.1 an expiry in fractions of a unit is whole milliseconds, rounded; it and the writes sent with it succeed', async () => {
      const { hub, clock } = await clockedHub({ expiry: '0.0105s' })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const t0 = clock.now()
      const seqs = await Promise.all([
        store.put('tenth', 'x', { expiry: '4.1m' }),
        store.put('half', 'x', { expiry: 1.5 }),
        store.put('default', 'x'),
      ])
      expect(seqs).toHaveLength(3)
      expect(deadlineOf(hub, 'kv', 'tenth')).toBe(t0 + 246_000)
      expect(deadlineOf(hub, 'kv', 'half')).toBe(t0 + 2)
      expect(deadlineOf(hub, 'kv', 'default')).toBe(t0 + 11)
      await expect(store.put('never', 'x', { expiry: '1'.repeat(400) })).rejects.toBeInstanceOf(RangeError)
    })

    it('S4.1 a write carrying its own expiry overrides the default', async () => {
      const { hub, clock } = await clockedHub({ expiry: '10s', expiryTolerance: 50 })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const t0 = clock.now()
      await store.put('short', 'x', { expiry: 500 })
      await store.put('text', 'x', { expiry: '2s' })
      await store.put('default', 'x')
      expect(deadlineOf(hub, 'kv', 'short')).toBe(t0 + 500)
      expect(deadlineOf(hub, 'kv', 'text')).toBe(t0 + 2000)
      expect(deadlineOf(hub, 'kv', 'default')).toBe(t0 + 10_000)
      clock.advance(600)
      await eventually(() => expect(store.has('short')).toBe(false))
      expect(store.has('text')).toBe(true)
      expect(store.has('default')).toBe(true)
    })

    it('S4.2 every write sets the deadline to what it carries; one without expiry, on a store without a default, clears it', async () => {
      const { hub, clock } = await clockedHub({ expiryTolerance: 50 })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const t0 = clock.now()
      await store.put('a', 'v1', { expiry: 500 })
      await store.put('a', 'v2')
      expect(deadlineOf(hub, 'kv', 'a')).toBeUndefined()
      await store.put('b', 'v1', { expiry: 500 })
      await store.put('b', 'v2', { expiry: 5000 })
      expect(deadlineOf(hub, 'kv', 'b')).toBe(t0 + 5000)
      await store.put('c', 'v1', { expiry: 500 })
      await store.update('c', '+', { op: 'append' })
      expect(deadlineOf(hub, 'kv', 'c')).toBeUndefined()
      clock.advance(1000)
      expect(masterHas(hub, 'kv', 'a')).toBe(true)
      expect(masterHas(hub, 'kv', 'b')).toBe(true)
      expect(masterHas(hub, 'kv', 'c')).toBe(true)
      await store.put('sentinel', 's')
      expect(store.get('a')).toBe('v2')
      expect(store.get('b')).toBe('v2')
      expect(store.get('c')).toBe('v1+')
      clock.advance(4100)
      await eventually(() => expect(store.has('b')).toBe(false))
      expect(store.has('a')).toBe(true)
    })

    it('S4.2 with a default, a write without expiry renews it and one carrying expiry null clears it', async () => {
      const { hub, clock } = await clockedHub({ expiry: 1000, expiryTolerance: 50 })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const t0 = clock.now()
      await store.put('renewed', 'v1')
      await store.put('forever', 'v1')
      clock.advance(500)
      await store.put('renewed', 'v2')
      await store.put('forever', 'v2', { expiry: null })
      expect(deadlineOf(hub, 'kv', 'renewed')).toBe(t0 + 1500)
      expect(deadlineOf(hub, 'kv', 'forever')).toBeUndefined()
      clock.advance(700)
      expect(masterHas(hub, 'kv', 'renewed')).toBe(true)
      clock.advance(400)
      await eventually(() => expect(store.has('renewed')).toBe(false))
      clock.advance(100_000)
      expect(masterHas(hub, 'kv', 'forever')).toBe(true)
      await store.put('sentinel', 's')
      expect(store.get('forever')).toBe('v2')
    })

    it('S4.2 reads never extend a deadline', async () => {
      const { hub, clock } = await clockedHub({ expiryTolerance: 50 })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const t0 = clock.now()
      await store.put('a', 'v', { expiry: 1000 })
      clock.advance(600)
      for (let i = 0; i < 10; i++) {
        expect(store.get('a')).toBe('v')
        expect(store.has('a')).toBe(true)
        expect([...store.entries()]).toHaveLength(1)
      }
      const other = await (await h().node(hub)).open('kv', { schema: Text })
      expect(other.get('a')).toBe('v')
      expect(deadlineOf(hub, 'kv', 'a')).toBe(t0 + 1000)
      clock.advance(450)
      await eventually(() => {
        expect(store.has('a')).toBe(false)
        expect(other.has('a')).toBe(false)
      })
    })

    it('S4.3 only the master expires, within expiryTolerance, and every clone gets an expire mutation', async () => {
      const { hub, clock } = await clockedHub({ expiryTolerance: 50 })
      const a = await (await h().node(hub)).open('kv', { schema: Text })
      const b = await (await h().node(hub)).open('kv', { schema: Text })
      const logs = [record(a.changes()), record(b.changes())]
      await a.put('k', 'v', { expiry: 1000 })
      clock.advance(999)
      expect(masterHas(hub, 'kv', 'k')).toBe(true)
      await a.put('sentinel', 's')
      await eventually(() => expect(b.has('sentinel')).toBe(true))
      expect(b.has('k')).toBe(true)
      clock.advance(51)
      expect(masterHas(hub, 'kv', 'k')).toBe(false)
      await eventually(() => {
        expect(a.has('k')).toBe(false)
        expect(b.has('k')).toBe(false)
      })
      for (const log of logs) {
        const last = log.items.at(-1)!
        expect(last).toEqual({ kind: 'expire', key: 'k', previous: 'v', seq: masterSeq(hub, 'kv') })
      }
    })

    it('S4.3 expire and remove are distinct mutations', async () => {
      const { hub, clock } = await clockedHub({ expiryTolerance: 50 })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      const observer = await (await h().node(hub)).open('kv', { schema: Text })
      const changes = record(observer.changes())
      await writer.put('removed', 'x', { expiry: 1000 })
      await writer.put('expired', 'y', { expiry: 1000 })
      await writer.remove('removed')
      clock.advance(1050)
      await eventually(() => expect(observer.size).toBe(0))
      expect(changes.items.map((c) => `${c.kind} ${c.key}`)).toEqual([
        'put removed',
        'put expired',
        'remove removed',
        'expire expired',
      ])
    })

    if (probe.has.failReads) {
      it('S4.3 S9.2 an entry that cannot be read when it falls due is counted and tried again a second later; the others expire meanwhile', async () => {
        const { hub, clock } = await clockedHub({ expiryTolerance: 50 })
        const store = await (await h().node(hub)).open('kv', { schema: Text })
        const changes = record(store.changes())
        await store.put('a', 'one', { expiry: 1000 })
        await store.put('b', 'two', { expiry: 1000 })
        h().env.failReads!(1)
        clock.advance(1000)
        expect(hub.master('kv')!.readFailures).toBe(1)
        const left = ['a', 'b'].filter((key) => masterHas(hub, 'kv', key))
        expect(left).toHaveLength(1)
        await eventually(() => expect([...store.keys()]).toEqual(left))
        clock.advance(999)
        expect(masterHas(hub, 'kv', left[0]!)).toBe(true)
        clock.advance(1)
        expect(masterHas(hub, 'kv', left[0]!)).toBe(false)
        await eventually(() => expect(store.size).toBe(0))
        expect(changes.items.filter((c) => c.kind === 'expire').map((c) => c.key)).toEqual(
          ['a', 'b'].filter((key) => key !== left[0]).concat(left),
        )
      })
    }

    if (probe.has.failReads && probe.has.failCommits) {
      it('S4.3 S9.2 after a failed commit whose deadlines cannot be read back at once, entries still expire', async () => {
        const { hub, clock } = await clockedHub({ expiryTolerance: 50 })
        const store = await (await h().node(hub)).open('kv', { schema: Text })
        await store.put('a', 'one', { expiry: 2000 })
        h().env.failCommits!(1)
        h().env.failReads!(1)
        await expect(store.put('b', 'two', { expiry: 500 })).rejects.toBeInstanceOf(PersistenceError)
        expect(hub.master('kv')!.readFailures).toBe(1)
        clock.advance(1000)
        clock.advance(1000)
        expect(masterHas(hub, 'kv', 'a')).toBe(false)
        await eventually(() => expect(store.size).toBe(0))
      })
    }

    it('S4.3 S4.5 many entries expire in deadline order, each exactly once', async () => {
      const { hub, clock } = await clockedHub({ expiryTolerance: 10 })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      const observer = await (await h().node(hub)).open('kv', { schema: Text })
      const changes = record(observer.changes())
      const deadlines = new Map<string, number>()
      const writes: Promise<number>[] = []
      for (let i = 0; i < 200; i++) {
        const expiry = 1000 + ((i * 7919) % 200) * 25
        deadlines.set(`k${i}`, expiry)
        writes.push(writer.put(`k${i}`, `v${i}`, { expiry }))
      }
      await Promise.all(writes)
      await eventually(() => expect(observer.size).toBe(200))
      for (let step = 0; step < 60; step++) clock.advance(100)
      await eventually(() => expect(observer.size).toBe(0))
      const expired = changes.items.filter((c) => c.kind === 'expire').map((c) => c.key)
      expect(new Set(expired).size).toBe(200)
      expect(expired).toHaveLength(200)
      const order = expired.map((key) => deadlines.get(key)!)
      for (let i = 1; i < order.length; i++) expect(order[i]!).toBeGreaterThanOrEqual(order[i - 1]!)
    })

    it('S4.4 after a restart, entries that fell due while the master was down expire at once, before any clone is served', async () => {
      const clock = manualClock()
      const stores = { kv: { schema: Text, expiryTolerance: 50 } }
      const hub = await h().hub({ clock, heartbeat: '20d', stores })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      await writer.put('due', 'x', { expiry: 1000 })
      await writer.put('later', 'y', { expiry: 10_000 })
      await writer.put('never', 'z')
      const seq = masterSeq(hub, 'kv')
      const address = hub.address
      await h().stopHub(hub)
      clock.advance(5000)
      const restarted = await h().hub({ clock, heartbeat: '20d', stores, listen: address })
      expect(masterHas(restarted, 'kv', 'due')).toBe(false)
      expect(masterSeq(restarted, 'kv')).toBe(seq + 1)
      expect(deadlineOf(restarted, 'kv', 'later')).toBeDefined()
      const reader = await (await h().node(restarted)).open('kv', { schema: Text })
      expect(reader.has('due')).toBe(false)
      expect(reader.get('later')).toBe('y')
      expect(reader.get('never')).toBe('z')
      const changes = record(reader.changes())
      clock.advance(5050)
      await eventually(() => expect(reader.has('later')).toBe(false))
      expect(changes.items.map((c) => `${c.kind} ${c.key}`)).toEqual(['expire later'])
      await eventually(() => expect(writer.has('due') || writer.has('later')).toBe(false))
    })

    it('S4.1 S4.3 when the clock jumps past a deadline, the entry expires within a second, whatever timer was armed before', async () => {
      // Timers count elapsed time; the clock's time can jump (an NTP step, a resumed VM).
      const timers = manualClock()
      let jump = 0
      const clock = {
        now: () => timers.now() + jump,
        setTimeout: (callback: () => void, ms: number) => timers.setTimeout(callback, ms),
        clearTimeout: (handle: object) => timers.clearTimeout(handle),
      }
      const hub = await h().hub({
        clock,
        heartbeat: '20d',
        stores: { kv: { schema: Text, expiryTolerance: 50 } },
      })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await store.put('hour', 'x', { expiry: '1h' })
      await store.put('day', 'y', { expiry: '1d' })
      jump = 2 * 3_600_000
      timers.advance(1000 + 50)
      expect(masterHas(hub, 'kv', 'hour')).toBe(false)
      expect(masterHas(hub, 'kv', 'day')).toBe(true)
      await eventually(() => expect(store.has('hour')).toBe(false))
    })

    it('S4.5 the clock is injectable: expiry follows the hub clock, not the wall clock', async () => {
      const { hub, clock } = await clockedHub({ expiryTolerance: 50 })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await store.put('hour', 'x', { expiry: '1h' })
      await store.put('day', 'y', { expiry: '1d' })
      clock.advance(3_600_000 + 50)
      await eventually(() => expect(store.has('hour')).toBe(false))
      expect(store.has('day')).toBe(true)
      clock.advance(86_400_000)
      await eventually(() => expect(store.has('day')).toBe(false))
    })
  })
}
