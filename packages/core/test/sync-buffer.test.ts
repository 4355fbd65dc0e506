import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { createNode } from '../src/index.js'
import { newNodeMetrics } from '../src/node/node-metrics.js'
import { useMemoryClusters } from './memory-cluster.js'
import { soon } from './soon.js'

const cluster = useMemoryClusters()

describe("a clone's sync buffer", () => {
  it('S2.1 S6.3 is bounded in bytes: large values past limits.syncBufferBytes restart the sync from a snapshot instead of piling up, and the clone converges', async () => {
    const limit = 1024 * 1024
    const value = 'x'.repeat(100 * 1024)
    // Heartbeats an hour apart: neither side gives up on the held sync by itself.
    const { hub, transport, node } = await cluster({ heartbeat: '1h' })
    const writer = await (await node('writer')).open('kv', { schema: t.string() })
    const snapshots = hub.metrics.snapshots
    const cloneNode = await node('clone', { limits: { syncBufferBytes: limit } })
    await soon(() => expect(cloneNode.status).toBe('connected'))
    // The sync is held: what the clone sends never reaches the hub (its OPEN, and each OPEN
    // of a sync started over), while the store's broadcasts reach it and are buffered.
    const unhold = transport.faults.drop(1, { direction: 'toHub', node: 'clone' })
    const opening = cloneNode.open('kv', { schema: t.string() })
    let seq = 0
    for (let i = 0; i < 30; i++) seq = await writer.put(`k${i % 12}`, `${i}${value}`)
    // 30 broadcasts of 100 KiB: each time the buffer passed 1 MiB, the sync started over
    // (another OPEN, dropped) and the buffer was let go.
    const opens = transport.stats.toHub.dropped.fault
    expect(opens).toBeGreaterThanOrEqual(3)
    expect(opens).toBeLessThanOrEqual(4)
    expect(hub.metrics.snapshots).toBe(snapshots)
    // The first OPEN, then one per sync started over: each counted as a resync for its buffer.
    expect(cloneNode.metrics.resyncs.syncBuffer).toBe(opens - 1)
    expect(cloneNode.metrics.snapshots).toBe(0)

    // Let the clone through: the next time its buffer overflows, the OPEN of the sync it
    // starts reaches the hub, and the snapshot brings it up to date.
    unhold()
    for (let i = 0; i < 40 && hub.metrics.snapshots === snapshots; i++) {
      seq = await writer.put(`k${i % 12}`, `late ${i}${value}`)
    }
    expect(hub.metrics.snapshots).toBe(snapshots + 1)
    const clone = await opening
    await clone.reached(seq)
    expect(clone.status).toBe('live')
    expect(new Map(clone.entries())).toEqual(new Map(writer.entries()))
    // One more start over, whose OPEN got through; nothing else made it start again.
    expect(cloneNode.metrics.resyncs).toEqual({ ...newNodeMetrics().resyncs, syncBuffer: opens })
    expect(cloneNode.metrics.snapshots).toBe(1)
  })

  it('takes only positive limits', async () => {
    const { hub, transport } = await cluster()
    for (const limits of [{ syncBufferBytes: 0 }, { syncBufferMutations: Number.NaN }]) {
      await expect(createNode({ transport, hub: hub.address, limits })).rejects.toThrow(RangeError)
    }
  })
})
