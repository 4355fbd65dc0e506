import {
  type AccessRule,
  ClosedError,
  ForbiddenError,
  SchemaMismatchError,
  type StoreWriter,
  UnknownStoreError,
  ValidationError,
} from '@concord/core'
import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../harness.js'
import {
  eventually,
  expectIncreasing,
  masterEntries,
  masterSeq,
  record,
  settle,
  total,
  within,
} from '../helpers.js'
import { Count, Tags, Text } from '../schemas.js'

/** Write-only handles (`node.writer`): the write API without a replica (S3, S8.2, S10.1). */
export function writerTests({ h, probe }: SuiteContext): void {
  describe('write-only handles', () => {
    it('S3.2 S3.4 a writer resolves each write on the acknowledgement, to its seq, and clones apply them in that order', async () => {
      const stores = { kv: { schema: Text }, hits: { schema: Count } }
      const hub = await h().hub({ stores })
      const clone = await (await h().node(hub)).open('kv', { schema: Text })
      const changes = record(clone.changes())
      const node = await h().node(hub)
      const writer = await node.writer('kv', { schema: Text })
      const seqs = [
        await writer.put('a', 'one'),
        await writer.put('b', 'two', { expiry: '1h' }),
        await writer.update('a', '+', { op: 'append' }),
        await writer.remove('b'),
        await writer.compareAndSet('c', 0, 'new'),
      ]
      expectIncreasing(seqs)
      expect(seqs.at(-1)).toBe(masterSeq(hub, 'kv'))
      expect(await writer.update('c', 'x', { op: 'putIfAbsent' })).toBe(false)
      await eventually(() => expect(clone.seq).toBe(seqs.at(-1)))
      expect(changes.items.map((c) => [c.kind, c.key, c.seq])).toEqual([
        ['put', 'a', seqs[0]],
        ['put', 'b', seqs[1]],
        ['put', 'a', seqs[2]],
        ['remove', 'b', seqs[3]],
        ['put', 'c', seqs[4]],
      ])
      expect(masterEntries(hub, 'kv', Text)).toEqual(
        new Map([
          ['a', 'one+'],
          ['c', 'new'],
        ]),
      )
      // Nothing of the store was sent to it: no snapshot, no replica.
      expect(node.metrics.snapshots).toBe(0)
      const hits = await node.writer('hits', { schema: Count })
      await hits.update('10.0.0.1', 1n, { op: 'increment' })
      await hits.update('10.0.0.1', 2n, { op: 'increment' })
      expect(masterEntries(hub, 'hits', Count).get('10.0.0.1')).toBe(3n)
      await writer.clear()
      expect(masterEntries(hub, 'kv', Text).size).toBe(0)
    })

    it('S3.1 S3.3 a writer validates locally like a clone, and a write the master refuses rejects with its typed error', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const writer = await (await h().node(hub)).writer('kv', { schema: Text })
      const before = masterSeq(hub, 'kv')
      await expect(writer.put('a', 42 as never)).rejects.toBeInstanceOf(ValidationError)
      await expect(writer.update('a', 'x', { op: 'nope' })).rejects.toMatchObject({
        code: 'ERR_UNKNOWN_OPERATION',
      })
      expect(masterSeq(hub, 'kv')).toBe(before)
      const seq = await writer.put('a', 'one')
      await expect(writer.compareAndSet('a', seq + 5, 'two')).rejects.toMatchObject({
        code: 'ERR_CONFLICT',
        actualSeq: seq,
      })
    })

    it('S3.2 a writer and a clone of the same store on one node both write; closing the writer leaves the clone and its writes alone', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const node = await h().node(hub)
      const clone = await node.open('kv', { schema: Text })
      const writer = await node.writer('kv', { schema: Text })
      const [a, b] = await Promise.all([clone.put('a', 'clone'), writer.put('b', 'writer')])
      expect(clone.get('a')).toBe('clone')
      await clone.reached(b)
      expect(clone.get('b')).toBe('writer')
      expect(a).not.toBe(b)
      const address = hub.address
      await h().stopHub(hub)
      await eventually(() => expect(clone.status).toBe('stale'))
      const cloneWrite = clone.put('c', 'survives')
      const writerWrite = settle(within(writer.put('d', 'closed'), 5_000, "the writer's pending write"))
      await writer.close()
      const outcome = await writerWrite
      expect(outcome.ok).toBe(false)
      expect((outcome as { error: unknown }).error).toBeInstanceOf(ClosedError)
      const back = await h().hub({ stores, listen: address })
      await within(cloneWrite, 10_000, "the clone's queued write")
      expect(clone.get('c')).toBe('survives')
      expect(masterEntries(back, 'kv', Text).has('d')).toBe(false)
    })

    it('S2.2 S8.2 a writer is checked when made: unknown store, no write permission (counted) and another schema are refused', async () => {
      const access: AccessRule[] = [
        { identities: ['*'], allow: ['read'], stores: ['*'] },
        { identities: ['admin'], allow: ['write'], stores: ['*'] },
      ]
      const hub = await h().hub({
        stores: { kv: { schema: Text } },
        ...(probe.has.transportFor ? { access } : {}),
      })
      const node = await h().node(hub, probe.has.transportFor ? { identity: 'admin' } : {})
      await expect(node.writer('nope', { schema: Text })).rejects.toBeInstanceOf(UnknownStoreError)
      const mismatch = await node.writer('kv', { schema: Count }).catch((e: unknown) => e)
      expect(mismatch).toBeInstanceOf(SchemaMismatchError)
      expect((mismatch as SchemaMismatchError).local).toBe(Count.fingerprint)
      expect((mismatch as SchemaMismatchError).remote).toBe(Text.fingerprint)
      if (probe.has.transportFor) {
        const reader = await h().node(hub, { identity: 'reader' })
        await expect(reader.writer('kv', { schema: Text })).rejects.toBeInstanceOf(ForbiddenError)
        expect(hub.metrics.writersRefused.ERR_FORBIDDEN).toBe(1)
      }
      expect(total(hub.metrics.writersRefused)).toBe(probe.has.transportFor ? 3 : 2)
      // The node goes on: a good writer is accepted.
      const writer = await node.writer('kv', { schema: Text })
      expect(await writer.put('a', '1')).toBeGreaterThan(0)
      expect(hub.metrics.writers).toBe(1)
    })

    if (probe.has.transportFor) {
      it('S8.2 a write-only identity writes through a writer but cannot open the store, and receives nothing of it', async () => {
        const access: AccessRule[] = [
          { identities: ['admin'], allow: ['read', 'write'], stores: ['*'] },
          { identities: ['worker'], allow: ['write'], stores: ['hits', 'kv'] },
        ]
        const stores = { kv: { schema: Text }, hits: { schema: Count } }
        const hub = await h().hub({ stores, access, heartbeat: 60_000 })
        const admin = await (await h().node(hub, { identity: 'admin' })).open('kv', { schema: Text })
        await admin.put('secret', 'classified')
        const { node, gate } = await h().gatedNode(hub, { identity: 'worker' })
        gate.holding = true
        await expect(node.open('kv', { schema: Text })).rejects.toBeInstanceOf(ForbiddenError)
        const writer = await node.writer('kv', { schema: Text })
        const seq = await writer.put('k', 'from worker')
        await eventually(() => expect(admin.get('k')).toBe('from worker'))
        expect(admin.seqOf('k')).toBe(seq)
        const hits = await node.writer('hits', { schema: Count })
        await hits.update('h', 5n, { op: 'increment' })
        expect(masterEntries(hub, 'hits', Count).get('h')).toBe(5n)
        await admin.put('secret', 'more')
        await admin.put('other', 'x')
        // Not one broadcast reached the worker's node (the hub's own beats are a minute apart).
        expect(gate.held).toEqual([])
        expect(node.metrics.snapshots).toBe(0)
        expect(node.metrics.events).toBe(0)
      })

      it('S8.2 a write-only identity learns of a write only whether it was taken and its seq, never what the store holds', async () => {
        const access: AccessRule[] = [
          { identities: ['admin'], allow: ['read', 'write'], stores: ['*'] },
          { identities: ['worker'], allow: ['write'], stores: ['*'] },
        ]
        const Big = t.count()
        const stores = { kv: { schema: Text }, tags: { schema: Tags }, hits: { schema: Big } }
        const hub = await h().hub({ stores, access })
        const adminNode = await h().node(hub, { identity: 'admin' })
        const admin = await adminNode.open('kv', { schema: Text })
        const tags = await adminNode.open('tags', { schema: Tags })
        const hitsAdmin = await adminNode.open('hits', { schema: Big })
        await admin.put('present', 'here')
        await tags.put('t', new Set(['x']))
        await hitsAdmin.put('max', 2n ** 64n - 1n)
        const worker = await h().node(hub, { identity: 'worker' })
        const kv = await worker.writer('kv', { schema: Text })
        // Answers that are the stored state itself are refused, whatever the key holds.
        for (const attempt of [
          kv.compareAndSet('present', 1, 'x'),
          kv.compareAndSet('absent', 0, 'x'),
          kv.update('present', 'x', { op: 'putIfAbsent' }),
          kv.update('absent', 'x', { op: 'putIfAbsent' }),
        ]) {
          const error = await attempt.catch((e: unknown) => e)
          expect(error).toBeInstanceOf(ForbiddenError)
          expect((error as Error).message).toMatch(/may write store 'kv' but not read it/)
        }
        // A remove, present or not, and an op that changes nothing, are each a new mutation:
        // the seq it resolves to does not tell them apart.
        const kvSeq = masterSeq(hub, 'kv')
        expect([await kv.remove('absent'), await kv.remove('present')]).toEqual([kvSeq + 1, kvSeq + 2])
        const tagWriter = await worker.writer('tags', { schema: Tags })
        const tagSeq = masterSeq(hub, 'tags')
        expect([
          await tagWriter.update('t', 'x', { op: 'insertInto' }),
          await tagWriter.update('t', 'y', { op: 'insertInto' }),
          await tagWriter.update('none', 'x', { op: 'removeFrom' }),
        ]).toEqual([tagSeq + 1, tagSeq + 2, tagSeq + 3])
        expect(masterEntries(hub, 'tags', Tags)).toEqual(new Map([['t', new Set(['x', 'y'])]]))
        await eventually(() => expect(admin.has('present')).toBe(false))
        // A refusal an op decided on the stored value says only its code.
        const hits = await worker.writer('hits', { schema: Big })
        const refused = await hits.update('max', 1n, { op: 'increment' }).catch((e: unknown) => e)
        expect(refused).toBeInstanceOf(ValidationError)
        const issues = (refused as ValidationError).issues
        expect(issues).toHaveLength(1)
        expect(issues[0]!.path).toBe('')
        expect(issues[0]!.message).toMatch(/not told why/)
        // The same refusal to an identity that may read says why.
        const seen = await hitsAdmin.update('max', 1n, { op: 'increment' }).catch((e: unknown) => e)
        expect(seen).toBeInstanceOf(ValidationError)
        expect(JSON.stringify((seen as ValidationError).issues)).not.toMatch(/not told why/)
        expect(masterEntries(hub, 'hits', Big).get('max')).toBe(2n ** 64n - 1n)
      })
    }

    it('S3.7 writes a writer issues while the link is down queue, and go in order once it is back', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const node = await h().node(hub)
      const writer = await node.writer('kv', { schema: Text })
      await writer.put('a', 'zero')
      const address = hub.address
      await h().stopHub(hub)
      await eventually(() => expect(node.status).toBe('connecting'))
      const pending = [
        writer.put('a', 'one'),
        writer.put('b', 'two'),
        writer.put('a', 'three'),
        writer.remove('b'),
      ]
      const back = await h().hub({ stores, listen: address })
      const seqs = await within(Promise.all(pending), 10_000, 'queued writes')
      expectIncreasing(seqs)
      expect(seqs.at(-1)).toBe(masterSeq(back, 'kv'))
      expect(masterEntries(back, 'kv', Text)).toEqual(new Map([['a', 'three']]))
    })

    it('S10.1 closing a writer settles its pending writes with ClosedError; close is idempotent and await using closes it', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const node = await h().node(hub)
      let disposed: StoreWriter<string> | undefined
      {
        await using scoped = await node.writer('kv', { schema: Text })
        disposed = scoped
        expect(scoped.closed).toBe(false)
      }
      expect(disposed?.closed).toBe(true)
      await expect(disposed!.put('z', '1')).rejects.toBeInstanceOf(ClosedError)
      const writer = await node.writer('kv', { schema: Text })
      await h().stopHub(hub)
      await eventually(() => expect(node.status).toBe('connecting'))
      const pending = [writer.put('a', '1'), writer.update('b', '!', { op: 'append' }), writer.clear()].map(
        (write) => settle(within(write, 5_000, 'a pending write')),
      )
      await writer.close()
      await writer.close()
      expect(writer.closed).toBe(true)
      for (const outcome of await Promise.all(pending)) {
        expect(outcome.ok).toBe(false)
        expect((outcome as { error: unknown }).error).toBeInstanceOf(ClosedError)
      }
      await expect(writer.put('c', '3')).rejects.toBeInstanceOf(ClosedError)
    })
  })
}
