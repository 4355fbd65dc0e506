/**
 * A clone's first sync on a store that is being written: broadcasts of the store can reach
 * the node before it learns that its subscription was granted (ZeroMQ delivers the grant and
 * the first broadcasts in one read), so before the clone started its sync.
 */
import { t } from '@concord/schema'
import { expect, it, onTestFinished } from 'vitest'
import { createNode, type NodeEndpoint, type Transport } from '../src/index.js'
import { newNodeMetrics } from '../src/node/node-metrics.js'
import { Topics } from '../src/util/names.js'
import { useMemoryClusters } from './memory-cluster.js'
import { soon } from './soon.js'

const cluster = useMemoryClusters()
const Text = t.string()

/**
 * `inner`, except that a node's subscription to `heldTopic` reports its grant only once
 * `release()` is called: broadcasts published after the grant are delivered meanwhile, as the port allows.
 */
function heldGrants(inner: Transport, heldTopic: string) {
  let granted = 0
  let broadcasts = 0
  let release!: () => void
  const held = new Promise<void>((resolve) => {
    release = resolve
  })
  const transport: Transport = {
    capabilities: inner.capabilities,
    listen: (address, handlers, options) => inner.listen(address, handlers, options),
    async connect(address, handlers, options) {
      const endpoint = await inner.connect(
        address,
        {
          ...handlers,
          broadcast: (topic, frame) => {
            broadcasts++
            handlers.broadcast(topic, frame)
          },
        },
        options,
      )
      const wrapped: NodeEndpoint = {
        send: (frame) => endpoint.send(frame),
        subscribe: async (topic) => {
          await endpoint.subscribe(topic)
          if (topic !== heldTopic) return
          granted++
          await held
        },
        unsubscribe: (topic) => endpoint.unsubscribe(topic),
        reconnect: () => endpoint.reconnect(),
        close: () => endpoint.close(),
      }
      return wrapped
    },
  }
  return { transport, release, granted: () => granted, broadcasts: () => broadcasts }
}

it('S2.1 S6.3 broadcasts that arrive before the clone began its first sync start no resync', async () => {
  const { hub, transport, node } = await cluster({ heartbeat: '1h' })
  const writer = await (await node('writer')).open('kv', { schema: Text })
  await writer.put('a', 'one')
  const grants = heldGrants(transport, Topics.store('kv'))
  const readerNode = await createNode({ transport: grants.transport, hub: hub.address, identity: 'reader' })
  onTestFinished(() => readerNode.close())
  const opening = readerNode.open('kv', { schema: Text })
  await soon(() => expect(grants.granted()).toBe(1))
  // Broadcast while the reader's grant is held: it reaches the reader before its sync began.
  await writer.put('b', 'two')
  await soon(() => expect(grants.broadcasts()).toBe(1))
  grants.release()
  const reader = await opening
  expect(reader.get('a')).toBe('one')
  expect(reader.get('b')).toBe('two')
  expect(readerNode.metrics.resyncs).toEqual(newNodeMetrics().resyncs)
  // One snapshot for the writer's clone, one for the reader's: no second OPEN.
  expect(hub.metrics.snapshots).toBe(2)
})

/**
 * `inner`, except that every frame the hub sends a node alone (its WELCOME first) is held
 * until the node's subscription to `heldTopic` is granted, then delivered `depth` microtasks
 * after the grant: the port lets a transport deliver frames in microtasks (ZeroMQ's reads
 * resolve promises), so the WELCOME may come between any two steps of an `open` that waits
 * for its grant.
 */
function welcomeAfterGrant(inner: Transport, heldTopic: string, depth: number) {
  const held: Uint8Array[] = []
  const transport: Transport = {
    capabilities: inner.capabilities,
    listen: (address, handlers, options) => inner.listen(address, handlers, options),
    async connect(address, handlers, options) {
      let holding = true
      const endpoint = await inner.connect(
        address,
        {
          ...handlers,
          frame: (frame) => {
            if (holding) held.push(frame)
            else handlers.frame(frame)
          },
        },
        options,
      )
      const release = (steps: number) => {
        if (steps > 0) return queueMicrotask(() => release(steps - 1))
        holding = false
        for (const frame of held.splice(0)) handlers.frame(frame)
      }
      const wrapped: NodeEndpoint = {
        send: (frame) => endpoint.send(frame),
        subscribe: (topic) =>
          endpoint.subscribe(topic).then(() => {
            if (topic === heldTopic) release(depth)
          }),
        unsubscribe: (topic) => endpoint.unsubscribe(topic),
        reconnect: () => endpoint.reconnect(),
        close: () => endpoint.close(),
      }
      return wrapped
    },
  }
  return { transport, held: () => held.length }
}

it('S2.1 a clone opened while its node waits for the WELCOME starts one sync, whenever the WELCOME comes', async () => {
  // Seen in the chaos soak over ZeroMQ: now and then a clone's first open sent two OPENs, and
  // the hub served two snapshots (hub.metrics.snapshots one past the nodes' count).
  const snapshots: number[] = []
  const depths = Array.from({ length: 16 }, (_, i) => i)
  for (const depth of depths) {
    const { hub, transport } = await cluster({ heartbeat: '1h' })
    const gated = welcomeAfterGrant(transport, Topics.store('kv'), depth)
    const node = await createNode({ transport: gated.transport, hub: hub.address, identity: 'reader' })
    onTestFinished(() => node.close())
    await soon(() => expect(gated.held()).toBeGreaterThan(0))
    const kv = await node.open('kv', { schema: Text })
    expect(kv.status).toBe('live')
    expect(node.metrics.snapshots).toBe(1)
    snapshots.push(hub.metrics.snapshots)
  }
  expect(snapshots).toEqual(depths.map(() => 1))
})
