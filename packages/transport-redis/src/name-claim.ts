import { type Clock, type TimerHandle, UnavailableError } from '@concord/core'
import { noop } from './connection.js'

/**
 * A starting hub's claim on its name, so that of several hubs starting on one name at once
 * exactly one listens (pure bookkeeping: the hub endpoint publishes and receives).
 *
 * A starting hub PSUBSCRIBEs to its request channels first, which include the claims channel,
 * then PUBLISHes a CLAIM with a fresh nonce there. Redis delivers a channel's messages to every
 * subscriber in one order, so every hub that was subscribed when two claims were published sees
 * them in the same order, its own included. Every hub answers every other hub's claim: HELD when
 * it holds the name (listening or closing) or its own claim came back before that one, YIELD
 * otherwise. PUBLISH tells how many subscribers received the claim; the claim wins when its own
 * echo came back and every other receiver answered YIELD. A HELD loses it, and so does silence
 * until the timeout (a receiver that is no hub, or a hub that died meanwhile): listen rejects.
 *
 * Why at most one wins: of two claims, the one published first is seen first by its own hub,
 * which is subscribed when the later one is published (it subscribed before claiming) and so
 * receives it, is counted by its PUBLISH, and answers it HELD. Why one does win when nothing
 * fails: every receiver of the first claim published answers YIELD, since no receiver saw its
 * own claim before it (a hub holding the name from earlier answers HELD, and then it is that
 * hub that keeps it).
 */
export class NameClaim {
  /** Sent with the CLAIM; answers name it. */
  readonly nonce: string
  /** Resolves when the claim won, rejects with `UnavailableError` when it lost. */
  readonly outcome: Promise<void>
  #echoed = false
  #others: number | undefined
  #yields = 0
  #state: 'pending' | 'won' | 'lost' = 'pending'
  #timer: TimerHandle | undefined
  #resolve: () => void = noop
  #reject: (error: Error) => void = noop
  readonly #address: string
  readonly #clock: Clock
  readonly #timeout: number

  /** `timeout`: how long to wait for the answers, in ms of `clock`, once the PUBLISH answered. */
  constructor(nonce: string, address: string, clock: Clock, timeout: number) {
    this.nonce = nonce
    this.#address = address
    this.#clock = clock
    this.#timeout = timeout
    this.outcome = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.outcome.catch(noop)
  }

  /** Pending until it won or lost (or was cancelled: lost). */
  get state(): 'pending' | 'won' | 'lost' {
    return this.#state
  }

  /**
   * How to answer another hub's CLAIM: HELD (true) when this claim won, or is pending and came
   * back already (then the other was published after it); YIELD (false) otherwise.
   */
  holds(): boolean {
    return this.#state === 'won' || (this.#state === 'pending' && this.#echoed)
  }

  /** Our own CLAIM came back through our subscription. */
  echo(): void {
    this.#echoed = true
    this.#check()
  }

  /** The PUBLISH of our CLAIM answered: `receivers` subscribers got it, ourselves included. */
  published(receivers: number): void {
    if (this.#state !== 'pending') return
    this.#others = receivers - 1
    if (this.#others < 0) {
      this.#lose(`cannot listen on ${this.#address}: its subscription to Redis was lost`)
      return
    }
    this.#timer = this.#clock.setTimeout(() => {
      const missing = (this.#others ?? 0) - this.#yields
      this.#lose(
        `cannot tell whether ${this.#address} is free: ${missing} of the ${this.#others} other ` +
          `subscribers of its request channels did not answer within ${this.#timeout} ms`,
      )
    }, this.#timeout)
    this.#check()
  }

  /** Another hub has no objection. */
  yielded(): void {
    this.#yields++
    this.#check()
  }

  /** Another hub holds the name, or claimed it first. */
  held(): void {
    this.#lose(`address ${this.#address} is already in use: a hub of that name listens, or claimed it first`)
  }

  /** Gives up (the start failed or was aborted): the outcome no longer matters. */
  cancel(): void {
    this.#settle('lost')
  }

  #check(): void {
    if (this.#state !== 'pending' || !this.#echoed || this.#others === undefined) return
    if (this.#yields < this.#others) return
    this.#settle('won')
    this.#resolve()
  }

  #lose(message: string): void {
    if (this.#state !== 'pending') return
    this.#settle('lost')
    this.#reject(new UnavailableError(message))
  }

  #settle(state: 'won' | 'lost'): void {
    if (this.#state === 'pending') this.#state = state
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
  }
}
