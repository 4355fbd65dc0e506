import type { Clock, TimerHandle } from '../ports/clock.js'

/**
 * A {@link Clock} whose time moves only when a test says so. Timers run synchronously inside
 * {@link ManualClock.advance} (and the other stepping methods), in deadline order, ties in
 * the order they were scheduled; while a timer runs, `now()` is that timer's deadline.
 * Timers scheduled by a callback run in the same call when they fall due before its end.
 *
 * It runs timers only: promise continuations and `setImmediate` callbacks still need the
 * real event loop, so await them (e.g. with `vi.waitFor`) between steps.
 */
export interface ManualClock extends Clock {
  /**
   * Moves time forward by `ms`, running every timer that falls due on the way (including
   * timers those timers schedule), then leaves `now()` at the old time plus `ms`.
   * Returns the number of timers run. Throws `RangeError` for a negative or non-finite `ms`.
   */
  advance(ms: number): number
  /** Like {@link advance}, to the absolute time `time` (not before `now()`). */
  advanceTo(time: number): number
  /**
   * Jumps to the earliest pending timer and runs it alone. Returns false when none is
   * pending (time does not move then).
   */
  next(): boolean
  /**
   * Runs timers in deadline order until none is pending, moving time as it goes. Returns the
   * number run. Throws `RangeError` after `limit` timers (default 10 000): a timer that keeps
   * rescheduling itself (a heartbeat) never lets the queue empty; use {@link advance} then.
   */
  runAll(limit?: number): number
  /** The number of timers scheduled and not yet run or cleared. */
  pending(): number
  /** The deadline of the earliest pending timer, or undefined. */
  nextDeadline(): number | undefined
}

interface Timer {
  readonly handle: TimerHandle
  readonly at: number
  readonly order: number
  readonly callback: () => void
}

/**
 * A manual clock starting at `start` ms (default 0).
 *
 * @example
 * const clock = manualClock()
 * clock.setTimeout(() => console.log('fired at', clock.now()), 100)
 * clock.advance(250) // logs "fired at 100"; clock.now() is now 250
 */
export function manualClock(start = 0): ManualClock {
  if (!Number.isFinite(start)) throw new RangeError(`start must be a finite number, got ${start}`)
  let now = start
  let order = 0
  const live = new Map<TimerHandle, Timer>()
  // A binary min-heap on (at, order). Cleared timers stay in it until they surface (lazy delete).
  const heap: Timer[] = []

  const before = (x: Timer, y: Timer): boolean => x.at < y.at || (x.at === y.at && x.order < y.order)
  const push = (timer: Timer): void => {
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }
  const pop = (): void => {
    const last = heap.pop()!
    if (heap.length === 0) return
    heap[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < heap.length && before(heap[l]!, heap[m]!)) m = l
      if (r < heap.length && before(heap[r]!, heap[m]!)) m = r
      if (m === i) break
      ;[heap[i], heap[m]] = [heap[m]!, heap[i]!]
      i = m
    }
  }
  /** The earliest live timer, dropping cleared ones from the top of the heap. */
  const peek = (): Timer | undefined => {
    while (heap.length > 0) {
      const top = heap[0]!
      if (live.get(top.handle) === top) return top
      pop()
    }
    return undefined
  }
  const runTop = (timer: Timer): void => {
    pop()
    live.delete(timer.handle)
    if (timer.at > now) now = timer.at
    timer.callback()
  }
  const runUntil = (target: number): number => {
    let ran = 0
    for (let top = peek(); top !== undefined && top.at <= target; top = peek()) {
      runTop(top)
      ran++
    }
    if (target > now) now = target
    return ran
  }

  return {
    now: () => now,
    setTimeout(callback, ms) {
      const delay = Number.isFinite(ms) && ms > 0 ? ms : 0
      const handle: TimerHandle = Object.freeze({})
      const timer: Timer = { handle, at: now + delay, order: order++, callback }
      live.set(handle, timer)
      push(timer)
      return handle
    },
    clearTimeout(handle) {
      live.delete(handle)
    },
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance(ms) needs ms >= 0, got ${ms}`)
      return runUntil(now + ms)
    },
    advanceTo(time) {
      if (!Number.isFinite(time) || time < now) {
        throw new RangeError(`advanceTo(time) needs a time >= now (${now}), got ${time}`)
      }
      return runUntil(time)
    },
    next() {
      const top = peek()
      if (top === undefined) return false
      runTop(top)
      return true
    },
    runAll(limit = 10_000) {
      let ran = 0
      for (let top = peek(); top !== undefined; top = peek()) {
        if (ran >= limit) throw new RangeError(`runAll() ran ${limit} timers and more are pending`)
        runTop(top)
        ran++
      }
      return ran
    },
    pending: () => live.size,
    nextDeadline: () => peek()?.at,
  }
}
