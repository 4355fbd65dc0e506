/**
 * A hub restarted on its data (S6.3, S6.4): a new epoch that begins where the store's last
 * run ended. A clone that had everything resumes from the log instead of taking a snapshot.
 */
import { t } from '@concord/schema'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createHub,
  createNode,
  memoryPersistence,
  memoryTransport,
  type Persistence,
  PersistenceError,
} from '../src/index.js'
import { newNodeMetrics } from '../src/node/node-metrics.js'
import { restartableHub } from './memory-cluster.js'
import { soon } from './soon.js'

const Text = t.string()
const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** A hub without heartbeats (nothing but what a test does reaches the nodes) on `persistence`. */
const restartable = (persistence: Persistence = memoryPersistence()) =>
  restartableHub(closers, { heartbeat: '1h', persistence })

describe('a hub restarted on its data', () => {
  it('S6.3 S6.4 a clone that had everything resumes in the new epoch: no snapshot, no change reported', async () => {
    const cluster = await restartable()
    const writerNode = await cluster.node('writer')
    const writer = await writerNode.open('kv', { schema: Text })
    const readerNode = await cluster.node('reader')
    const reader = await readerNode.open('kv', { schema: Text })
    await writer.put('a', 'one')
    const seq = await writer.put('b', 'two')
    await reader.reached(seq)
    const changes = reader.changes()[Symbol.asyncIterator]()
    const before = reader.epoch

    await cluster.restart({ crash: false })
    await soon(() => expect(reader.epoch).toBe(cluster.hub.master('kv')!.epoch))
    expect(reader.epoch).not.toBe(before)
    expect(cluster.hub.metrics).toMatchObject({ resumes: 2, snapshots: 0 })
    expect(readerNode.metrics).toMatchObject({ resumes: 1, snapshots: 1, resyncs: newNodeMetrics().resyncs })
    expect(reader.seq).toBe(seq)

    // The new epoch goes on from there, for both clones.
    const next = await writer.put('c', 'three')
    expect(next).toBe(seq + 1)
    await reader.reached(next)
    expect([...reader.entries()]).toEqual([
      ['a', 'one'],
      ['b', 'two'],
      ['c', 'three'],
    ])
    // The restart itself changed nothing: the first change reported is the new write.
    expect((await changes.next()).value).toMatchObject({ kind: 'put', key: 'c', seq: next })
  })

  it('S6.3 a clone behind when the hub crashed takes a snapshot: the log of the last run is gone', async () => {
    const cluster = await restartable()
    const writer = await (await cluster.node('writer')).open('kv', { schema: Text })
    const readerNode = await cluster.node('reader')
    const reader = await readerNode.open('kv', { schema: Text })
    await writer.put('a', 'one')
    const lose = cluster.transport.faults.drop(1, { direction: 'toNode', kind: 'broadcast', node: 'reader' })
    const missed = await writer.put('b', 'missed')
    lose()
    await cluster.restart()
    await soon(() => expect(reader.get('b')).toBe('missed'))
    expect(reader.seq).toBe(missed)
    expect(cluster.hub.metrics.snapshots).toBe(1)
    expect(readerNode.metrics.snapshots).toBe(2)
  })

  it('S6.4 a hub on other data that reached the same seq gives a snapshot', async () => {
    const cluster = await restartable()
    const writer = await (await cluster.node('writer')).open('kv', { schema: Text })
    const readerNode = await cluster.node('reader')
    const reader = await readerNode.open('kv', { schema: Text })
    await reader.reached(await writer.put('a', 'one'))
    // Other data at seq 1 too, written by a hub that never saw this clone's epoch.
    const other = memoryPersistence()
    const otherTransport = memoryTransport()
    const seeder = await createHub({
      transport: otherTransport,
      listen: 'memory://seeder',
      persistence: other,
      stores: { kv: { schema: Text } },
    })
    const seedNode = await createNode({ transport: otherTransport, hub: seeder.address })
    await (await seedNode.open('kv', { schema: Text })).put('a', 'other')
    await seedNode.close()
    await seeder.close()

    await cluster.restart({ crash: false, persistence: other })
    await soon(() => expect(reader.get('a')).toBe('other'))
    expect(reader.epoch).toBe(cluster.hub.master('kv')!.epoch)
    expect(cluster.hub.metrics.resumes).toBe(0)
    expect(readerNode.metrics).toMatchObject({ snapshots: 2, resumes: 0 })
  })

  it('S6.4 a write acknowledged past where the new epoch began is lost, though the clone resumes', async () => {
    // A persistence that stops keeping commits while it still says they succeeded, as one
    // that lost its last writes in an OS crash would have.
    const inner = memoryPersistence()
    let forget = false
    const persistence: Persistence = {
      capabilities: inner.capabilities,
      close: () => inner.close(),
      async open(store, options) {
        const backend = await inner.open(store, options)
        return new Proxy(backend, {
          get(target, property) {
            if (property === 'commit' && forget) return () => Promise.resolve()
            const value = Reflect.get(target, property, target)
            return typeof value === 'function' ? value.bind(target) : value
          },
        })
      },
    }
    const cluster = await restartable(persistence)
    const writerNode = await cluster.node('writer')
    const writer = await writerNode.open('kv', { schema: Text })
    const seq = await writer.put('a', 'kept')
    forget = true
    // The writer's clone misses the broadcast of its next write: it stays at `seq`.
    const lose = cluster.transport.faults.drop(1, { direction: 'toNode', kind: 'broadcast', node: 'writer' })
    const write = writer.put('b', 'acknowledged, then lost')
    await soon(() => expect(cluster.hub.metrics.mutations).toBe(2))
    lose()
    await cluster.restart()
    forget = false
    await expect(write).rejects.toBeInstanceOf(PersistenceError)
    expect(writer.seq).toBe(seq)
    expect(writerNode.metrics).toMatchObject({ writesLost: 1, resumes: 1, snapshots: 1 })
    expect(writer.get('b')).toBeUndefined()
  })
})

describe('Master.continues', () => {
  it('S6.3 holds for the runs of the same persistence that ended where the current one began', async () => {
    const persistence = memoryPersistence()
    const transport = memoryTransport()
    const run = async (writes: number) => {
      const hub = await createHub({
        transport,
        listen: 'memory://runs',
        persistence,
        stores: { kv: { schema: Text } },
      })
      const node = await createNode({ transport, hub: hub.address })
      const kv = await node.open('kv', { schema: Text })
      for (let i = 0; i < writes; i++) await kv.put(`k${i}`, 'v')
      await node.close()
      const epoch = hub.master('kv')!.epoch
      await hub.close()
      return epoch
    }
    const first = await run(3) // seqs 1-3
    const second = await run(2) // seqs 4-5
    const third = await run(0) // wrote nothing: ended at 5 too
    const hub = await createHub({
      transport,
      listen: 'memory://runs',
      persistence,
      stores: { kv: { schema: Text } },
    })
    closers.push(() => hub.close())
    const master = hub.master('kv')!
    expect(master.continues(second, 5)).toBe(true)
    expect(master.continues(third, 5)).toBe(true)
    expect(master.continues(master.epoch, 5)).toBe(true)
    expect(master.continues(second, 4)).toBe(false)
    expect(master.continues(first, 3)).toBe(false)
    expect(master.continues(first, 5)).toBe(false)
    expect(master.continues('never-seen', 5)).toBe(false)
    expect(master.continues(null, 5)).toBe(false)
  })
})
