import { describe, expect, it } from 'vitest'
import { OverflowError } from '../src/errors.js'
import { rulesAuthorizer, topicMatches } from '../src/ports/authorizer.js'
import { exponentialBackoff } from '../src/ports/backoff.js'
import { BoundedQueue } from '../src/util/bounded-queue.js'
import { toMillis } from '../src/util/duration.js'
import { manualClock } from '../src/util/manual-clock.js'
import { SilenceClock } from '../src/util/silence-clock.js'

describe('topics (S7.1)', () => {
  it('S7.1 match whole segments', () => {
    expect(topicMatches('a/b', 'a/b')).toBe(true)
    expect(topicMatches('a/b', 'a/b/c')).toBe(true)
    expect(topicMatches('a/b', 'a/bc')).toBe(false)
    expect(topicMatches('a/b/', 'a/b/c')).toBe(true)
    expect(topicMatches('', 'anything')).toBe(true)
  })
})

describe('rulesAuthorizer (S8.2)', () => {
  it('S8.2 allows only what a rule names', () => {
    const auth = rulesAuthorizer([
      { identities: ['alice'], allow: ['read', 'write'], stores: ['kv'] },
      { identities: ['*'], allow: ['subscribe'], topics: ['public'] },
    ])
    expect(auth.authorize('alice', 'write', { store: 'kv' })).toBe(true)
    expect(auth.authorize('bob', 'read', { store: 'kv' })).toBe(false)
    expect(auth.authorize('bob', 'subscribe', { topic: 'public/x' })).toBe(true)
    expect(auth.authorize('bob', 'subscribe', { topic: 'publicx' })).toBe(false)
    expect(auth.authorize('alice', 'publish', { topic: 'public' })).toBe(false)
  })
})

describe('BoundedQueue (S5.2)', () => {
  it('S5.2 fails the reader with OverflowError after the buffered items', async () => {
    const queue = new BoundedQueue<number>(2, 'error')
    expect(queue.push(1)).toBe(true)
    expect(queue.push(2)).toBe(true)
    expect(queue.push(3)).toBe(false)
    expect(await queue.next()).toEqual({ value: 1, done: false })
    expect(await queue.next()).toEqual({ value: 2, done: false })
    await expect(queue.next()).rejects.toBeInstanceOf(OverflowError)
  })

  it('S7.6 S5.2 drop-oldest holds only its limit in memory however many items it drops', async () => {
    const queue = new BoundedQueue<string>(10, 'drop-oldest')
    const before = process.memoryUsage().heapUsed
    // 300 000 distinct 1 KiB strings: kept, they would take about 300 MiB.
    for (let i = 0; i < 300_000; i++) queue.push(String(i).padEnd(1024, '.'))
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(100 * 2 ** 20)
    expect(queue.size).toBe(10)
    expect(queue.dropped).toBe(299_990)
    expect((await queue.next()).value).toBe('299990'.padEnd(1024, '.'))
  })

  it('S7.6 drop-oldest keeps the newest and counts the rest', async () => {
    const queue = new BoundedQueue<number>(2, 'drop-oldest')
    for (let i = 1; i <= 5; i++) queue.push(i)
    expect(queue.dropped).toBe(3)
    expect(await queue.next()).toEqual({ value: 4, done: false })
  })

  it('S10.1 return() ends a waiting reader and runs onClose once', async () => {
    let closed = 0
    const queue = new BoundedQueue<number>(2, 'error', () => closed++)
    const pending = queue.next()
    await queue.return()
    await queue.return()
    expect(await pending).toEqual({ value: undefined, done: true })
    expect(closed).toBe(1)
  })
})

describe('durations and backoff', () => {
  it('reads duration text', () => {
    expect(toMillis('5m')).toBe(300_000)
    expect(toMillis('1h30m')).toBe(5_400_000)
    expect(toMillis('250ms')).toBe(250)
    expect(toMillis(7)).toBe(7)
    expect(() => toMillis('5 parsecs')).toThrow(RangeError)
    // Whole milliseconds: an expiry travels as an integer.
    expect(toMillis('4.1m')).toBe(246_000)
    expect(toMillis('1.1h')).toBe(3_960_000)
    expect(toMillis('0.5ms')).toBe(1)
    expect(toMillis(1.4)).toBe(1)
    expect(() => toMillis('1'.repeat(400))).toThrow(RangeError)
    expect(() => toMillis(2 ** 60)).toThrow(RangeError)
  })

  it('S6.2 backs off exponentially within its cap, deterministically with a seeded random', () => {
    const backoff = exponentialBackoff({ initial: 10, max: 100, jitter: 0, random: () => 0.5 })
    expect([1, 2, 3, 4, 5, 6].map(backoff)).toEqual([10, 20, 40, 80, 100, 100])
  })
})

describe('SilenceClock (S6.2)', () => {
  it('S6.2 leaves out what the periodic check fired late by, and only that', () => {
    const clock = manualClock()
    const silence = new SilenceClock(() => clock.now())
    silence.armed(100)
    clock.advance(100)
    silence.fired(100)
    // On time: silence is elapsed time.
    expect(silence.now()).toBe(100)
    silence.armed(100)
    // The process stalled: the check fired 900 ms late; those 900 ms were nobody's silence.
    clock.advance(1_000)
    silence.fired(100)
    expect(silence.now()).toBe(200)
    // Between checks it runs as elapsed time does.
    clock.advance(40)
    expect(silence.now()).toBe(240)
    // Fired with nothing armed (or twice): nothing is left out.
    silence.fired(100)
    expect(silence.now()).toBe(240)
    silence.armed(100)
    clock.advance(60)
    silence.fired(100)
    expect(silence.now()).toBe(300)
    // Only the check late by more than its period counted as a stall.
    expect(silence.stalls).toBe(1)
  })

  it('S6.2 counts a late check as a stall only past a period, and leaves out any lateness', () => {
    const clock = manualClock()
    const silence = new SilenceClock(() => clock.now())
    // Late by 30 ms (jitter of a busy machine): left out, not a stall.
    silence.armed(100)
    clock.advance(130)
    silence.fired(100)
    expect(silence.now()).toBe(100)
    expect(silence.stalls).toBe(0)
    // Late by 250 ms twice in a row (a loop held up, again): both left out, both stalls.
    for (let i = 0; i < 2; i++) {
      silence.armed(100)
      clock.advance(350)
      silence.fired(100)
    }
    expect(silence.now()).toBe(300)
    expect(silence.stalls).toBe(2)
  })
})
