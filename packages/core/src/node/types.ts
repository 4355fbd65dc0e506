import type { Duration } from '../util/duration.js'

/** The states of a clone (S6.1). */
export type StoreStatus = 'connecting' | 'syncing' | 'live' | 'stale' | 'closed'

/** A status change; `error` says why, when trouble caused it. */
export interface StatusChange<S extends string = StoreStatus> {
  readonly status: S
  readonly error?: Error
}

/** One change applied to a clone (S5.1). For `clear`, `key` is `''`. */
export interface Change<T> {
  readonly kind: 'put' | 'remove' | 'expire' | 'clear'
  readonly key: string
  /** The new value, on `put`. */
  readonly value?: T
  /** The value before, when the key had one. */
  readonly previous?: T
  readonly seq: number
}

/** Options of `store.changes()`. */
export interface ChangesOptions {
  /** Only keys starting with this (a `clear` always passes). */
  readonly prefix?: string
  /** Changes buffered before the iterator fails with `OverflowError` (S5.2). Default 10 000. */
  readonly bufferSize?: number
}

/** Options every async call takes. */
export interface CallOptions {
  readonly signal?: AbortSignal
}

/** Options of `put`. */
export interface PutOptions extends CallOptions {
  /** Expiry of this write; `null` for none even if the store has a default (S4.2). */
  readonly expiry?: Duration | null
}

/** Options of `update`. */
export interface UpdateOptions<Op extends string = string> extends PutOptions {
  /** The update operation to run on the master (S3.5). */
  readonly op: Op
}

/** Options of `node.open`. */
export interface OpenOptions<T = unknown, I = T> extends CallOptions {
  /** The schema of the values; its fingerprint must match the master's (S2.2). */
  readonly schema: import('@concord/schema/contract').Schema<T, I>
  /** Open a prefix view: only keys under it (S2.6). */
  readonly prefix?: string
}

/** Options of `node.writer`. */
export interface WriterOptions<T = unknown, I = T> extends CallOptions {
  /** The schema of the values; its fingerprint must match the master's (S2.2). */
  readonly schema: import('@concord/schema/contract').Schema<T, I>
}
