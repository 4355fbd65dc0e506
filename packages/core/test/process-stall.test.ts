import { t } from '@concord/schema'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createHub, createNode, memoryPersistence, memoryTransport, type NodeStatus } from '../src/index.js'

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

describe('a stall of the process itself (a long GC pause, a starved CPU, one long turn)', () => {
  it('S6.2 is no silence of the peers: the hub drops nobody and the node keeps its link; a real silence is still seen', async () => {
    const transport = memoryTransport()
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
    const store = await node.open('kv', { schema: t.string() })
    const statuses: NodeStatus[] = []
    void (async () => {
      for await (const change of node.statusChanges()) statuses.push(change.status)
    })()
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
