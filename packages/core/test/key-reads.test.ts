/** One-key reads (`node.read`) in particular setups: no hub (bounds in number and time, S3.7), a hub with smaller frames, large values. */
import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { createHub, createNode } from '../src/compose.js'
import { TooLargeError, UnavailableError } from '../src/errors.js'
import type { Hub } from '../src/hub/hub.js'
import { memoryNetwork, memoryTransport } from '../src/memory/index.js'
import type { NodeStatus } from '../src/node/node.js'
import { constantBackoff } from '../src/ports/backoff.js'
import type { HubEndpoint, Transport } from '../src/ports/transport.js'
import { manualClock } from '../src/util/manual-clock.js'

describe('one-key reads without a link (S3.7)', () => {
  it('S3.7 a read nobody answers rejects with UnavailableError after writeTimeout, and reads count against maxPendingWrites', async () => {
    const clock = manualClock()
    const node = await createNode({
      transport: memoryTransport({ clock }),
      hub: 'memory://nobody-here',
      clock,
      writeTimeout: '50ms',
      maxPendingWrites: 2,
    })
    try {
      const first = node.read('kv', 'a', { schema: t.string() }).catch((e: unknown) => e)
      const second = node.read('kv', 'b', { schema: t.string() }).catch((e: unknown) => e)
      // A third would be over the bound: refused at once, as a write would be.
      const over = await node.read('kv', 'c', { schema: t.string() }).catch((e: unknown) => e)
      expect(over).toBeInstanceOf(UnavailableError)
      expect((over as Error).message).toBe(
        '2 writes, publishes and reads are pending: the master is unreachable or slow (S3.7)',
      )
      expect(node.metrics.readsOverLimit).toBe(1)
      // The node looks at its requests on each heartbeat (1 s until a hub says otherwise).
      clock.advance(2_000)
      for (const read of [await first, await second]) {
        expect(read).toBeInstanceOf(UnavailableError)
        expect((read as Error).message).toBe('no answer from the hub within 50 ms')
      }
      // Counted: the two that timed out; not the one refused before it was sent (it never
      // waited), nor any answer.
      expect(node.metrics.readErrors).toEqual({ ERR_UNAVAILABLE: 2 })
      expect(node.metrics.readsOverLimit).toBe(1)
      expect(node.metrics.reads).toBe(0)
    } finally {
      await node.close()
    }
  })
})

describe('one-key reads queued before the link came up', () => {
  it("S2.7 S9.1 a read whose key exceeds the hub's smaller frame limit rejects with TooLargeError when the link comes up; the others are answered, the link stays up", async () => {
    const network = memoryNetwork()
    const node = await createNode({
      transport: memoryTransport({ network, maxFrameSize: 1 << 20 }),
      hub: 'memory://small',
      backoff: constantBackoff(10),
      // Without an answer, each read rejects within the test's bounds rather than hang it.
      writeTimeout: '2s',
    })
    const statuses: NodeStatus[] = []
    void (async () => {
      for await (const change of node.statusChanges()) statuses.push(change.status)
    })()
    const schema = t.string()
    // Under a quarter of the node's own frame limit (256 KiB), over the hub's whole frame (64 KiB).
    const results = [
      node.read('kv', 'a', { schema }),
      node.read('kv', 'k'.repeat(100 * 1024), { schema }),
      node.read('kv', 'b', { schema }),
    ].map((p) => p.catch((e: unknown) => e))
    const hub = await createHub({
      transport: memoryTransport({ network, maxFrameSize: 64 * 1024 }),
      listen: 'memory://small',
      stores: { kv: { schema } },
    })
    try {
      const [a, big, b] = await Promise.all(results)
      expect(big).toBeInstanceOf(TooLargeError)
      expect([a, b]).toEqual([
        { found: false, value: undefined, seq: 0 },
        { found: false, value: undefined, seq: 0 },
      ])
      // Nothing the hub had to refuse, and the link never dropped.
      expect(hub.metrics.refused).toEqual({})
      expect(hub.metrics.reads).toBe(2)
      expect(node.metrics.readErrors).toEqual({ ERR_TOO_LARGE: 1 })
      expect(statuses).toEqual(['connected'])
    } finally {
      await node.close()
      await hub.close()
    }
  })
})

describe('one-key reads of large values', () => {
  it('S6.5 the hub hands its answers to a burst of reads to the transport as they are made: it holds at most about a frame of them', async () => {
    const maxFrameSize = 1 << 20
    const inner = memoryTransport({ maxFrameSize })
    // Each frame the hub sends, with how many reads it had answered when it sent it.
    const sent: { reads: number; bytes: number }[] = []
    let hub: Hub | undefined
    const transport: Transport = {
      capabilities: inner.capabilities,
      async listen(address, handlers, options) {
        const endpoint = await inner.listen(address, handlers, options)
        const recording: HubEndpoint = {
          address: endpoint.address,
          send(peerId, frame) {
            sent.push({ reads: hub?.metrics.reads ?? 0, bytes: frame.byteLength })
            return endpoint.send(peerId, frame)
          },
          broadcast: (topic, frame) => endpoint.broadcast(topic, frame),
          disconnect: (peerId, reason) => endpoint.disconnect(peerId, reason),
          close: () => endpoint.close(),
        }
        return recording
      },
      connect: (address, handlers, options) => inner.connect(address, handlers, options),
    }
    const schema = t.string()
    hub = await createHub({ transport, listen: 'memory://reads', stores: { kv: { schema } } })
    const node = await createNode({ transport, hub: hub.address })
    try {
      const value = 'v'.repeat(200_000)
      await (await node.writer('kv', { schema })).put('big', value)
      sent.length = 0
      const reads = await Promise.all(Array.from({ length: 100 }, () => node.read('kv', 'big', { schema })))
      expect(reads.every((read) => read.value === value)).toBe(true)
      // What the hub had answered and not yet handed over, at each send: its answers' bytes
      // less the bytes of the frames before.
      let before = 0
      let held = 0
      for (const frame of sent) {
        held = Math.max(held, frame.reads * value.length - before)
        before += frame.bytes
      }
      expect(held).toBeLessThan(maxFrameSize)
      expect(hub.metrics.peerQueueOverflows).toBe(0)
    } finally {
      await node.close()
      await hub.close()
    }
  })
})
