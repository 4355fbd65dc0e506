import { describe, expect, it } from 'vitest'
import { manualClock } from '../src/util/manual-clock.js'
import { seededRandom } from '../src/util/random.js'

describe('manualClock', () => {
  it('starts at the given time and moves only when advanced', () => {
    const clock = manualClock(1000)
    expect(clock.now()).toBe(1000)
    expect(clock.now()).toBe(1000)
    clock.advance(250)
    expect(clock.now()).toBe(1250)
    expect(manualClock().now()).toBe(0)
  })

  it('runs due timers in deadline order, ties in scheduling order, with now() at each deadline', () => {
    const clock = manualClock()
    const seen: Array<[string, number]> = []
    clock.setTimeout(() => seen.push(['c', clock.now()]), 30)
    clock.setTimeout(() => seen.push(['a', clock.now()]), 10)
    clock.setTimeout(() => seen.push(['b1', clock.now()]), 20)
    clock.setTimeout(() => seen.push(['b2', clock.now()]), 20)
    clock.setTimeout(() => seen.push(['late', clock.now()]), 100)

    expect(clock.advance(50)).toBe(4)
    expect(seen).toEqual([
      ['a', 10],
      ['b1', 20],
      ['b2', 20],
      ['c', 30],
    ])
    expect(clock.now()).toBe(50)
    expect(clock.pending()).toBe(1)
  })

  it('runs timers scheduled by callbacks during the same advance when they fall due', () => {
    const clock = manualClock()
    const seen: number[] = []
    const tick = (): void => {
      seen.push(clock.now())
      clock.setTimeout(tick, 10)
    }
    clock.setTimeout(tick, 10)
    clock.advance(35)
    expect(seen).toEqual([10, 20, 30])
    expect(clock.nextDeadline()).toBe(40)
    // A zero-delay timer scheduled inside a callback runs after the timers already due at that time.
    const order: string[] = []
    clock.setTimeout(() => {
      order.push('first')
      clock.setTimeout(() => order.push('nested'), 0)
    }, 5)
    clock.setTimeout(() => order.push('second'), 5)
    clock.advance(5)
    expect(order).toEqual(['first', 'second', 'nested'])
  })

  it('clearTimeout cancels a timer and pending() counts only live ones', () => {
    const clock = manualClock()
    let fired = false
    const handle = clock.setTimeout(() => {
      fired = true
    }, 10)
    clock.setTimeout(() => {}, 20)
    expect(clock.pending()).toBe(2)
    clock.clearTimeout(handle)
    clock.clearTimeout(handle)
    expect(clock.pending()).toBe(1)
    clock.advance(100)
    expect(fired).toBe(false)
    expect(clock.pending()).toBe(0)
  })

  it('a timer can clear a later one while the advance is running', () => {
    const clock = manualClock()
    let laterFired = false
    const later = clock.setTimeout(() => {
      laterFired = true
    }, 20)
    clock.setTimeout(() => clock.clearTimeout(later), 10)
    clock.advance(30)
    expect(laterFired).toBe(false)
  })

  it('next() runs the earliest timer alone and jumps time to it', () => {
    const clock = manualClock(100)
    const seen: number[] = []
    clock.setTimeout(() => seen.push(clock.now()), 50)
    clock.setTimeout(() => seen.push(clock.now()), 20)
    expect(clock.next()).toBe(true)
    expect(seen).toEqual([120])
    expect(clock.now()).toBe(120)
    expect(clock.next()).toBe(true)
    expect(clock.next()).toBe(false)
    expect(seen).toEqual([120, 150])
    expect(clock.now()).toBe(150)
  })

  it('runAll() empties the queue and refuses to loop forever', () => {
    const clock = manualClock()
    let count = 0
    clock.setTimeout(() => clock.setTimeout(() => count++, 5), 5)
    expect(clock.runAll()).toBe(2)
    expect(count).toBe(1)
    expect(clock.now()).toBe(10)

    const forever = (): void => {
      clock.setTimeout(forever, 1)
    }
    clock.setTimeout(forever, 1)
    expect(() => clock.runAll(100)).toThrow(RangeError)
  })

  it('treats negative and NaN delays as zero and rejects moving backwards', () => {
    const clock = manualClock(10)
    const seen: number[] = []
    clock.setTimeout(() => seen.push(clock.now()), -5)
    clock.setTimeout(() => seen.push(clock.now()), Number.NaN)
    clock.advance(0)
    expect(seen).toEqual([10, 10])
    expect(() => clock.advance(-1)).toThrow(RangeError)
    expect(() => clock.advanceTo(5)).toThrow(RangeError)
    expect(clock.advanceTo(40)).toBe(0)
    expect(clock.now()).toBe(40)
  })
})

describe('seededRandom', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const a = seededRandom(42)
    const b = seededRandom(42)
    const c = seededRandom(43)
    const seqA = Array.from({ length: 20 }, () => a())
    const seqB = Array.from({ length: 20 }, () => b())
    const seqC = Array.from({ length: 20 }, () => c())
    expect(seqA).toEqual(seqB)
    expect(seqA).not.toEqual(seqC)
    for (const x of seqA) {
      expect(x).toBeGreaterThanOrEqual(0)
      expect(x).toBeLessThan(1)
    }
    expect(a.seed).toBe(42)
  })

  it('int, between, pick and chance stay in range and are roughly uniform', () => {
    const random = seededRandom(7)
    const counts = [0, 0, 0, 0]
    for (let i = 0; i < 4000; i++) counts[random.int(4)]!++
    for (const n of counts) expect(n).toBeGreaterThan(800)
    for (let i = 0; i < 100; i++) {
      const x = random.between(5, 6)
      expect(x).toBeGreaterThanOrEqual(5)
      expect(x).toBeLessThanOrEqual(6)
      expect(['x', 'y']).toContain(random.pick(['x', 'y']))
    }
    expect(Array.from({ length: 50 }, () => random.chance(0)).some(Boolean)).toBe(false)
    expect(Array.from({ length: 50 }, () => random.chance(1)).every(Boolean)).toBe(true)
    const hits = Array.from({ length: 2000 }, () => random.chance(0.25)).filter(Boolean).length
    expect(hits).toBeGreaterThan(400)
    expect(hits).toBeLessThan(600)
    expect(() => random.int(0)).toThrow(RangeError)
    expect(() => random.pick([])).toThrow(RangeError)
  })

  it('fork() is deterministic and independent of later draws on the parent', () => {
    const a = seededRandom(1)
    const b = seededRandom(1)
    const fa = a.fork()
    const fb = b.fork()
    a()
    expect([fa(), fa()]).toEqual([fb(), fb()])
  })
})
