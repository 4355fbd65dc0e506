import { t } from '@concord/schema'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type Clock,
  createHub,
  createNode,
  memoryPersistence,
  memoryTransport,
  type NodeStatus,
  systemClock,
} from '../src/index.js'

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

describe('a step of the wall clock (NTP, a resumed VM)', () => {
  it('S6.2 S3.7 neither makes a live link stale nor times out the writes in flight: durations are measured on a clock that does not jump', async () => {
    let step = 0
    // The wall clock jumps by `step`; elapsed time (and the timers) run on.
    const clock: Clock = {
      now: () => Date.now() + step,
      elapsed: () => performance.now(),
      setTimeout: (callback, ms) => systemClock.setTimeout(callback, ms),
      clearTimeout: (handle) => systemClock.clearTimeout(handle),
    }
    const transport = memoryTransport()
    const hub = await createHub({
      transport,
      listen: 'memory://*',
      persistence: memoryPersistence(),
      heartbeat: 50,
      stores: { kv: { schema: t.string() } },
      clock,
    })
    closers.push(() => hub.close())
    const node = await createNode({
      transport,
      hub: hub.address,
      identity: 'n',
      clock,
      writeTimeout: '5s',
      staleAfter: '10s',
    })
    closers.push(() => node.close())
    const store = await node.open('kv', { schema: t.string() })
    const statuses: NodeStatus[] = []
    void (async () => {
      for await (const change of node.statusChanges()) statuses.push(change.status)
    })()
    // A write whose answer is held (the node stops reading) while the clock jumps an hour ahead.
    transport.faults.pause('n')
    const write = store.put('a', 'written across the step')
    step += 3_600_000
    const pings = hub.metrics.framesIn
    await vi.waitFor(() => expect(hub.metrics.framesIn - pings).toBeGreaterThanOrEqual(4), { timeout: 5_000 })
    transport.faults.resume('n')
    expect(await write).toBe(1)
    // And an hour back: still no silence, no timeout.
    step -= 7_200_000
    const later = hub.metrics.framesIn
    await vi.waitFor(() => expect(hub.metrics.framesIn - later).toBeGreaterThanOrEqual(4), { timeout: 5_000 })
    expect(await store.put('b', 'after the step back')).toBe(2)
    expect(statuses.filter((s) => s !== 'connected')).toEqual([])
    expect(hub.metrics.peerTimeouts).toBe(0)
    expect(store.status).toBe('live')
  })
})
