import { OverflowError } from '../errors.js'

/** What a {@link BoundedQueue} does when a push finds it full. */
export type OverflowPolicy = 'error' | 'drop-oldest'

/**
 * A bounded buffer read as an async iterator: the producer pushes synchronously and never
 * waits; the consumer pulls. When full, `'error'` ends the iteration with an
 * {@link OverflowError} (after the buffered items), `'drop-oldest'` discards the oldest item
 * and counts it (and runs `onDrop`). Leaving a `for await` early (or calling `return()`)
 * runs `onClose`.
 */
export class BoundedQueue<T> implements AsyncIterableIterator<T> {
  /** Items discarded by the `'drop-oldest'` policy. */
  dropped = 0
  #items: T[] = []
  #head = 0
  #waiter: ((result: IteratorResult<T>) => void) | undefined
  #failWaiter: ((error: unknown) => void) | undefined
  #ended = false
  #closed = false
  #error: unknown
  readonly #limit: number
  readonly #policy: OverflowPolicy
  readonly #onClose: (() => void) | undefined
  readonly #onDrop: (() => void) | undefined

  constructor(limit: number, policy: OverflowPolicy, onClose?: () => void, onDrop?: () => void) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`queue limit must be a positive integer, got ${limit}`)
    this.#limit = limit
    this.#policy = policy
    this.#onClose = onClose
    this.#onDrop = onDrop
  }

  /** Items waiting to be read. */
  get size(): number {
    return this.#items.length - this.#head
  }

  /** True once the iteration ended (by `end`, overflow or `return`). */
  get ended(): boolean {
    return this.#ended
  }

  /** Adds an item. Returns false when it was not accepted (ended, or overflowed with `'error'`). */
  push(item: T): boolean {
    if (this.#ended) return false
    const waiter = this.#waiter
    if (waiter !== undefined) {
      this.#waiter = undefined
      this.#failWaiter = undefined
      waiter({ value: item, done: false })
      return true
    }
    if (this.size >= this.#limit) {
      if (this.#policy === 'error') {
        this.end(new OverflowError(`consumer fell behind: more than ${this.#limit} items buffered`))
        return false
      }
      this.#items[this.#head] = undefined as T
      this.#head++
      this.dropped++
      this.#onDrop?.()
      this.#compact()
    }
    this.#items.push(item)
    return true
  }

  /** Drops the consumed front of the array once it is most of it (memory stays bounded). */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
  }

  /** Ends the iteration after the buffered items; with `error`, the iterator then throws it. */
  end(error?: unknown): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = error
    if (this.#waiter !== undefined && this.size === 0) {
      const waiter = this.#waiter
      const fail = this.#failWaiter!
      this.#waiter = undefined
      this.#failWaiter = undefined
      if (error === undefined) waiter({ value: undefined, done: true })
      else fail(error)
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.size > 0) {
      const value = this.#items[this.#head]!
      this.#items[this.#head] = undefined as T
      this.#head++
      this.#compact()
      return Promise.resolve({ value, done: false })
    }
    if (this.#ended) {
      if (this.#error !== undefined) {
        const error = this.#error
        this.#error = undefined
        return Promise.reject(error)
      }
      return Promise.resolve({ value: undefined, done: true })
    }
    return new Promise((resolve, reject) => {
      this.#waiter = resolve
      this.#failWaiter = reject
    })
  }

  return(): Promise<IteratorResult<T>> {
    this.#ended = true
    this.#error = undefined
    this.#items = []
    this.#head = 0
    if (this.#waiter !== undefined) {
      this.#waiter({ value: undefined, done: true })
      this.#waiter = undefined
      this.#failWaiter = undefined
    }
    if (!this.#closed) {
      this.#closed = true
      this.#onClose?.()
    }
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
