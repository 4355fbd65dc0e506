/**
 * End to end with core: a hub over LMDB, a node writing through it, a restart over the same
 * folder (S6.4: every acknowledged write recovered with its seq, numbering continues; S4.4:
 * deadlines that passed while the hub was down expire at once).
 */
import { createHub, createNode, type Hub, memoryTransport } from '@concord/core'
import { manualClock } from '@concord/core/testing'
import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { lmdbModule, lmdbPersistence } from '../src/index.js'
import { useScratch } from './helpers.js'

const scratch = useScratch()

describe('a hub over lmdbPersistence', () => {
  it('S6.4 recovers every acknowledged write with its seq after a restart, and seq numbering continues', async () => {
    const path = await scratch.dir()
    const transport = memoryTransport()
    const stores = { kv: { schema: t.string() } }
    const hub1 = await createHub({
      transport,
      listen: 'memory://h',
      persistence: lmdbPersistence({ path }),
      stores,
    })
    const node1 = await createNode({ transport, hub: 'memory://h' })
    const kv1 = await node1.open('kv', { schema: t.string() })
    const acked = new Map<string, number>()
    // Many writes in flight at once: the master commits them in group commits.
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        acked.set(`k${i}`, await kv1.put(`k${i}`, `v${i}`))
      }),
    )
    acked.set('k0', await kv1.put('k0', 'rewritten'))
    await kv1.remove('k1')
    acked.delete('k1')
    const lastSeq = hub1.master('kv')!.committedSeq
    expect(lastSeq).toBe(202)
    await node1.close()
    await hub1.close()

    const hub2: Hub = await createHub({
      transport,
      listen: 'memory://h',
      persistence: lmdbPersistence({ path }),
      stores,
    })
    const master = hub2.master('kv')!
    expect(master.committedSeq).toBe(lastSeq)
    for (const [key, seq] of acked) expect(master.get(key)?.seq).toBe(seq)
    expect(master.get('k1')).toBeUndefined()
    const node2 = await createNode({ transport, hub: 'memory://h' })
    const kv2 = await node2.open('kv', { schema: t.string() })
    expect(kv2.size).toBe(199)
    expect(kv2.get('k0')).toBe('rewritten')
    expect(kv2.get('k199')).toBe('v199')
    expect(await kv2.put('new', 'x')).toBe(lastSeq + 1)
    await node2.close()
    await hub2.close()
  })

  it('S4.4 an entry whose deadline passed while the hub was down expires at once after recovery', async () => {
    const path = await scratch.dir()
    const transport = memoryTransport()
    const clock = manualClock(1_000_000)
    const stores = { kv: { schema: t.string() } }
    const config = { transport, listen: 'memory://e', clock, stores }
    const hub1 = await createHub({ ...config, modules: [lmdbModule({ path })] })
    const node = await createNode({ transport, hub: 'memory://e', clock })
    const kv = await node.open('kv', { schema: t.string() })
    await kv.put('short', 'x', { expiry: 1000 })
    await kv.put('long', 'y', { expiry: 60_000 })
    await kv.put('forever', 'z')
    await node.close()
    await hub1.close()

    clock.advance(5000)
    const hub2 = await createHub({ ...config, modules: [lmdbModule({ path })] })
    const master = hub2.master('kv')!
    expect(master.get('short')).toBeUndefined()
    expect(master.get('long')?.deadline).toBe(1_000_000 + 60_000)
    expect(master.get('forever')?.deadline).toBeUndefined()
    await hub2.close()
  })
})
