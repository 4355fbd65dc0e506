/**
 * Tells the silence of a peer from a stall of this process. A periodic check (a heartbeat)
 * that runs more than a period late means this event loop was held up (a long synchronous
 * task, a paused process, a hub recovering after a restart): what peers sent meanwhile waits
 * unread in the transport, behind the timer. Silence counted over the stall would drop links
 * that are fine, so after a stall it counts from when the process resumed. Only an isolated
 * stall earns that grace: a check late again right after a late one keeps the earlier
 * resumption, so a process whose loop stays held up still finds its dead peers (what arrived
 * meanwhile was read between the two checks).
 */
export class StallWatch {
  #lastCheck: number | undefined
  #lastWasLate = false
  #resumedAt = Number.NEGATIVE_INFINITY
  /** Stalls seen so far (checks that ran more than a period late). */
  stalls = 0

  /** Called when the periodic check is (re)armed at `now`: the next check measures from here. */
  armed(now: number): void {
    this.#lastCheck = now
  }

  /**
   * Called at each run of the periodic check of `period` ms, at `now` (elapsed time). Returns
   * the time silence counts from at the earliest: when the process last resumed from a stall
   * (minus infinity when it never stalled).
   */
  check(now: number, period: number): number {
    const late = this.#lastCheck !== undefined && now - this.#lastCheck > 2 * period
    if (late) {
      this.stalls++
      if (!this.#lastWasLate) this.#resumedAt = now
    }
    this.#lastWasLate = late
    this.#lastCheck = now
    return this.#resumedAt
  }
}
