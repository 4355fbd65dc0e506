import { t } from '@concord/schema'
import { describe, expect, it, vi } from 'vitest'
import { useMemoryClusters } from './memory-cluster.js'

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
    await vi.waitFor(() => {
      expect(slow.status).toBe('live')
      expect(slow.seq).toBe(last)
    })
    expect(hub.metrics.resumes).toBe(resumes + 1)
    expect([...slow.entries()]).toEqual([...writer.entries()])
    expect(transport.stats.links.dropped).toBe(0)
  })
})
