import { describe, expect, it } from 'vitest'
import { StallWatch } from '../src/util/stall-watch.js'

describe("StallWatch: silence over a stall of this process is not a peer's (S6.2)", () => {
  it('checks on time give no grace; a check more than a period late counts silence from then', () => {
    const watch = new StallWatch()
    watch.armed(0)
    expect(watch.check(100, 100)).toBe(Number.NEGATIVE_INFINITY)
    expect(watch.check(290, 100)).toBe(Number.NEGATIVE_INFINITY) // late by 90 ms: within a period
    expect(watch.check(900, 100)).toBe(900)
    expect(watch.stalls).toBe(1)
    expect(watch.check(1000, 100)).toBe(900)
  })

  it('a check late again right after a late one keeps the earlier resumption (a loop held up for good still finds dead peers)', () => {
    const watch = new StallWatch()
    watch.armed(0)
    expect(watch.check(500, 100)).toBe(500)
    expect(watch.check(1000, 100)).toBe(500)
    expect(watch.check(1500, 100)).toBe(500)
    expect(watch.stalls).toBe(3)
    // On time once: the next isolated stall earns its grace again.
    expect(watch.check(1600, 100)).toBe(500)
    expect(watch.check(2000, 100)).toBe(2000)
  })

  it('re-arming (a new period) measures from then, not from the last check', () => {
    const watch = new StallWatch()
    watch.armed(0)
    watch.check(1000, 1000)
    watch.armed(1700)
    expect(watch.check(1950, 250)).toBe(Number.NEGATIVE_INFINITY)
    expect(watch.stalls).toBe(0)
  })
})
