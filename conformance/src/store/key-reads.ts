import {
  AbortedError,
  type AccessRule,
  ClosedError,
  ForbiddenError,
  SchemaMismatchError,
  TooLargeError,
  UnknownStoreError,
  ValidationError,
} from '@concord/core'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../harness.js'
import { bytesOf, eventually, masterSeq, total, within } from '../helpers.js'
import { Count, MaybeText, Text } from '../schemas.js'

/** One-key reads (`node.read`): a key's committed value from the master, without a clone (S2.3, S8.2). */
export function keyReadTests({ h, probe }: SuiteContext): void {
  describe('one-key reads', () => {
    it('S2.3 node.read answers with the value and seq of exactly that key, or its absence, and takes no snapshot', async () => {
      const stores = { kv: { schema: Text }, maybe: { schema: MaybeText } }
      const hub = await h().hub({ stores })
      const writer = await (await h().node(hub)).writer('kv', { schema: Text })
      const seq = await writer.put('1', 'one')
      await writer.put('10', 'ten')
      await writer.put('11', 'eleven')
      const node = await h().node(hub)
      expect(await node.read('kv', '1', { schema: Text })).toEqual({ found: true, value: 'one', seq })
      expect(await node.read('kv', '2', { schema: Text })).toEqual({ found: false, value: undefined, seq: 0 })
      // The seq is the one compareAndSet expects: read, then write on that state.
      const cas = await writer.compareAndSet('1', seq, 'uno')
      expect(await node.read('kv', '1', { schema: Text })).toEqual({ found: true, value: 'uno', seq: cas })
      await writer.remove('1')
      expect((await node.read('kv', '1', { schema: Text })).found).toBe(false)
      // A key holding undefined is present.
      const maybe = await node.writer('maybe', { schema: MaybeText })
      const at = await maybe.put('k', undefined)
      expect(await node.read('maybe', 'k', { schema: MaybeText })).toEqual({
        found: true,
        value: undefined,
        seq: at,
      })
      // Only keys travelled: no snapshot, no subscription to the store, counted by the hub.
      expect(node.metrics.snapshots).toBe(0)
      expect(hub.metrics.snapshots).toBe(0)
      expect(hub.metrics.reads).toBe(5)
      expect(node.metrics.reads).toBe(5)
      expect(total(node.metrics.readErrors)).toBe(0)
      expect(masterSeq(hub, 'kv')).toBe(cas + 1)
    })

    it('S2.2 S8.2 a read is checked like an open: unknown store, another schema, no read permission are refused and counted', async () => {
      const access: AccessRule[] = [
        { identities: ['admin'], allow: ['read', 'write'], stores: ['*'] },
        { identities: ['worker'], allow: ['write'], stores: ['*'] },
      ]
      const hub = await h().hub({
        stores: { kv: { schema: Text } },
        ...(probe.has.transportFor ? { access } : {}),
      })
      const node = await h().node(hub, probe.has.transportFor ? { identity: 'admin' } : {})
      await (await node.writer('kv', { schema: Text })).put('k', 'secret')
      await expect(node.read('nope', 'k', { schema: Text })).rejects.toBeInstanceOf(UnknownStoreError)
      const mismatch = await node.read('kv', 'k', { schema: Count }).catch((e: unknown) => e)
      expect(mismatch).toBeInstanceOf(SchemaMismatchError)
      expect((mismatch as SchemaMismatchError).local).toBe(Count.fingerprint)
      expect((mismatch as SchemaMismatchError).remote).toBe(Text.fingerprint)
      if (probe.has.transportFor) {
        const worker = await h().node(hub, { identity: 'worker' })
        const refused = await worker.read('kv', 'k', { schema: Text }).catch((e: unknown) => e)
        expect(refused).toBeInstanceOf(ForbiddenError)
        expect((refused as Error).message).toBe("'worker' may not read store 'kv'")
        expect(hub.metrics.readsRefused.ERR_FORBIDDEN).toBe(1)
      }
      expect(total(hub.metrics.readsRefused)).toBe(probe.has.transportFor ? 3 : 2)
      expect(hub.metrics.readsRefused.ERR_UNKNOWN_STORE).toBe(1)
      expect(hub.metrics.readsRefused.ERR_SCHEMA_MISMATCH).toBe(1)
      // The node counts its refusals as the hub does.
      expect(node.metrics.readErrors).toEqual({ ERR_UNKNOWN_STORE: 1, ERR_SCHEMA_MISMATCH: 1 })
      expect(node.metrics.reads).toBe(0)
      // The node goes on.
      expect((await node.read('kv', 'k', { schema: Text })).value).toBe('secret')
      expect(node.metrics.reads).toBe(1)
    })

    it('S2.7 S9.1 a key that cannot travel is refused before anything is sent; an entry over the node’s frame limit is refused with TooLargeError', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const node = await h().node(hub)
      await expect(node.read('kv', 'a\ud800', { schema: Text })).rejects.toBeInstanceOf(ValidationError)
      const long = 'k'.repeat(Math.floor(hub.config.transport.capabilities.maxFrameSize / 4) + 1)
      await expect(node.read('kv', long, { schema: Text })).rejects.toBeInstanceOf(TooLargeError)
      expect(hub.metrics.reads + total(hub.metrics.readsRefused)).toBe(0)
      // A node that accepts 4 KiB frames cannot receive a 6 KB value in one.
      await (await node.writer('kv', { schema: Text })).put('big', new TextDecoder().decode(bytesOf(6000)))
      const { node: small } = await h().gatedNode(hub, {}, { maxFrameSize: 4096 })
      const error = await small.read('kv', 'big', { schema: Text }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(TooLargeError)
      expect(hub.metrics.readsRefused.ERR_TOO_LARGE).toBe(1)
      expect((await small.read('kv', 'absent', { schema: Text })).found).toBe(false)
    })

    it('S3.7 a read made while the link is down waits for it, and is answered once the hub is back', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const node = await h().node(hub)
      await (await node.writer('kv', { schema: Text })).put('k', 'kept')
      const address = hub.address
      await h().stopHub(hub)
      await eventually(() => expect(node.status).toBe('connecting'))
      const read = node.read('kv', 'k', { schema: Text })
      await h().hub({ stores, listen: address })
      // The restarted hub runs on the same data (S6.4).
      expect(await within(read, 10_000, 'the read')).toMatchObject({ found: true, value: 'kept' })
    })

    it('S10.1 an aborted read rejects with AbortedError; closing the node rejects a waiting one with ClosedError', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const node = await h().node(hub)
      const aborted = new AbortController()
      aborted.abort()
      await expect(node.read('kv', 'k', { schema: Text, signal: aborted.signal })).rejects.toBeInstanceOf(
        AbortedError,
      )
      await h().stopHub(hub)
      await eventually(() => expect(node.status).toBe('connecting'))
      const later = new AbortController()
      const waiting = node.read('kv', 'k', { schema: Text, signal: later.signal })
      later.abort()
      await expect(waiting).rejects.toBeInstanceOf(AbortedError)
      const closing = node.read('kv', 'k', { schema: Text }).catch((e: unknown) => e)
      await node.close()
      expect(await closing).toBeInstanceOf(ClosedError)
      await expect(node.read('kv', 'k', { schema: Text })).rejects.toBeInstanceOf(ClosedError)
    })
  })
}
