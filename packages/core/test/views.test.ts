import { t } from '@concord/schema'
import { describe, expect, it, vi } from 'vitest'
import { useMemoryClusters } from './memory-cluster.js'
import { soon } from './soon.js'

const cluster = useMemoryClusters()

describe('prefix views across resyncs (S2.1, S6.3)', () => {
  it('S6.3 a view that resyncs while live leaves no registration behind at the hub', async () => {
    const { transport, hub, node } = await cluster()
    const writer = await node('writer')
    const viewer = await node('viewer')
    const kv = await writer.open('kv', { schema: t.string() })
    const view = await viewer.open('kv', { schema: t.string(), prefix: 'a/' })
    for (let round = 0; round < 3; round++) {
      // The view misses a broadcast; the next heartbeat shows it behind, and it resyncs.
      const undo = transport.faults.drop(1, { direction: 'toNode', kind: 'broadcast', node: 'viewer' })
      await kv.put('a/x', String(round))
      undo()
      await vi.waitFor(() => expect(view.get('a/x')).toBe(String(round)), { timeout: 5_000 })
      expect(view.status).toBe('live')
    }
    await view.close()
    // With the view gone, a commit goes out once, on the store topic.
    await soon(async () => {
      const before = hub.metrics.broadcasts
      await kv.put('b', 'x')
      expect(hub.metrics.broadcasts - before).toBe(1)
    })
  })
})
