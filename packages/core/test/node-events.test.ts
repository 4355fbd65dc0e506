/**
 * Node-side event rules that need a particular in-memory setup: here, a hub whose frame limit
 * is smaller than the node's transport's, which the node learns only when the link comes up.
 */
import { t } from '@concord/schema'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type ConcordNode,
  constantBackoff,
  createHub,
  createNode,
  type Hub,
  memoryNetwork,
  memoryTransport,
  type NodeStatus,
  TooLargeError,
} from '../src/index.js'

const Count = t.count()

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** A node linking to `memory://small` before anything listens there, and a way to start that hub. */
async function nodeBeforeHub(): Promise<{ node: ConcordNode; startHub: () => Promise<Hub> }> {
  const network = memoryNetwork()
  const node = await createNode({
    transport: memoryTransport({ network, maxFrameSize: 1 << 20 }),
    hub: 'memory://small',
    backoff: constantBackoff(10),
  })
  closers.push(() => node.close())
  const startHub = async () => {
    const hub = await createHub({
      transport: memoryTransport({ network, maxFrameSize: 64 * 1024 }),
      listen: 'memory://small',
    })
    closers.push(() => hub.close())
    return hub
  }
  return { node, startHub }
}

describe('node events', () => {
  it("S9.1 a publish queued before the link came up is refused with TooLargeError if it exceeds the hub's smaller limit; the others go, the link stays up", async () => {
    const { node, startHub } = await nodeBeforeHub()
    // Under a quarter of the node's own frame limit, over a quarter of the hub's.
    const results = [
      node.publish('t', new Uint8Array(10)),
      node.publish('t', new Uint8Array(100 * 1024)),
      node.publish('t', new Uint8Array(10)),
    ].map((p) =>
      p.then(
        () => 'ok',
        (e: unknown) => e,
      ),
    )
    const statuses: NodeStatus[] = []
    void (async () => {
      for await (const change of node.statusChanges()) statuses.push(change.status)
    })()
    const hub = await startHub()
    const [before, big, after] = await Promise.all(results)
    expect(big).toBeInstanceOf(TooLargeError)
    expect([before, after]).toEqual(['ok', 'ok'])
    expect(hub.metrics.events).toBe(2)
    await node.publish('t', new Uint8Array(10))
    expect(statuses).toEqual(['connected'])
  })

  it("S9.1 a subscription made before the link came up ends with TooLargeError if its prefix exceeds the hub's smaller limit; the link stays up", async () => {
    const { node, startHub } = await nodeBeforeHub()
    const big = node.subscribe('x'.repeat(100 * 1024))
    const good = node.subscribe('t')
    const statuses: NodeStatus[] = []
    void (async () => {
      for await (const change of node.statusChanges()) statuses.push(change.status)
    })()
    await startHub()
    expect(await big.closed).toBeInstanceOf(TooLargeError)
    await good.ready
    await node.publish('t', new Uint8Array(3))
    expect((await good.next()).value?.topic).toBe('t')
    expect(statuses).toEqual(['connected'])
  })
})

describe('schemas are checked where they are given', () => {
  it('a topic or store given a schema in place of { schema }, or none, is a TypeError at once', async () => {
    const network = memoryNetwork()
    const transport = memoryTransport({ network })
    const bare = t.int() as unknown as { schema: typeof Count }
    await expect(createHub({ transport, listen: 'memory://a', topics: { a: bare } })).rejects.toThrow(
      /topic 'a' needs \{ schema \}/,
    )
    await expect(createHub({ transport, listen: 'memory://b', stores: { kv: bare } })).rejects.toThrow(
      /store 'kv' needs \{ schema \}/,
    )
    const hub = await createHub({ transport, listen: 'memory://c' })
    closers.push(() => hub.close())
    await expect(createNode({ transport, hub: hub.address, topics: { a: bare } })).rejects.toThrow(TypeError)
    const node = await createNode({ transport, hub: hub.address })
    closers.push(() => node.close())
    expect(() => node.topic('b', undefined as unknown as typeof Count)).toThrow(
      /topic 'b' needs \{ schema \}/,
    )
    node.topic('b', Count)
    expect(() => node.topic('b', Count)).not.toThrow()
  })
})
