import {
  AbortedError,
  ClosedError,
  createHub,
  createNode,
  Hub,
  type HubEndpoint,
  PROTOCOL_VERSION,
  type Transport,
} from '@concord/core'
import { describe, expect, it } from 'vitest'
import { HEARTBEAT, type SuiteContext } from '../harness.js'
import { bytesInclude, eventually, masterEntries, msgpack, SOON, settle, within } from '../helpers.js'
import { Text } from '../schemas.js'

/** The WELCOME message type (docs/PROTOCOL.md). */
const WELCOME = 20

/** An AbortSignal that has fired. */
function aborted(): AbortSignal {
  const controller = new AbortController()
  controller.abort(new Error('changed my mind'))
  return controller.signal
}

/** S10 for hubs, nodes and stores: lifecycle. */
export function lifecycleTests({ h }: SuiteContext): void {
  describe('S10 lifecycle (stores)', () => {
    it('S10.1 constructing a hub does no I/O: it listens only once started', async () => {
      const address = h().env.address()
      const unstarted = new Hub({
        transport: h().env.transport,
        listen: address,
        persistence: h().persistence(),
        stores: { kv: { schema: Text } },
      })
      expect(() => unstarted.address).toThrow(ClosedError)
      const hub = await h().hub({ stores: { kv: { schema: Text } }, listen: address })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      expect(await store.put('a', '1')).toBe(1)
      await unstarted.close()
    })

    it('S10.1 S9.1 a node that closes cleanly leaves the hub nothing to refuse: its farewell comes last', async () => {
      // The hub's side of the transport, watched: when the link ends, and what it refuses.
      const left: string[] = []
      const refused: string[] = []
      const inner = h().env.transport
      const watched: Transport = {
        capabilities: inner.capabilities,
        connect: (at, handlers, options) => inner.connect(at, handlers, options),
        listen: (at, handlers, options) =>
          inner.listen(
            at,
            {
              ...handlers,
              peerLeft: (peer, reason) => {
                left.push(reason)
                handlers.peerLeft(peer, reason)
              },
              refused: (peer, error) => {
                refused.push(error.message)
                handlers.refused(peer, error)
              },
            },
            options,
          ),
      }
      const hub = await createHub({
        transport: watched,
        listen: h().address(),
        persistence: h().persistence(),
        heartbeat: HEARTBEAT,
        stores: { kv: { schema: Text } },
      })
      h().defer(() => hub.close())
      const node = await createNode({ transport: inner, hub: hub.address })
      const store = await node.open('kv', { schema: Text })
      await store.put('a/1', 'one')
      const subscription = node.subscribe('t')
      await subscription.ready
      await node.close()
      await eventually(() => expect(left).toHaveLength(1))
      // What the node sent before its farewell has arrived by now; anything after it would be a stranger's.
      expect(refused).toEqual([])
      expect(hub.metrics.refused).toEqual({})
      expect(store.status).toBe('closed')
    })

    it('S10.1 close is idempotent for stores, nodes and hubs', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const node = await h().node(hub)
      const store = await node.open('kv', { schema: Text })
      await Promise.all([store.close(), store.close()])
      await store.close()
      expect(store.status).toBe('closed')
      await Promise.all([node.close(), node.close()])
      await node.close()
      expect(node.status).toBe('closed')
      await Promise.all([hub.close(), hub.close()])
      await hub.close()
    })

    it('S10.1 closing a node rejects its pending writes with ClosedError and closes its stores', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const node = await h().node(hub)
      const store = await node.open('kv', { schema: Text })
      await h().stopHub(hub)
      await eventually(() => expect(store.status).toBe('stale'))
      // Settled from the start: they reject while close() is still under way.
      const pending = [
        store.put('a', '1'),
        store.remove('b'),
        store.update('c', 1n, { op: 'increment' }),
      ].map((write) => settle(within(write, SOON, 'a pending write')))
      await node.close()
      for (const outcome of await Promise.all(pending)) {
        expect(outcome.ok).toBe(false)
        expect((outcome as { error: unknown }).error).toBeInstanceOf(ClosedError)
      }
      expect(store.status).toBe('closed')
      await expect(store.put('d', '4')).rejects.toBeInstanceOf(ClosedError)
      await expect(node.open('kv', { schema: Text })).rejects.toBeInstanceOf(ClosedError)
    })

    it('S10.1 closing a node rejects an open still under way with ClosedError', async () => {
      // A hub that welcomes the node, then never answers its OPEN: the open waits for it.
      let opened = false
      const silent: HubEndpoint = await h().listen({
        peerJoined: () => {},
        peerLeft: () => {},
        frame: (peer, frame) => {
          if (bytesInclude(frame, 'never-answered')) opened = true
          else
            silent.send(
              peer.id,
              msgpack([PROTOCOL_VERSION, [WELCOME, PROTOCOL_VERSION, 'silent', 60_000, 1 << 16]]),
            )
        },
        authorizeSubscription: () => true,
        refused: () => {},
      })
      const node = await h().node(silent.address)
      const opening = settle(
        within(node.open('never-answered', { schema: Text }), 5_000, 'the open under way'),
      )
      await eventually(() => expect(opened).toBe(true))
      await node.close()
      const outcome = await opening
      expect(outcome.ok).toBe(false)
      expect((outcome as { error: unknown }).error).toBeInstanceOf(ClosedError)
    })

    it('S10.1 closing a store rejects its pending writes with ClosedError', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await h().stopHub(hub)
      await eventually(() => expect(store.status).toBe('stale'))
      const pending = settle(within(store.put('a', '1'), SOON, 'a pending write'))
      await store.close()
      const outcome = await pending
      expect(outcome.ok).toBe(false)
      expect((outcome as { error: unknown }).error).toBeInstanceOf(ClosedError)
      await expect(store.put('b', '2')).rejects.toBeInstanceOf(ClosedError)
    })

    it('S10.1 hubs, nodes and stores support await using', async () => {
      const address = h().env.address()
      let hubRef: Hub | undefined
      let status: string | undefined
      {
        await using hub = await createHub({
          transport: h().env.transport,
          listen: address,
          persistence: h().persistence(),
          heartbeat: HEARTBEAT,
          stores: { kv: { schema: Text } },
        })
        hubRef = hub
        await using node = await createNode({ transport: h().env.transport, hub: hub.address })
        {
          await using store = await node.open('kv', { schema: Text })
          await store.put('a', '1')
          status = store.status
        }
        expect(status).toBe('live')
      }
      // The address is free again once the hub was disposed.
      const again = await h().hub({ stores: { kv: { schema: Text } }, listen: hubRef!.address })
      const store = await (await h().node(again)).open('kv', { schema: Text })
      expect(store.get('a')).toBe('1')
    })

    it('S10.1 every async call honours an AbortSignal, rejecting with AbortedError', async () => {
      const env = h().env
      await expect(
        createHub({
          transport: env.transport,
          listen: env.address(),
          persistence: h().persistence(),
          signal: aborted(),
          stores: { kv: { schema: Text } },
        }),
      ).rejects.toBeInstanceOf(AbortedError)
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      await expect(
        createNode({ transport: env.transport, hub: hub.address, signal: aborted() }),
      ).rejects.toBeInstanceOf(AbortedError)
      const node = await h().node(hub)
      await expect(node.open('kv', { schema: Text, signal: aborted() })).rejects.toBeInstanceOf(AbortedError)
      const store = await node.open('kv', { schema: Text })
      const signal = aborted()
      const calls = [
        store.put('a', '1', { signal }),
        store.remove('a', { signal }),
        store.update('a', '1', { op: 'append', signal }),
        store.compareAndSet('a', 0, '1', { signal }),
        store.clear({ signal }),
      ]
      for (const call of calls) await expect(call).rejects.toBeInstanceOf(AbortedError)
      expect(store.size).toBe(0)
    })

    it('S10.1 a write aborted before it left the node is not applied', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const controller = new AbortController()
      const aborted = store.put('a', 'never', { signal: controller.signal })
      const alsoAborted = store.update('b', 'never', { op: 'append', signal: controller.signal })
      controller.abort()
      await expect(aborted).rejects.toBeInstanceOf(AbortedError)
      await expect(alsoAborted).rejects.toBeInstanceOf(AbortedError)
      // Written after them on the same link: once it is applied, they would have been too.
      expect(await store.put('c', 'kept')).toBe(1)
      expect(store.has('a') || store.has('b')).toBe(false)
      expect(masterEntries(hub, 'kv', Text)).toEqual(new Map([['c', 'kept']]))
    })

    it('S10.1 aborting a write that waits for the master rejects it with AbortedError', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await h().stopHub(hub)
      await eventually(() => expect(store.status).toBe('stale'))
      const controller = new AbortController()
      const pending = store.put('a', '1', { signal: controller.signal })
      controller.abort()
      const error = await within(
        pending.catch((e: unknown) => e),
        SOON,
        'the aborted write',
      )
      expect(error).toBeInstanceOf(AbortedError)
      expect((error as AbortedError).code).toBe('ERR_ABORTED')
    })
  })
}
