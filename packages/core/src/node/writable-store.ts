import type { Schema } from '@concord/schema/contract'
import { OutOfViewError, TooLargeError, ValidationError } from '../errors.js'
import { encodeDelta } from '../protocol/dynamic.js'
import { WriteKind } from '../protocol/messages.js'
import { throwIfAborted } from '../util/abort.js'
import { toMillis } from '../util/duration.js'
import { keyProblem } from '../util/names.js'
import { sizeOverLimit } from '../util/utf8-size.js'
import type { CallOptions, PutOptions, UpdateOptions } from './types.js'

/** The master's answer to a write. */
export interface WriteAck {
  readonly seq: number
  readonly applied: boolean
}

/** A write waiting for its handle to be done with the seq the master gave it (S3.2). */
export interface AppliedWaiter {
  readonly seq: number
  /**
   * Set by the node for a write's waiter: the link (count of this handle's links up) on
   * which the master acknowledged `seq`. A master of another epoch that restarted below it
   * does not have that write.
   */
  ackedOnLink?: number
  /**
   * Set by the node for a write the master answered: how long the node had been without a
   * link to its hub, in all, at the answer. Once it has been without one for `writeTimeout`
   * more, the write stops waiting (see `Clone._expireAnswered`); a waiter without it
   * (`reached`) waits as long as it takes.
   */
  downAt?: number
  /** The key a put or compare-and-set waiting here wrote: a store restarted without it shows an older write of it. */
  readonly writtenKey?: string
  applied(): void
  failed(error: Error): void
}

/** What a node needs of a handle that writes: a clone, or a write-only handle. */
export interface WriteTarget {
  readonly name: string
  /** How many times the handle's link came up: tags a write's acknowledgement (see {@link AppliedWaiter}). */
  readonly _links: number
  /** Settles `waiter` once the handle is done with its seq: a clone once it applied it, a writer at once. */
  _afterApplied(waiter: AppliedWaiter): void
}

/** What a handle that writes needs from its node. */
export interface WriteHost {
  /** Submits a write; resolves with the master's ack (before a clone applied it). */
  submitWrite<R>(
    target: WriteTarget,
    kind: number,
    key: string,
    value: Uint8Array | null,
    expiry: number | null,
    op: string | null,
    expectedSeq: number | null,
    signal: AbortSignal | undefined,
    result: (ack: WriteAck) => R,
  ): Promise<R>
  /** The largest value a write may carry, in bytes (the master may allow less). */
  maxValueSize(): number
}

const seqOf = (ack: WriteAck): number => ack.seq
const insertedOf = (ack: WriteAck): boolean => ack.applied

/**
 * The write API of a store handle (S3): checked locally (S3.1), then sent to the master.
 * A clone ({@link Store}) and a write-only handle ({@link StoreWriter}) share it, and differ
 * only in when a write's promise settles.
 */
export abstract class WritableStore<T = unknown, I = T> implements WriteTarget {
  constructor(
    readonly name: string,
    readonly schema: Schema<T, I>,
    /** The prefix view, `''` for the whole store: writes outside it are refused (S2.6). */
    readonly prefix: string,
    readonly host: WriteHost,
  ) {}

  /** @internal */
  abstract get _links(): number
  /** @internal */
  abstract _afterApplied(waiter: AppliedWaiter): void
  /** Why the handle takes no write now (closed, refused), or undefined. */
  protected abstract _unusable(): Error | undefined

  /** Puts `value` at `key`; resolves to the mutation's seq (S3.2). */
  put(key: string, value: I, options: PutOptions = {}): Promise<number> {
    return this.#write(WriteKind.PUT, key, this.#encode(value), options, null, null, seqOf)
  }

  /** Removes `key`; resolves to the seq at which it is gone. */
  remove(key: string, options: CallOptions = {}): Promise<number> {
    return this.#write(WriteKind.REMOVE, key, null, options, null, null, seqOf)
  }

  /**
   * Runs the update operation `op` on the master (S3.5). Resolves to the seq, or for
   * `putIfAbsent` to whether it inserted.
   */
  update(key: string, delta: unknown, options: UpdateOptions<'putIfAbsent'>): Promise<boolean>
  update(key: string, delta: unknown, options: UpdateOptions): Promise<number>
  update(key: string, delta: unknown, options: UpdateOptions): Promise<number | boolean> {
    let bytes: Uint8Array
    try {
      bytes = encodeDelta(delta)
    } catch (error) {
      if (error instanceof ValidationError) return Promise.reject(error)
      return Promise.reject(
        new ValidationError([{ path: '', code: 'type', message: (error as Error).message }], {
          context: 'invalid delta',
        }),
      )
    }
    if (typeof options?.op !== 'string') return Promise.reject(new TypeError('update needs { op }'))
    return this.#write<number | boolean>(
      WriteKind.UPDATE,
      key,
      bytes,
      options,
      options.op,
      null,
      options.op === 'putIfAbsent' ? insertedOf : seqOf,
    )
  }

  /** Puts only if `key` was last written at `expectedSeq` (0: absent); else rejects with `ConflictError` (S3.6). */
  compareAndSet(key: string, expectedSeq: number, value: I, options: PutOptions = {}): Promise<number> {
    if (!Number.isSafeInteger(expectedSeq) || expectedSeq < 0) {
      return Promise.reject(
        new RangeError(`expectedSeq must be a seq (a non-negative integer), got ${expectedSeq}`),
      )
    }
    return this.#write(WriteKind.CAS, key, this.#encode(value), options, null, expectedSeq, seqOf)
  }

  /**
   * Removes every entry of the store. A prefix view may not: its clear would reach keys
   * outside the view, so it rejects with `OutOfViewError` (S2.6).
   */
  clear(options: CallOptions = {}): Promise<number> {
    if (this.prefix !== '') {
      return Promise.reject(
        new OutOfViewError(`a prefix view ('${this.prefix}') cannot clear the whole store`),
      )
    }
    return this.#write(WriteKind.CLEAR, '', null, options, null, null, seqOf)
  }

  #encode(value: I): Uint8Array | ValidationError {
    try {
      // Transient: the bytes live until the master acknowledged the write (the frame copies them).
      return this.schema.encodeTransient?.(value) ?? this.schema.encode(value)
    } catch (error) {
      if (error instanceof ValidationError) return error
      return new ValidationError([{ path: '', code: 'type', message: (error as Error).message }])
    }
  }

  /**
   * Checks a write locally (S3.1) and hands it to the node. One promise per write: the node
   * settles it once the master acknowledged and the handle is done with the seq (S3.2).
   */
  #write<R>(
    kind: number,
    key: string,
    value: Uint8Array | ValidationError | null,
    options: PutOptions,
    op: string | null,
    expectedSeq: number | null,
    result: (ack: WriteAck) => R,
  ): Promise<R> {
    try {
      const unusable = this._unusable()
      if (unusable !== undefined) throw unusable
      throwIfAborted(options.signal)
      const limit = this.host.maxValueSize()
      checkKeyToSend(key, limit)
      if (value instanceof ValidationError) throw value
      if (!key.startsWith(this.prefix)) {
        throw new OutOfViewError(`'${key}' is outside this clone's view '${this.prefix}'`)
      }
      if (value !== null && value.byteLength > limit) {
        throw new TooLargeError(
          `value of ${value.byteLength} bytes exceeds what a node sends, ${limit} bytes (a quarter of its maxFrameSize)`,
        )
      }
      const expiry =
        options.expiry === undefined ? null : options.expiry === null ? -1 : toMillis(options.expiry)
      return this.host.submitWrite(this, kind, key, value, expiry, op, expectedSeq, options.signal, result)
    } catch (error) {
      return Promise.reject(error)
    }
  }
}

/**
 * Throws what a key that cannot be sent is refused with, before anything is sent: `TypeError`
 * for a key that is not a string, `ValidationError` for one with a lone surrogate (it would
 * arrive as another key), `TooLargeError` for one over `limit` bytes as UTF-8 (it travels in
 * one frame with its value: past the limit the frame would be refused, and everything queued
 * with it would wait for nothing).
 */
export function checkKeyToSend(key: string, limit: number): void {
  if (typeof key !== 'string') throw new TypeError('keys are strings')
  const badKey = keyProblem(key)
  if (badKey !== undefined) throw badKey
  const keySize = sizeOverLimit(key, 0, limit)
  if (keySize !== undefined) {
    throw new TooLargeError(
      `key of ${keySize} bytes exceeds what a node sends, ${limit} bytes (a quarter of its maxFrameSize)`,
    )
  }
}
