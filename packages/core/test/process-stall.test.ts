import { t } from '@concord/schema'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createHub, createNode, memoryPersistence, memoryTransport, type NodeStatus } from '../src/index.js'
import { soon } from './soon.js'

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** Holds the event loop for `ms`, as a long GC pause or a starved CPU does: no timer, no frame. */
function stall(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // The process does nothing else.
  }
}

/** A hub beating every 100 ms with a string store `kv`, node `n` linked to it, and the node's statuses from then on. */
async function linked(peerQueueLimit?: number) {
  const transport = memoryTransport(peerQueueLimit === undefined ? {} : { peerQueueLimit })
  const hub = await createHub({
    transport,
    listen: 'memory://*',
    persistence: memoryPersistence(),
    heartbeat: 100,
    stores: { kv: { schema: t.string() } },
  })
  closers.push(() => hub.close())
  const node = await createNode({ transport, hub: hub.address, identity: 'n' })
  closers.push(() => node.close())
  await soon(() => expect(node.status).toBe('connected'))
  const statuses: NodeStatus[] = []
  void (async () => {
    for await (const change of node.statusChanges()) statuses.push(change.status)
  })()
  return { transport, hub, node, statuses }
}

describe('a stall of the process itself (a long GC pause, a starved CPU, one long turn)', () => {
  it('S6.2 is no silence of the peers: the hub drops nobody and the node keeps its link; a real silence is still seen', async () => {
    const { transport, hub, node, statuses } = await linked()
    const store = await node.open('kv', { schema: t.string() })
    expect(await store.put('a', 'before the stall')).toBe(1)

    // Ten heartbeats long: every timer fires late, before the frames sent until then are read.
    stall(1_000)
    const framesIn = hub.metrics.framesIn
    // The node's pings after it: both ends ran a few heartbeats since.
    await vi.waitFor(() => expect(hub.metrics.framesIn - framesIn).toBeGreaterThanOrEqual(3), {
      timeout: 5_000,
    })
    expect(hub.metrics.peerTimeouts).toBe(0)
    expect(node.metrics.linksLost).toBe(0)
    expect(statuses).toEqual([])
    expect(await store.put('b', 'after the stall')).toBe(2)
    expect(store.status).toBe('live')

    // A real silence, while both run, is still seen by both ends (3 heartbeats).
    transport.faults.drop(1, { node: 'n' })
    await vi.waitFor(
      () => {
        expect(hub.metrics.peerTimeouts).toBe(1)
        expect(statuses).toContain('connecting')
      },
      { timeout: 5_000 },
    )
  })
})

describe('a stall while frames wait for room in the link’s queue', () => {
  it('S3.7 S6.2 is no link that takes nothing: the node keeps its link and sends them once it runs again', async () => {
    // Two frames queued per link: a burst of large writes leaves the rest held by the node.
    const { node, statuses } = await linked(2)
    const writer = await node.writer('kv', { schema: t.string() })
    const value = 'x'.repeat(20_000)
    // In one callback of the loop's check phase: the transport drains its queue on a later
    // one, so after the stall the node's retry timer runs first and finds the queue as full.
    const writes = await new Promise<Promise<number>[]>((resolve) =>
      setImmediate(() => {
        const issued = Array.from({ length: 50 }, (_, i) => writer.put(`k${i}`, value))
        // Ten heartbeats, thirty times the retry's longest wait: the node's own stall.
        stall(1_000)
        resolve(issued)
      }),
    )
    expect(await Promise.all(writes)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(node.metrics.linksLost).toBe(0)
    expect(node.metrics.writesResent).toBe(0)
    expect(statuses).toEqual([])
  })
})
