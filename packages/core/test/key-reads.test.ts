/** One-key reads (`node.read`) without a hub: bounded in number and in time, like writes (S3.7). */
import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { createNode } from '../src/compose.js'
import { UnavailableError } from '../src/errors.js'
import { memoryTransport } from '../src/memory/index.js'
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
      expect((over as Error).message).toBe('2 writes, publishes and reads are pending')
      // The node looks at its requests on each heartbeat (1 s until a hub says otherwise).
      clock.advance(2_000)
      for (const read of [await first, await second]) {
        expect(read).toBeInstanceOf(UnavailableError)
        expect((read as Error).message).toBe('no answer from the hub within 50 ms')
      }
      // Counted: the two that timed out; not the one refused before it was sent (it never
      // waited), nor any answer.
      expect(node.metrics.readErrors).toEqual({ ERR_UNAVAILABLE: 2 })
      expect(node.metrics.reads).toBe(0)
    } finally {
      await node.close()
    }
  })
})
