import type { Schema } from '@concord/schema/contract'
import { ClosedError } from '../errors.js'
import { abortableWait, type Waiting } from '../util/abort.js'
import { type AppliedWaiter, WritableStore, type WriteHost } from './writable-store.js'

/** What a write-only handle needs from its node. */
export interface WriterHost extends WriteHost {
  /** Asks the hub to check the handle (store, `write` permission, schema fingerprint); returns the request id. */
  sendWriter(writer: StoreWriter<unknown, unknown>): number
  /** The handle closed: its pending writes reject with `ClosedError`, and the node forgets it. */
  detachWriter(writer: StoreWriter<unknown, unknown>): void
}

/**
 * A write-only handle to a store: the write API of a clone (`put`, `remove`, `update`,
 * `compareAndSet`, `clear`), checked locally the same way (S3.1), without a replica. The hub
 * sends it no snapshot and no broadcasts; it needs only the `write` permission (S8.2). Get
 * one from `node.writer()`.
 *
 * Each write's promise resolves on the master's acknowledgement, to the mutation's seq:
 * there is no clone to apply it to (see the core README, *Write-only handles*).
 */
export class StoreWriter<T = unknown, I = T> extends WritableStore<T, I> implements AsyncDisposable {
  #closed = false
  /** Why the hub refused this handle on the latest link (permission revoked, another schema). */
  #refusal: Error | undefined
  #links = 0
  #ready: Waiting | undefined

  /** @internal Built by `node.writer`. */
  constructor(
    name: string,
    schema: Schema<T, I>,
    override readonly host: WriterHost,
  ) {
    super(name, schema, '', host)
  }

  /** Whether `close()` was called (or the hub refused the handle when it was made). */
  get closed(): boolean {
    return this.#closed
  }

  /** @internal */
  protected _unusable(): Error | undefined {
    if (this.#closed) return new ClosedError(`the writer of store '${this.name}' is closed`)
    return this.#refusal
  }

  /** @internal How many times the link came up for this handle. */
  override get _links(): number {
    return this.#links
  }

  /** @internal A writer is done with a write once the master acknowledged it (S3.2). */
  override _afterApplied(waiter: AppliedWaiter): void {
    if (this.#closed) waiter.failed(new ClosedError(`the writer of store '${this.name}' is closed`))
    else waiter.applied()
  }

  /** @internal The link to the hub is up (again): the hub checks the handle on it. */
  _linkUp(): number | undefined {
    if (this.#closed) return undefined
    this.#links++
    return this.host.sendWriter(this as StoreWriter<unknown, unknown>)
  }

  /** @internal The hub accepted the handle. */
  _accepted(): void {
    this.#refusal = undefined
    const ready = this.#ready
    this.#ready = undefined
    ready?.resolve()
  }

  /**
   * @internal The hub refused the handle: when it is made, `node.writer()` rejects; on a
   * later link (permission revoked, the hub restarted with another schema), the writes
   * issued from then on reject with the refusal until a link accepts it again.
   */
  _refused(error: Error): void {
    const ready = this.#ready
    if (ready === undefined) {
      this.#refusal = error
      return
    }
    this.#ready = undefined
    ready.reject(error)
    this.#shutdown()
  }

  /** @internal Resolves when the hub first accepted the handle. */
  _whenReady(signal: AbortSignal | undefined): Promise<void> {
    const { promise, waiting } = abortableWait(signal, () => {
      this.#ready = undefined
      this.#shutdown()
    })
    this.#ready = waiting
    return promise
  }

  /**
   * Closes the handle: its pending writes reject with `ClosedError` (S10.1), later ones too.
   * Idempotent.
   */
  async close(): Promise<void> {
    const ready = this.#ready
    this.#ready = undefined
    ready?.reject(new ClosedError(`the writer of store '${this.name}' is closed`))
    this.#shutdown()
  }

  #shutdown(): void {
    if (this.#closed) return
    this.#closed = true
    this.host.detachWriter(this as StoreWriter<unknown, unknown>)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}
