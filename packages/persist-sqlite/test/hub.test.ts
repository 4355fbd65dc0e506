import { readFileSync, writeFileSync } from 'node:fs'
import { createHub, createNode, type Hub, memoryTransport, PersistenceError } from '@concord/core'
import { manualClock } from '@concord/core/testing'
import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { SqliteStoreBackend, sqliteModule, sqlitePersistence } from '../src/index.js'
import { opts, tempDir } from './helpers.js'

describe('a hub on sqlite persistence', () => {
  it('restarted over the same folder, recovers every acknowledged write with its seq and continues the numbering (S6.4)', async () => {
    const dir = tempDir()
    const transport = memoryTransport()
    const schema = t.string()
    const config = { transport, listen: 'memory://h', stores: { kv: { schema } } }
    const hub = await createHub({ ...config, persistence: sqlitePersistence({ path: dir }) })
    const node = await createNode({ transport, hub: hub.address })
    const kv = await node.open('kv', { schema })

    const acknowledged = new Map<string, { value: string; seq: number }>()
    // Many writes in flight at once: the master commits them in a few group commits.
    await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const seq = await kv.put(`k${i}`, `v${i}`)
        acknowledged.set(`k${i}`, { value: `v${i}`, seq })
      }),
    )
    const removed = await kv.remove('k7')
    acknowledged.delete('k7')
    const rewritten = await kv.put('k8', 'again')
    acknowledged.set('k8', { value: 'again', seq: rewritten })
    expect(removed).toBeLessThan(rewritten)
    const lastSeq = kv.seq
    const firstEpoch = kv.epoch
    expect(lastSeq).toBe(302)
    await node.close()
    await hub.close()

    const persistence = sqlitePersistence({ path: dir })
    const restarted = await createHub({ ...config, persistence })
    const node2 = await createNode({ transport, hub: restarted.address })
    const kv2 = await node2.open('kv', { schema })
    expect(kv2.epoch).not.toBe(firstEpoch)
    expect(kv2.seq).toBe(lastSeq)
    expect(kv2.size).toBe(acknowledged.size)
    for (const [key, { value, seq }] of acknowledged) {
      expect(kv2.get(key)).toBe(value)
      expect(kv2.seqOf(key)).toBe(seq)
    }
    expect(kv2.has('k7')).toBe(false)
    expect(await kv2.put('after', 'restart')).toBe(lastSeq + 1)
    await node2.close()
    await restarted.close()
    await persistence.close()

    const backend = await sqlitePersistence({ path: dir }).open('kv', opts(schema.fingerprint))
    expect(backend.recovered.lastSeq).toBe(lastSeq + 1)
    expect(backend.recovered.epochs.map((e) => e.startSeq)).toEqual([0, lastSeq])
    await backend.close()
  })

  it('honours stored deadlines after a restart: what fell due while down expires at once (S4.1, S4.4)', async () => {
    const dir = tempDir()
    const transport = memoryTransport()
    const schema = t.string()
    const clock = manualClock(1_000_000)
    const config = { transport, listen: 'memory://ttl', clock, stores: { kv: { schema, expiry: 1_000 } } }
    let hub: Hub = await createHub({ ...config, modules: [sqliteModule({ path: dir })] })
    expect(hub.master('kv')?.backend).toBeInstanceOf(SqliteStoreBackend)
    const node = await createNode({ transport, hub: hub.address, clock })
    const kv = await node.open('kv', { schema })
    await kv.put('short', 'x')
    await kv.put('long', 'y', { expiry: 60_000 })
    await kv.put('forever', 'z', { expiry: null })
    await node.close()
    await hub.close()

    // Absolute deadlines on disk.
    const persistence = sqlitePersistence({ path: dir })
    const backend = await persistence.open('kv', opts(schema.fingerprint))
    expect(new Map(backend.deadlines())).toEqual(
      new Map([
        ['short', 1_001_000],
        ['long', 1_060_000],
      ]),
    )
    await persistence.close()

    clock.advance(5_000)
    hub = await createHub({ ...config, persistence: sqlitePersistence({ path: dir }) })
    const node2 = await createNode({ transport, hub: hub.address, clock })
    const kv2 = await node2.open('kv', { schema })
    expect(kv2.has('short')).toBe(false)
    expect(kv2.get('long')).toBe('y')
    expect(kv2.get('forever')).toBe('z')
    await node2.close()
    await hub.close()
  })

  it("S9.2 a damaged page met by a clone's snapshot rejects that open with PersistenceError; the hub serves on", async () => {
    const dir = tempDir()
    const transport = memoryTransport()
    const schema = t.string()
    const stores = { kv: { schema }, other: { schema } }
    const config = { transport, listen: 'memory://damaged', stores }
    let hub = await createHub({ ...config, persistence: sqlitePersistence({ path: dir }) })
    const node = await createNode({ transport, hub: hub.address })
    const kv = await node.open('kv', { schema })
    await Promise.all(Array.from({ length: 2000 }, (_, i) => kv.put(`key${i}`, `${'v'.repeat(50)}${i}`)))
    await node.close()
    await hub.close()

    // Damage every page after the first two, as a failing disk would: the header still reads.
    const file = sqlitePersistence({ path: dir }).fileOf('kv')
    const bytes = readFileSync(file)
    for (let i = 8192; i < bytes.length; i += 97) bytes[i]! ^= 0xff
    writeFileSync(file, bytes)

    const persistence = sqlitePersistence({ path: dir })
    hub = await createHub({ ...config, persistence })
    const reader = await createNode({ transport, hub: hub.address })
    const error = await reader.open('kv', { schema }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PersistenceError)
    expect((error as PersistenceError).message).toMatch(/malformed|corrupt/i)
    expect(hub.master('kv')!.readFailures).toBe(1)
    const writer = await createNode({ transport, hub: hub.address })
    const other = await writer.open('other', { schema })
    expect(await other.put('a', 'b')).toBe(1)
    await writer.close()
    await reader.close()
    await hub.close()
    await persistence.close()
  })
})
