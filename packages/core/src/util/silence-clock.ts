/**
 * The time heartbeat silence is measured on: elapsed time less the time this process's
 * periodic check fired late. A process that stalls (a long GC pause, a starved CPU, one long
 * turn) fires its timers late, and reads what its peers sent meanwhile only after them: on
 * elapsed time, the check would blame the peers for a silence that was its own. On this
 * time a stall stands still: a peer is silent for as long as this process ran without
 * hearing from it. A real silence is still seen after the same number of periods, however
 * late each check fires: each period counts at least its own length.
 */
export class SilenceClock {
  /** What the check's timer fired late by, in all: left out of {@link now}. */
  #stalled = 0
  /** When the check's timer is due, on elapsed time; undefined when none is armed. */
  #due: number | undefined

  /** Checks that fired more than a period late: the process was held up (see {@link fired}). */
  stalls = 0

  constructor(private readonly elapsed: () => number) {}

  /** The time now, stalls left out. */
  now(): number {
    return this.elapsed() - this.#stalled
  }

  /** The check's timer was set to fire in `ms`. */
  armed(ms: number): void {
    this.#due = this.elapsed() + ms
  }

  /**
   * The check's timer fired: what it was late by is a stall, left out of {@link now} from here
   * on. Counts it in {@link stalls} when it was late by more than `period` (a real hold-up,
   * not a timer's usual jitter).
   */
  fired(period: number): void {
    const due = this.#due
    this.#due = undefined
    if (due === undefined) return
    const late = this.elapsed() - due
    if (late <= 0) return
    this.#stalled += late
    if (late > period) this.stalls++
  }
}
