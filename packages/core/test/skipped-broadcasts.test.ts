import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { createHub, createNode, memoryPersistence, memoryTransport, type Transport } from '../src/index.js'
import { useMemoryClusters } from './memory-cluster.js'
import { soon } from './soon.js'

const cluster = useMemoryClusters()

describe('broadcasts a transport skips', () => {
  it('S6.5 are counted in hub.metrics.skippedBroadcasts; the clone stays linked, finds the gap and resyncs', async () => {
    const queue = 8
    // Heartbeats an hour apart: nothing but the broadcasts goes to the paused clone, so its
    // full queue skips them and no unicast overflows it.
    const { hub, transport, node } = await cluster({ peerQueueLimit: queue, heartbeat: '1h' })
    const writer = await (await node('writer')).open('kv', { schema: t.string() })
    const slow = await (await node('slow')).open('kv', { schema: t.string() })

    transport.faults.pause('slow')
    const writes = 20
    for (let i = 0; i < writes; i++) await writer.put(`k${i}`, `v${i}`)
    // One broadcast per write; the paused clone's queue took the first `queue` of them.
    expect(hub.metrics.skippedBroadcasts).toBe(writes - queue)
    expect(transport.stats.toNode.dropped.queueFull).toBe(writes - queue)
    expect(hub.metrics.peerQueueOverflows).toBe(0)

    transport.faults.resume('slow')
    // The next broadcast shows the clone its gap: it resumes from its seq.
    const resumes = hub.metrics.resumes
    const last = await writer.put('after', 'resume')
    await soon(() => {
      expect(slow.status).toBe('live')
      expect(slow.seq).toBe(last)
    })
    expect(hub.metrics.resumes).toBe(resumes + 1)
    expect([...slow.entries()]).toEqual([...writer.entries()])
    expect(transport.stats.links.dropped).toBe(0)
  })

  it('a count that is no count (NaN, negative, fractional) from a custom transport is not counted', async () => {
    const inner = memoryTransport()
    const answers = [Number.NaN, -3, 1.5, Number.POSITIVE_INFINITY]
    let next = 0
    // A transport that delivers every broadcast and reports nonsense for it.
    const transport: Transport = {
      capabilities: inner.capabilities,
      connect: (address, handlers, options) => inner.connect(address, handlers, options),
      listen: async (address, handlers, options) => {
        const endpoint = await inner.listen(address, handlers, options)
        return {
          address: endpoint.address,
          send: (peerId, frame) => endpoint.send(peerId, frame),
          broadcast: (topic, frame) => {
            endpoint.broadcast(topic, frame)
            return answers[next++ % answers.length]
          },
          disconnect: (peerId, reason) => endpoint.disconnect(peerId, reason),
          close: () => endpoint.close(),
        }
      },
    }
    const hub = await createHub({
      transport,
      listen: 'memory://odd',
      persistence: memoryPersistence(),
      stores: { kv: { schema: t.string() } },
    })
    const node = await createNode({ transport, hub: hub.address })
    try {
      const kv = await node.open('kv', { schema: t.string() })
      for (let i = 0; i < answers.length; i++) await kv.put(`k${i}`, 'v')
      expect(next).toBeGreaterThanOrEqual(answers.length)
      expect(hub.metrics.skippedBroadcasts).toBe(0)
    } finally {
      await node.close()
      await hub.close()
    }
  })
})
