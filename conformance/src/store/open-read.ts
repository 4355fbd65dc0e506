import {
  constantBackoff,
  createNode,
  type NodeEndpoint,
  OutOfViewError,
  SchemaMismatchError,
  type Transport,
  UnknownStoreError,
} from '@concord/core'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../harness.js'
import {
  cloneEntries,
  eventually,
  masterEntries,
  masterSeq,
  record,
  SOON,
  total,
  within,
} from '../helpers.js'
import { Count, Text, Visit } from '../schemas.js'

/** S2: opening a clone and reading from it. */
export function openReadTests({ h, probe }: SuiteContext): void {
  describe('S2 opening and reading', () => {
    it("S2.1 open resolves once the clone is live, holding the master's state", async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      await writer.put('a', 'one')
      await writer.put('b', 'two')
      const reader = await (await h().node(hub)).open('kv', { schema: Text })
      expect(reader.status).toBe('live')
      expect(cloneEntries(reader)).toEqual(
        new Map([
          ['a', 'one'],
          ['b', 'two'],
        ]),
      )
      expect(reader.seq).toBe(masterSeq(hub, 'kv'))
    })

    it('S2.1 opening an empty store completes', async () => {
      const hub = await h().hub({ stores: { empty: { schema: Text } } })
      const store = await (await h().node(hub)).open('empty', { schema: Text })
      expect(store.status).toBe('live')
      expect(store.size).toBe(0)
      expect([...store.keys()]).toEqual([])
      expect(store.seq).toBe(0)
    })

    it('S2.1 a link that comes up again while open is subscribing starts one sync, and open resolves live', async () => {
      // The store's subscription is held until the link has dropped, come back and been
      // welcomed: open must still ask for one snapshot, after subscribing.
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      await writer.put('a', 'one')
      let openGate = () => {}
      const gate = new Promise<void>((resolve) => {
        openGate = resolve
      })
      let link: NodeEndpoint | undefined
      const inner = h().transportFor(undefined)
      const transport: Transport = {
        capabilities: inner.capabilities,
        listen: (at, handlers, options) => inner.listen(at, handlers, options),
        connect: async (at, handlers, options) => {
          const endpoint = await inner.connect(at, handlers, options)
          link = endpoint
          return {
            send: (frame) => endpoint.send(frame),
            subscribe: (topic) =>
              topic.startsWith('s|') ? endpoint.subscribe(topic).then(() => gate) : endpoint.subscribe(topic),
            unsubscribe: (topic) => endpoint.unsubscribe(topic),
            reconnect: () => endpoint.reconnect(),
            close: () => endpoint.close(),
          }
        },
      }
      const node = await createNode({ transport, hub: hub.address, backoff: constantBackoff(20) })
      h().defer(() => node.close())
      await eventually(() => expect(node.status).toBe('connected'))
      const statuses = record(node.statusChanges())
      link!.reconnect()
      const opening = node.open('kv', { schema: Text })
      // Dropped, then welcomed again (a flapping link may repeat the pair).
      await eventually(() => {
        const seen = statuses.items.map((c) => c.status)
        expect(seen[0]).toBe('connecting')
        expect(seen.at(-1)).toBe('connected')
      })
      openGate()
      const store = await opening
      expect(store.status).toBe('live')
      expect(store.get('a')).toBe('one')
      await writer.put('b', 'two')
      await eventually(() => expect(store.get('b')).toBe('two'))
      expect(store.status).toBe('live')
      // The writer's snapshot and this clone's one.
      expect(hub.metrics.snapshots).toBe(2)
    })

    it('S2.1 opening a store the hub does not host rejects with UnknownStoreError', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const node = await h().node(hub)
      const error = await node.open('nope', { schema: Text }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UnknownStoreError)
      expect((error as UnknownStoreError).code).toBe('ERR_UNKNOWN_STORE')
    })

    it('S2.1 broadcasts that arrive during the snapshot are buffered and applied after it, none lost', async () => {
      // One small chunk in flight at a time: the snapshot takes many round trips.
      const hub = await h().hub({
        stores: { kv: { schema: Text } },
        limits: { snapshotChunkEntries: 4, snapshotWindow: 1 },
      })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      await Promise.all(Array.from({ length: 200 }, (_, i) => writer.put(`pre/${i}`, `v${i}`)))
      const snapshots = hub.metrics.snapshots
      const readerNode = await h().node(hub, { identity: 'reader' })
      if (probe.has.faults) {
        // The reader stops reading before it opens: its snapshot chunks and the broadcasts
        // queue up for it while the writer commits, so those broadcasts certainly arrive
        // during the snapshot.
        await eventually(() => expect(readerNode.status).toBe('connected'))
        h().env.faults!.pause('reader')
        const opening = readerNode.open('kv', { schema: Text })
        await eventually(() => expect(hub.metrics.snapshots).toBe(snapshots + 1))
        const during = masterSeq(hub, 'kv')
        for (let i = 0; i < 20; i++) await writer.put(`live/${i % 7}`, `w${i}`)
        expect(masterSeq(hub, 'kv')).toBe(during + 20)
        h().env.faults!.resume('reader')
        return check(await opening)
      }
      const opening = readerNode.open('kv', { schema: Text })
      for (let i = 0; i < 20; i++) await writer.put(`live/${i % 7}`, `w${i}`)
      return check(await opening)

      async function check(reader: Awaited<typeof opening>) {
        await eventually(() => expect(reader.seq).toBe(masterSeq(hub, 'kv')))
        expect(cloneEntries(reader)).toEqual(masterEntries(hub, 'kv', Text))
        expect(cloneEntries(reader)).toEqual(cloneEntries(writer))
      }
    })

    it("S2.2 a clone whose schema differs from the master's is refused with SchemaMismatchError naming both", async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const node = await h().node(hub)
      const error = await node.open('kv', { schema: Count }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(SchemaMismatchError)
      const mismatch = error as SchemaMismatchError
      expect(mismatch.code).toBe('ERR_SCHEMA_MISMATCH')
      expect(mismatch.message).toContain(Text.fingerprint)
      expect(mismatch.message).toContain(Count.fingerprint)
      expect(mismatch.local).toBe(Count.fingerprint)
      expect(mismatch.remote).toBe(Text.fingerprint)
    })

    it('S2.2 after a refused open the node can open the store with the right schema', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const node = await h().node(hub)
      await expect(node.open('kv', { schema: Visit })).rejects.toBeInstanceOf(SchemaMismatchError)
      const store = await node.open('kv', { schema: Text })
      expect(store.status).toBe('live')
    })

    it('S2.3 get returns the current value, or the fallback (undefined by default) when absent', async () => {
      const hub = await h().hub({ stores: { visits: { schema: Visit } } })
      const store = await (await h().node(hub)).open('visits', { schema: Visit })
      await store.put('a', { name: 'alice', hits: 3n })
      expect(store.get('a')).toEqual({ name: 'alice', hits: 3n })
      expect(store.get('a', 'fallback')).toEqual({ name: 'alice', hits: 3n })
      expect(store.get('zz')).toBeUndefined()
      expect(store.get('zz', 'fallback')).toBe('fallback')
      await store.put('a', { name: 'alice', hits: 4n })
      expect(store.get('a')).toEqual({ name: 'alice', hits: 4n })
    })

    it('S2.3 S2.4 reads are synchronous: they return values, never promises', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await store.put('a', 'one')
      const reads: unknown[] = [store.get('a'), store.has('a'), store.size, store.keys(), store.entries()]
      for (const value of reads) expect(typeof (value as { then?: unknown })?.then).not.toBe('function')
    })

    it('S2.4 has, size, keys() and entries() reflect the local replica', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await store.put('a', '1')
      await store.put('b', '2')
      await store.put('c', '3')
      await store.remove('b')
      expect(store.has('a')).toBe(true)
      expect(store.has('b')).toBe(false)
      expect(store.size).toBe(2)
      expect([...store.keys()].sort()).toEqual(['a', 'c'])
      expect([...store.entries()].sort()).toEqual([
        ['a', '1'],
        ['c', '3'],
      ])
    })

    it('S2.5 keys() freezes the key set when iteration begins: removed keys are still yielded, added ones are not', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      for (const key of ['a', 'b', 'c']) await store.put(key, key)
      const keys = store.keys()
      const first = keys.next()
      expect(first.done).toBe(false)
      const others = ['a', 'b', 'c'].filter((k) => k !== first.value)
      await store.remove(others[0]!)
      await store.put('d', 'd')
      expect([first.value, ...keys].sort()).toEqual(['a', 'b', 'c'])
    })

    it('S2.5 entries() skips keys removed after iteration began, and get returns the fallback for them', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      for (const key of ['a', 'b', 'c']) await store.put(key, key)
      const entries = store.entries()
      const first = entries.next()
      expect(first.done).toBe(false)
      const [firstKey] = first.value as [string, string]
      const removed = ['a', 'b', 'c'].find((k) => k !== firstKey)!
      await store.remove(removed)
      await store.put('d', 'd')
      const seen = [firstKey, ...[...entries].map(([k]) => k)].sort()
      expect(seen).toEqual(['a', 'b', 'c'].filter((k) => k !== removed))
      expect(store.get(removed, 'gone')).toBe('gone')
    })

    it('S2.5 mutating the store while iterating never throws', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      for (const key of ['a', 'b', 'c', 'd']) await store.put(key, key)
      let visited = 0
      for (const [key] of store.entries()) {
        visited++
        await store.put(`${key}-new`, 'x')
        await store.remove(key === 'a' ? 'c' : key)
      }
      for (const key of store.keys()) {
        await store.clear()
        expect(typeof key).toBe('string')
      }
      expect(visited).toBeGreaterThan(0)
      expect(store.size).toBe(0)
    })

    it('S2.6 a prefix view receives only the keys under its prefix in its snapshot', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      for (const key of ['a/1', 'a/2', 'ab/1', 'b/1']) await writer.put(key, key)
      const view = await (await h().node(hub)).open('kv', { schema: Text, prefix: 'a/' })
      expect(view.status).toBe('live')
      expect(cloneEntries(view)).toEqual(
        new Map([
          ['a/1', 'a/1'],
          ['a/2', 'a/2'],
        ]),
      )
    })

    it('S2.6 a prefix view receives only broadcasts under its prefix', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      const view = await (await h().node(hub)).open('kv', { schema: Text, prefix: 'a/' })
      const changes = record(view.changes())
      await writer.put('b/1', 'no')
      await writer.put('ab/1', 'no')
      await writer.put('a/1', 'yes')
      await writer.put('b/2', 'no')
      await writer.remove('b/1')
      await writer.put('a/end', 'yes')
      await eventually(() => expect(view.has('a/end')).toBe(true))
      expect(changes.items.map((c) => c.key)).toEqual(['a/1', 'a/end'])
      expect(cloneEntries(view)).toEqual(
        new Map([
          ['a/1', 'yes'],
          ['a/end', 'yes'],
        ]),
      )
    })

    it('S2.6 a prefix view writes inside its prefix and rejects writes outside it with nothing sent', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const view = await (await h().node(hub)).open('kv', { schema: Text, prefix: 'a/' })
      const seq = await view.put('a/1', 'in')
      expect(view.get('a/1')).toBe('in')
      const errorsBefore = total(hub.metrics.writeErrors)
      const outside = [
        view.put('b/1', 'out'),
        view.remove('b/1'),
        view.update('b/1', 'x', { op: 'append' }),
        view.compareAndSet('b/1', 0, 'out'),
      ]
      for (const attempt of outside) await expect(attempt).rejects.toBeInstanceOf(OutOfViewError)
      expect(masterSeq(hub, 'kv')).toBe(seq)
      expect(total(hub.metrics.writeErrors)).toBe(errorsBefore)
      expect(await view.put('a/2', 'in')).toBe(seq + 1)
    })

    it('S2.6 a view prefix that is not a string of well-formed Unicode rejects open with TypeError; the node can open the store after', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      await writer.put('a\ufffd', 'x')
      const node = await h().node(hub)
      const refusedBefore = total(hub.metrics.refused)
      // A lone surrogate would travel as U+FFFD: the view of another prefix, missing its changes.
      for (const prefix of ['a\ud800', 5, ['a']]) {
        const opening = node.open('kv', { schema: Text, prefix: prefix as string })
        await expect(within(opening, SOON, `open with prefix ${String(prefix)}`)).rejects.toBeInstanceOf(
          TypeError,
        )
      }
      expect(total(hub.metrics.refused)).toBe(refusedBefore)
      const view = await node.open('kv', { schema: Text, prefix: 'a' })
      expect(view.get('a\ufffd')).toBe('x')
    })

    it('S2.7 a store larger than a frame arrives whole in bounded chunks, and only once open resolves', async () => {
      const maxFrame = probe.transport!.maxFrameSize
      const valueSize = Math.min(64 * 1024, Math.max(1024, Math.floor(maxFrame / 64)))
      const count = Math.ceil((maxFrame * 1.25) / valueSize) + 1
      const hub = await h().hub({
        stores: { big: { schema: Text } },
        limits: { snapshotChunkEntries: 3 },
      })
      const writer = await (await h().node(hub)).open('big', { schema: Text })
      for (let i = 0; i < count; i += 8) {
        const batch: Promise<number>[] = []
        for (let j = i; j < Math.min(count, i + 8); j++)
          batch.push(writer.put(`k${j}`, `${j}:`.padEnd(valueSize, 'v')))
        await Promise.all(batch)
      }
      const opening = (await h().node(hub)).open('big', { schema: Text })
      expect(opening).toBeInstanceOf(Promise)
      const reader = await opening
      expect(reader.status).toBe('live')
      expect(reader.size).toBe(count)
      expect(reader.get(`k${count - 1}`)).toBe(`${count - 1}:`.padEnd(valueSize, 'v'))
      expect(cloneEntries(reader)).toEqual(masterEntries(hub, 'big', Text))
    })

    it('S2.7 long keys count toward a chunk: a snapshot of entries that are mostly key stays under the frame limit', async () => {
      // Values of 1 byte (the cursor bounds value bytes only) and keys long enough that one
      // chunk of the default 4096 entries would be twice a frame.
      const maxFrame = probe.transport!.maxFrameSize
      const keySize = Math.min(Math.floor(maxFrame / 8), Math.ceil((2 * maxFrame) / 4096))
      const count = Math.ceil((2 * maxFrame) / keySize)
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      const key = (i: number) => `${i}:`.padEnd(keySize, 'k')
      for (let i = 0; i < count; i += 64) {
        await Promise.all(
          Array.from({ length: Math.min(64, count - i) }, (_, j) => writer.put(key(i + j), 'v')),
        )
      }
      const reader = await within((await h().node(hub)).open('kv', { schema: Text }), 20_000, 'the open')
      expect(reader.size).toBe(count)
      expect(reader.get(key(count - 1))).toBe('v')
      expect(hub.metrics.peerQueueOverflows).toBe(0)
      expect(cloneEntries(reader)).toEqual(masterEntries(hub, 'kv', Text))
    })
  })
}
