import { ClosedError, OverflowError } from '../errors.js'
import { BoundedQueue } from '../util/bounded-queue.js'

/** An event delivered to a subscriber (S7). */
export interface ConcordEvent<P = unknown> {
  readonly topic: string
  readonly payload: P
  /** The group it was published to, if any (S7.5). */
  readonly group?: string
}

/** What a subscriber does when its buffer is full (S7.6). */
export type EventOverflowPolicy = 'drop-oldest' | 'disconnect'

/** Options of `node.subscribe`. */
export interface SubscribeOptions {
  /** Events buffered for a slow reader. Default 10 000. */
  readonly bufferSize?: number
  /**
   * `drop-oldest` (default): the oldest buffered event is dropped and counted;
   * `disconnect`: the subscription ends with an `OverflowError`.
   */
  readonly overflow?: EventOverflowPolicy
  readonly signal?: AbortSignal
}

/** What a node sees of its subscriptions (method syntax keeps it variance-free). */
export interface Subscriber {
  readonly prefix: string
  lost: number
  _ready(): void
  _push(event: ConcordEvent): boolean
  _end(error?: Error): void
}

/**
 * A subscription: an async iterable of events whose topic matches its prefix on whole
 * segments (S7.1). Leaving a `for await` early unsubscribes. `closed` resolves (never
 * rejects) when it ends, with the error that ended it, if any.
 */
export class EventSubscription<P = unknown>
  implements Subscriber, AsyncIterableIterator<ConcordEvent<P>>, AsyncDisposable
{
  /** Events lost upstream (a full queue at the hub or on the link), detected by sequence numbers. */
  lost = 0
  /**
   * Resolves once the hub granted the subscription: events published from then on arrive.
   * Rejects if it ends before: with the hub's refusal (`ForbiddenError`, …), `AbortedError`,
   * or `ClosedError` when it was stopped first. Never reported as an unhandled rejection.
   */
  readonly ready: Promise<void>
  /** Resolves (never rejects) when the subscription ends, with the error that ended it, if any. */
  readonly closed: Promise<Error | undefined>
  readonly #queue: BoundedQueue<ConcordEvent<P>>
  #resolveReady!: () => void
  #rejectReady!: (error: Error) => void
  #resolveClosed!: (error: Error | undefined) => void
  #ended = false

  /** @internal Built by `node.subscribe`. */
  constructor(
    readonly prefix: string,
    options: SubscribeOptions,
    private readonly onEnd: (subscription: Subscriber) => void,
    /** Told of each event the `drop-oldest` policy drops, and of an overflow that ends it (the node counts them). */
    private readonly overflow?: { readonly dropped: () => void; readonly ended: () => void },
  ) {
    this.#queue = new BoundedQueue(
      options.bufferSize ?? 10_000,
      options.overflow === 'disconnect' ? 'error' : 'drop-oldest',
      () => this.#finish(undefined),
      overflow?.dropped,
    )
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    this.ready.catch(() => {})
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve
    })
  }

  /** Events dropped because this subscriber fell behind (`drop-oldest`), plus {@link lost}. */
  get dropped(): number {
    return this.#queue.dropped + this.lost
  }

  /** @internal */
  _ready(): void {
    this.#resolveReady()
  }

  /** @internal Returns false when the subscription ended (overflow with `disconnect`). */
  _push(event: ConcordEvent): boolean {
    if (this.#queue.push(event as ConcordEvent<P>)) return true
    if (this.#queue.ended && !this.#ended) this.#finish(undefined, true)
    return false
  }

  /** @internal Ends the subscription, with `error` if it failed. */
  _end(error?: Error): void {
    this.#queue.end(error)
    this.#finish(error)
  }

  #finish(error: Error | undefined, overflowed = false): void {
    if (this.#ended) return
    this.#ended = true
    if (overflowed) this.overflow?.ended()
    const reason = overflowed ? new OverflowError(`subscriber of '${this.prefix}' fell behind`) : error
    // Settles `ready` if the hub had not granted the subscription yet (a no-op after).
    this.#rejectReady(
      reason ?? new ClosedError(`the subscription to '${this.prefix}' ended before the hub granted it`),
    )
    this.onEnd(this)
    this.#resolveClosed(reason)
  }

  /** Stops the subscription. Idempotent. */
  unsubscribe(): void {
    void this.#queue.return()
  }

  next(): Promise<IteratorResult<ConcordEvent<P>>> {
    return this.#queue.next()
  }

  return(): Promise<IteratorResult<ConcordEvent<P>>> {
    return this.#queue.return()
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.unsubscribe()
  }
}
