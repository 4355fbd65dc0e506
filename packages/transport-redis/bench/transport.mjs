// The transport's own figures against a given Redis URL, from the built package (dist).
// Every export resolves to a number and prints nothing. 100-byte frames and values.
import { constantBackoff, createHub, createNode, memoryPersistence, memoryTransport } from '@concord/core'
import { t } from '@concord/schema'
import { redisTransport } from '@concord/transport-redis'

const FRAME = new Uint8Array(100).fill(0x61)
const VALUE = 'x'.repeat(100)
const rate = (count, start) => count / ((performance.now() - start) / 1000)
/** Queues big enough never to refuse a frame here. */
const init = () => ({
  peerQueueLimit: 1_000_000,
  peerQueueBytes: 512 * 1024 * 1024,
  backoff: constantBackoff(20),
})

/** A hub endpoint and `n` linked node endpoints; `onFrame` counts frames at the hub, `onNode` at nodes. */
async function linked(url, n, counters) {
  const transport = redisTransport(init())
  const peers = []
  const hub = await transport.listen(`${url}/*`, {
    peerJoined: (peer) => peers.push(peer),
    peerLeft: () => {},
    frame: () => counters.hub++,
    authorizeSubscription: () => true,
    refused: () => {},
  })
  let up = 0
  const nodes = []
  for (let i = 0; i < n; i++) {
    nodes.push(
      await transport.connect(
        hub.address,
        {
          linkUp: () => up++,
          linkDown: () => {},
          frame: () => counters.node++,
          broadcast: () => counters.node++,
        },
        { backoff: constantBackoff(20) },
      ),
    )
  }
  await until(() => up === n)
  for (const node of nodes) await node.subscribe('t|')
  return {
    hub,
    nodes,
    peers,
    close: async () => {
      await Promise.all(nodes.map((node) => node.close()))
      await hub.close()
    },
  }
}

async function until(check) {
  while (!check()) await new Promise((resolve) => setImmediate(resolve))
}

/** Frames/s from one node to the hub, all sent at once (as core batches a turn's messages). */
export async function nodeToHub(url, { count = 100_000 } = {}) {
  const counters = { hub: 0, node: 0 }
  const { nodes, close } = await linked(url, 1, counters)
  const start = performance.now()
  for (let i = 0; i < count; i++) nodes[0].send(FRAME)
  await until(() => counters.hub === count)
  const result = rate(count, start)
  await close()
  return result
}

/** Frames/s from the hub to one node (unicast). */
export async function hubToNode(url, { count = 100_000 } = {}) {
  const counters = { hub: 0, node: 0 }
  const { hub, peers, close } = await linked(url, 1, counters)
  const start = performance.now()
  for (let i = 0; i < count; i++) hub.send(peers[0].id, FRAME)
  await until(() => counters.node === count)
  const result = rate(count, start)
  await close()
  return result
}

/** Broadcast frames delivered per second, summed over `fanout` subscribed nodes. */
export async function broadcast(url, { fanout = 10, count = 20_000 } = {}) {
  const counters = { hub: 0, node: 0 }
  const { hub, close } = await linked(url, fanout, counters)
  const start = performance.now()
  for (let i = 0; i < count; i++) hub.broadcast('t|x', FRAME)
  await until(() => counters.node === count * fanout)
  const result = rate(count * fanout, start)
  await close()
  return result
}

/**
 * Puts/s through core: one writer with `inFlight` puts outstanding, applied at the writer's
 * clone and at `readers` more. `transport: 'memory'` gives the in-process baseline. In this
 * bench the hub, the nodes and their clones share one process (and Redis the machine).
 */
export async function puts(url, { inFlight = 1000, count = 20_000, readers = 2, transport = 'redis' } = {}) {
  const make = () => (transport === 'memory' ? shared : redisTransport(init()))
  const shared = memoryTransport({ peerQueueLimit: 1_000_000 })
  const hub = await createHub({
    transport: make(),
    listen: transport === 'memory' ? 'memory://bench' : `${url}/*`,
    persistence: memoryPersistence(),
    stores: { kv: { schema: t.string() } },
  })
  const nodes = []
  for (let i = 0; i <= readers; i++) {
    nodes.push(await createNode({ transport: make(), hub: hub.address, backoff: constantBackoff(20) }))
  }
  const clones = await Promise.all(nodes.map((node) => node.open('kv', { schema: t.string() })))
  const writer = clones[0]
  const start = performance.now()
  let next = 0
  let last = 0
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++
        last = Math.max(last, await writer.put(`k${i % 10_000}`, VALUE))
      }
    }),
  )
  await until(() => clones.every((clone) => clone.seq >= last))
  const result = rate(count, start)
  for (const node of nodes) await node.close()
  await hub.close()
  return result
}
