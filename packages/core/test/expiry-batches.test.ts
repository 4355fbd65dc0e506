/**
 * Expiry of many entries falling due at once (S4.3, S4.5): the master expires them in
 * bounded batches, one event-loop turn and one commit each, so it serves writes and heartbeats
 * between them.
 */
import { t } from '@concord/schema'
import { describe, expect, it, vi } from 'vitest'
import { EXPIRE_PER_TURN } from '../src/hub/master.js'
import { memoryPersistence, type Store } from '../src/index.js'
import { manualClock } from '../src/testing.js'
import { useMemoryClusters } from './memory-cluster.js'

const cluster = useMemoryClusters()

/** Puts `count` keys that expire 100 ms from now. */
async function putExpiring(store: Store<string>, count: number): Promise<void> {
  for (let from = 0; from < count; from += 10_000) {
    const writes: Promise<number>[] = []
    for (let i = from; i < Math.min(count, from + 10_000); i++)
      writes.push(store.put(`k${i}`, 'v', { expiry: 100 }))
    await Promise.all(writes)
  }
}

describe('expiring many entries at once (S4.3, S4.5)', () => {
  it('S4.5 entries falling due together expire a bounded batch per turn, each batch its own commit', async () => {
    const clock = manualClock()
    const { hub, node } = await cluster({ clock })
    const store = await (await node()).open('kv', { schema: t.string() })
    const count = 2 * EXPIRE_PER_TURN + 100
    await putExpiring(store, count)
    const master = hub.master('kv')!
    const before = master.lastSeq
    const commits = hub.metrics.commits
    clock.advance(200)
    // The timer's turn expired one batch; the rest waits for the next turns.
    expect(master.lastSeq - before).toBe(EXPIRE_PER_TURN)
    await vi.waitFor(() => expect(store.size).toBe(0), { timeout: 10_000 })
    expect(master.lastSeq - before).toBe(count)
    // Each batch is a commit of its own, not one transaction of them all.
    expect(hub.metrics.commits - commits).toBeGreaterThanOrEqual(Math.ceil(count / EXPIRE_PER_TURN))
  })

  it('S4.4 S4.5 a restarted master expires every entry that fell due while it was down, batch by batch, before it serves', async () => {
    const clock = manualClock()
    const persistence = memoryPersistence()
    const first = await cluster({ clock, persistence })
    const store = await (await first.node()).open('kv', { schema: t.string() })
    const count = 2 * EXPIRE_PER_TURN + 100
    await putExpiring(store, count)
    const seq = first.hub.master('kv')!.lastSeq
    await first.hub.close()
    clock.advance(200)
    const second = await cluster({ clock, persistence })
    expect(second.hub.master('kv')!.lastSeq).toBe(seq + count)
    // Each batch its own commit, all before the hub listened.
    expect(second.hub.metrics.commits).toBeGreaterThanOrEqual(Math.ceil(count / EXPIRE_PER_TURN))
    const reader = await (await second.node()).open('kv', { schema: t.string() })
    expect(reader.size).toBe(0)
  })
})
