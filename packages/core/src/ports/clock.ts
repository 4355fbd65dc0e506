/** An opaque timer handle from a {@link Clock}. */
export type TimerHandle = { readonly __timer: true } | object

/**
 * Time, injected so expiry, heartbeats and timeouts are testable with a manual clock.
 * `now()` is milliseconds since the Unix epoch (fractions allowed).
 */
export interface Clock {
  now(): number
  setTimeout(callback: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/** The real clock: `Date.now()` and the runtime's timers (unref'd: they never keep a process alive). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms)
    handle.unref?.()
    return handle
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
}
