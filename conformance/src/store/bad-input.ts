import { PersistenceError, PROTOCOL_VERSION } from '@concord/core'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../harness.js'
import { bytesInclude, bytesOf, eventually, masterEntries, masterSeq, msgpack, total } from '../helpers.js'
import { Count, Text, Visit } from '../schemas.js'

/** Wire message type numbers used here (docs/PROTOCOL.md). */
const HELLO = 1
const WRITE = 5
const PING = 8
const PONG = 29

/** S9: bad input. */
export function badInputTests({ h, probe }: SuiteContext): void {
  describe('S9 bad input', () => {
    it('S9.1 malformed frames, unknown message types and wrong protocol versions are refused and counted; nothing else is disturbed', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await store.put('a', 'one')
      const raw = await h().rawLink(hub.address)
      const garbage = [
        Uint8Array.from([0xc1, 0xc1, 0xc1]), // not msgpack
        msgpack('just a string'), // not a frame
        msgpack([PROTOCOL_VERSION + 1, [PING, 1]]), // another version
        msgpack([PROTOCOL_VERSION, [99, 1, 2]]), // unknown message type
        msgpack([PROTOCOL_VERSION, [HELLO, PROTOCOL_VERSION]]), // truncated
        msgpack([PROTOCOL_VERSION, [HELLO, PROTOCOL_VERSION, 7, [], 0]]), // a field of the wrong type
        new Uint8Array(0), // empty
      ]
      const before = total(hub.metrics.refused)
      for (const frame of garbage) raw.endpoint.send(frame)
      await eventually(() => expect(total(hub.metrics.refused) - before).toBe(garbage.length))
      expect(hub.metrics.refused.ERR_PROTOCOL).toBeGreaterThanOrEqual(garbage.length)
      // Counted when refused; the answer reaches the sender a little later.
      await eventually(() =>
        expect(raw.frames.some((frame) => bytesInclude(frame, 'ERR_PROTOCOL'))).toBe(true),
      )
      expect(store.status).toBe('live')
      expect(await store.put('b', 'two')).toBe(masterSeq(hub, 'kv'))
      expect(masterEntries(hub, 'kv', Text)).toEqual(
        new Map([
          ['a', 'one'],
          ['b', 'two'],
        ]),
      )
      const late = await (await h().node(hub)).open('kv', { schema: Text })
      expect(late.get('b')).toBe('two')
    })

    it('S9.1 a node refuses malformed frames from its hub, counts them, and carries on', async () => {
      const address = h().address()
      let peer: string | undefined
      const fake = await h().listen(
        {
          peerJoined: (info) => {
            peer = info.id
          },
          peerLeft: () => {},
          frame: () => {},
          authorizeSubscription: () => true,
          refused: () => {},
        },
        address,
      )
      const node = await h().node(fake.address)
      await eventually(() => expect(peer).toBeDefined())
      const garbage = [
        Uint8Array.from([0xc1, 0xc1]), // not msgpack
        msgpack([PROTOCOL_VERSION + 1, [PONG, 1]]), // another version
        msgpack([PROTOCOL_VERSION, [99, 1]]), // unknown message type
        msgpack([PROTOCOL_VERSION, [HELLO, PROTOCOL_VERSION, 'x', [], 0]]), // a message for hubs
      ]
      for (const frame of garbage) fake.send(peer!, frame)
      fake.broadcast('h|', garbage[0]!)
      await eventually(() => expect(total(node.metrics.refused)).toBeGreaterThanOrEqual(garbage.length))
      // Each as malformed, by code; \`refusedFrames\`, kept for older code, is their sum.
      expect(Object.keys(node.metrics.refused)).toEqual(['ERR_PROTOCOL'])
      expect(node.metrics.refusedByHub).toEqual({})
      expect(node.refusedFrames).toBe(total(node.metrics.refused))
      await fake.close()
      const hub = await h().hub({ stores: { kv: { schema: Text } }, listen: fake.address })
      const store = await node.open('kv', { schema: Text })
      expect(await store.put('a', 'one')).toBe(1)
      expect(masterSeq(hub, 'kv')).toBe(1)
    })

    it('S9.1 a message before HELLO is refused and counted', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const raw = await h().rawLink(hub.address)
      const before = hub.metrics.refused.ERR_PROTOCOL ?? 0
      raw.endpoint.send(msgpack([PROTOCOL_VERSION, [WRITE, 'kv', 1, 0, 'k', msgpack('v'), null, null, null]]))
      await eventually(() => expect(hub.metrics.refused.ERR_PROTOCOL ?? 0).toBe(before + 1))
      expect(masterSeq(hub, 'kv')).toBe(0)
    })

    it('S9.1 a frame over the size limit is refused and counted; the hub and other clones carry on', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const raw = await h().rawLink(hub.address)
      const before = total(hub.metrics.refused)
      // A transport may refuse the frame at the sender (send is false: it never leaves) or
      // at the hub (the hub counts it); either way nothing else is disturbed.
      if (raw.endpoint.send(bytesOf(probe.transport!.maxFrameSize + 1))) {
        await eventually(() => expect(total(hub.metrics.refused)).toBeGreaterThan(before))
      }
      expect(store.status).toBe('live')
      expect(await store.put('a', 'one')).toBe(1)
    })

    it('S3.2 S9.1 the master re-validates: a value that fails the schema is refused to its sender and counted; the store is unchanged', async () => {
      const hub = await h().hub({ stores: { visits: { schema: Visit }, hits: { schema: Count } } })
      const store = await (await h().node(hub)).open('visits', { schema: Visit })
      await store.put('a', { name: 'alice', hits: 1n })
      const raw = await h().rawLink(hub.address)
      raw.endpoint.send(msgpack([PROTOCOL_VERSION, [HELLO, PROTOCOL_VERSION, 'raw-node', [], 0]]))
      await eventually(() => expect(raw.frames.length).toBeGreaterThan(0))
      const bad = Uint8Array.from([0xff, 0xff, 0xff, 0xff])
      const wrongShape = Text.encode('text')
      expect(() => Visit.decode(bad)).toThrow()
      expect(() => Visit.decode(wrongShape)).toThrow()
      raw.endpoint.send(msgpack([PROTOCOL_VERSION, [WRITE, 'visits', 1, 0, 'a', bad, null, null, null]]))
      raw.endpoint.send(
        msgpack([PROTOCOL_VERSION, [WRITE, 'visits', 2, 0, 'b', wrongShape, null, null, null]]),
      )
      await eventually(() => expect(total(hub.metrics.writeErrors)).toBe(2))
      const codes = Object.keys(hub.metrics.writeErrors)
      for (const code of codes) expect(['ERR_DECODE', 'ERR_SCHEMA_INVALID']).toContain(code)
      // The hub counts a refusal when it decides it; the answer reaches the sender after.
      await eventually(() =>
        expect(raw.frames.some((frame) => codes.some((code) => bytesInclude(frame, code)))).toBe(true),
      )
      expect(masterSeq(hub, 'visits')).toBe(1)
      expect(masterEntries(hub, 'visits', Visit)).toEqual(new Map([['a', { name: 'alice', hits: 1n }]]))
      expect(store.get('a')).toEqual({ name: 'alice', hits: 1n })
      expect(await store.put('c', { name: 'carol', hits: 2n })).toBe(2)
    })

    it('S9.2 a hub whose schema is incompatible with the stored data fails to start with PersistenceError, overwriting nothing', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await store.put('a', 'one')
      const address = hub.address
      await h().stopHub(hub)
      const error = await h()
        .hub({ stores: { kv: { schema: Count } }, listen: address })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PersistenceError)
      expect((error as PersistenceError).code).toBe('ERR_PERSISTENCE')
      expect((error as PersistenceError).message).toContain(Text.fingerprint)
      const again = await h().hub({ stores: { kv: { schema: Text } }, listen: address })
      expect(masterEntries(again, 'kv', Text)).toEqual(new Map([['a', 'one']]))
      expect(masterSeq(again, 'kv')).toBe(1)
    })

    if (probe.has.failReads) {
      it('S9.2 a store read that fails while serving a snapshot rejects that open with PersistenceError; the hub and its clones go on', async () => {
        const hub = await h().hub({ stores: { kv: { schema: Text }, other: { schema: Text } } })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        await writer.put('a', 'one')
        await writer.put('b', 'two')
        h().env.failReads!(1)
        const error = await (await h().node(hub)).open('kv', { schema: Text }).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(PersistenceError)
        expect((error as PersistenceError).code).toBe('ERR_PERSISTENCE')
        expect(hub.master('kv')!.readFailures).toBe(1)
        expect(writer.status).toBe('live')
        expect(await writer.put('c', 'three')).toBe(3)
        const late = await (await h().node(hub)).open('kv', { schema: Text })
        expect(new Map(late.entries())).toEqual(
          new Map([
            ['a', 'one'],
            ['b', 'two'],
            ['c', 'three'],
          ]),
        )
        const other = await (await h().node(hub)).open('other', { schema: Text })
        expect(await other.put('x', 'y')).toBe(1)
      })

      it('S3.3 S9.2 a write whose read of the stored entry fails (remove, compareAndSet, update) rejects with PersistenceError; nothing changes; later writes work', async () => {
        const hub = await h().hub({ stores: { kv: { schema: Text } } })
        const store = await (await h().node(hub)).open('kv', { schema: Text })
        const seq = await store.put('a', 'one')
        const writes = [
          () => store.remove('a'),
          () => store.compareAndSet('a', seq, 'two'),
          () => store.update('a', '!', { op: 'append' }),
        ]
        for (const write of writes) {
          h().env.failReads!(1)
          const error = await write().catch((e: unknown) => e)
          expect(error).toBeInstanceOf(PersistenceError)
          expect((error as PersistenceError).code).toBe('ERR_PERSISTENCE')
        }
        expect(hub.master('kv')!.readFailures).toBe(writes.length)
        expect(store.get('a')).toBe('one')
        expect(masterSeq(hub, 'kv')).toBe(seq)
        expect(await store.update('a', '!', { op: 'append' })).toBe(seq + 1)
        expect(store.get('a')).toBe('one!')
      })
    }

    if (probe.has.corrupt) {
      it('S9.2 corrupt persistence fails the hub start with PersistenceError', async () => {
        const hub = await h().hub({ stores: { kv: { schema: Text } } })
        const store = await (await h().node(hub)).open('kv', { schema: Text })
        await store.put('a', 'one')
        const address = hub.address
        await h().stopHub(hub)
        await h().env.corrupt!('kv')
        const error = await h()
          .hub({ stores: { kv: { schema: Text } }, listen: address })
          .catch((e: unknown) => e)
        expect(error).toBeInstanceOf(PersistenceError)
        expect((error as PersistenceError).message.length).toBeGreaterThan(0)
      })
    }
  })
}
