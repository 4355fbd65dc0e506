/** An opaque timer handle from a {@link Clock}. */
export type TimerHandle = { readonly __timer: true } | object

/**
 * Time, injected so expiry, heartbeats and timeouts are testable with a manual clock.
 * `now()` is milliseconds since the Unix epoch (fractions allowed): the time deadlines are
 * on. `elapsed()` (optional) is milliseconds from an arbitrary origin that never jumps: what
 * durations (heartbeat silence, write timeouts) are measured with, so stepping the wall clock
 * (NTP, a resumed VM) neither hides a dead link nor times out every write. Without it,
 * durations use `now()`.
 */
export interface Clock {
  now(): number
  elapsed?(): number
  setTimeout(callback: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/** The time `clock` measures durations on: its `elapsed()`, else its `now()`. */
export function elapsedOf(clock: Clock): () => number {
  const elapsed = clock.elapsed
  return elapsed === undefined ? () => clock.now() : () => elapsed.call(clock)
}

/** The real clock: `Date.now()` and the runtime's timers (unref'd: they never keep a process alive). */
export const systemClock: Clock = {
  now: () => Date.now(),
  elapsed: () => performance.now(),
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms)
    handle.unref?.()
    return handle
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
}
