import type { Schema } from '@concord/schema/contract'
import { ClosedError, UnavailableError } from '../errors.js'
import { MessageType, type Read, type ReadValue } from '../protocol/messages.js'
import { abortableWait, throwIfAborted } from '../util/abort.js'
import { count } from '../util/counters.js'
import { checkName, checkSchema } from '../util/names.js'
import { overPendingBound, type RequestHost } from './request-host.js'
import type { CallOptions } from './types.js'
import { checkKeyToSend } from './writable-store.js'

/** Options of `node.read`. */
export interface ReadOptions<T = unknown, I = T> extends CallOptions {
  /** The schema of the values; its fingerprint must match the master's (S2.2). */
  readonly schema: Schema<T, I>
}

/** What `node.read` found: the key's committed value, or its absence. */
export interface ReadResult<T> {
  /** Whether the key is present (a key holding `undefined` is, in a store whose schema allows it). */
  readonly found: boolean
  /** The value, when found. */
  readonly value: T | undefined
  /**
   * The seq the key was last written at, 0 when absent: what `compareAndSet` expects to
   * replace exactly this state (S3.6).
   */
  readonly seq: number
}

interface PendingRead {
  readonly message: Read
  readonly schema: Schema
  readonly issuedAt: number
  resolve(result: ReadResult<unknown>): void
  reject(error: Error): void
}

/**
 * A node's one-key reads (`node.read`): each is one READ the hub answers with the key's
 * committed value or its absence. A read is idempotent, so one sent on a link that dropped
 * is sent again on the next; it rejects with `UnavailableError` after `writeTimeout` without
 * an answer, like a write (S3.7).
 */
export class KeyReads {
  /** Reads waiting for an answer, by request id, oldest first. */
  readonly #pending = new Map<number, PendingRead>()

  constructor(readonly host: RequestHost) {}

  /** How many reads wait for an answer. */
  get size(): number {
    return this.#pending.size
  }

  /** See `ConcordNode.read`. */
  read<T, I>(name: string, key: string, options: ReadOptions<T, I>): Promise<ReadResult<T>> {
    let message: Read
    try {
      const host = this.host
      if (host.closed()) throw new ClosedError('the node is closed')
      checkName('store', name)
      checkSchema('read', options?.schema)
      throwIfAborted(options.signal)
      checkKeyToSend(key, host.maxValueSize())
      if (host.pending() >= host.maxPending) {
        host.metrics.readsOverLimit++
        throw overPendingBound(host.maxPending)
      }
      message = {
        type: MessageType.READ,
        reqId: host.nextRequestId(),
        store: name,
        fingerprint: options.schema.fingerprint,
        key,
      }
    } catch (error) {
      return Promise.reject(error)
    }
    let result: ReadResult<T> | undefined
    const { promise, waiting } = abortableWait(options.signal, () => {
      this.#pending.delete(message.reqId)
      this.host.unsend(message)
    })
    this.#pending.set(message.reqId, {
      message,
      schema: options.schema as Schema,
      issuedAt: this.host.now(),
      resolve: (found) => {
        result = found as ReadResult<T>
        waiting.resolve()
      },
      reject: waiting.reject,
    })
    if (this.host.ready()) this.host.send(message)
    return promise.then(() => result!)
  }

  /** The hub answered read `reqId`: the value is decoded with the read's schema (a `DecodeError` rejects it). */
  answered(message: ReadValue): void {
    const pending = this.#take(message.reqId)
    if (pending === undefined) return
    let value: unknown
    if (message.value !== null) {
      try {
        value = pending.schema.decode(message.value)
      } catch (error) {
        // Answered, but not with a value this reader can use: an error, not a read.
        this.#failed(error)
        return pending.reject(error as Error)
      }
    }
    this.host.metrics.reads++
    pending.resolve(
      message.value === null
        ? { found: false, value: undefined, seq: 0 }
        : { found: true, value, seq: message.seq },
    )
  }

  /** The hub refused read `reqId` (unknown store, no `read` permission, another schema, …). */
  refused(reqId: number, error: Error): void {
    const pending = this.#take(reqId)
    if (pending === undefined) return
    this.#failed(error)
    pending.reject(error)
  }

  /**
   * A new link is ready: every read without an answer is sent (again) on it. A read made
   * before the link came up was checked against the transport's frame limit alone; the hub's
   * may be smaller, and a key over it rejects with `TooLargeError` rather than go in a frame
   * the hub refuses whole (with what travels beside it), again on every link.
   */
  welcome(): void {
    const limit = this.host.maxValueSize()
    for (const [reqId, pending] of this.#pending) {
      try {
        checkKeyToSend(pending.message.key, limit)
      } catch (error) {
        this.#pending.delete(reqId)
        this.#failed(error)
        pending.reject(error as Error)
        continue
      }
      this.host.send(pending.message)
    }
  }

  /** Reads older than `cutoff` reject with `UnavailableError` (S3.7). */
  expire(cutoff: number, writeTimeout: number): void {
    for (const [reqId, pending] of this.#pending) {
      if (pending.issuedAt > cutoff) break
      this.#pending.delete(reqId)
      const error = new UnavailableError(`no answer from the hub within ${writeTimeout} ms`)
      this.#failed(error)
      pending.reject(error)
    }
  }

  /** The node closes: every read waiting rejects with `error`. */
  close(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error)
    this.#pending.clear()
  }

  #failed(error: unknown): void {
    count(this.host.metrics.readErrors, (error as { code?: string }).code ?? 'ERR_UNKNOWN')
  }

  #take(reqId: number): PendingRead | undefined {
    const pending = this.#pending.get(reqId)
    if (pending !== undefined) this.#pending.delete(reqId)
    return pending
  }
}
