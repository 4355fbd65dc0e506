import {
  ClosedError,
  type CommitOp,
  checkEpochRecord,
  type EpochRecord,
  isConcordError,
  PersistenceError,
  type RecoveredState,
  type SnapshotCursor,
  type StoreBackend,
  type StoredEntry,
} from '@concord/core'
import {
  decodeDeadline,
  decodeEntry,
  decodeNumber,
  encodeDeadline,
  encodeEntry,
  encodeNumber,
} from './entry-codec.js'
import { decodeShortKey, encodeKey, isLongKey, keyAfter, prefixRange } from './key-codec.js'
import type { StoreEnvironment } from './store-environment.js'
import { META_COUNT, META_LAST_SEQ } from './store-environment.js'

/** How many deadline records `deadlines()` reads per chunk: each chunk is one short read. */
const DEADLINE_CHUNK = 4096

/** A validated, encoded commit op: what the write transaction applies. */
type PreparedOp =
  | {
      readonly kind: 'put'
      readonly key: Buffer
      readonly record: Buffer
      readonly deadline: Buffer | undefined
    }
  | { readonly kind: 'remove'; readonly key: Buffer }
  | { readonly kind: 'clear' }

/** Hooks the owning persistence gives a backend. */
export interface BackendOwner {
  /** Called once the backend has closed (its environment and lock released). */
  forget(backend: LmdbStoreBackend): void
}

/**
 * The backend of one store over its LMDB environment, as opened by
 * {@link LmdbPersistence.open}. Reads go to LMDB every time (no JS-side copy of the store),
 * so the store may be larger than the heap. Each `commit` is one LMDB write transaction.
 *
 * Buffers: `commit` encodes (copies) every value when it is called. Entries returned by `get`
 * and cursors are fresh copies the caller owns.
 */
export class LmdbStoreBackend implements StoreBackend {
  readonly recovered: RecoveredState
  #state: 'open' | 'closing' | 'closed' = 'open'
  readonly #pending = new Set<Promise<unknown>>()
  readonly #cursors = new Set<LmdbSnapshotCursor>()
  #closing: Promise<void> | undefined
  /** The last committed seq, to refuse a batch that does not follow it before any I/O. */
  #lastSeq: number
  #epochs: number

  /** @internal Use {@link LmdbPersistence.open}. */
  constructor(
    private readonly owner: BackendOwner,
    /** The store's name. */
    readonly store: string,
    private readonly env: StoreEnvironment,
    recovered: RecoveredState,
  ) {
    this.recovered = Object.freeze({
      epochs: Object.freeze([...recovered.epochs]),
      lastSeq: recovered.lastSeq,
    })
    this.#lastSeq = recovered.lastSeq
    this.#epochs = recovered.epochs.length
  }

  /** The file holding the store. */
  get path(): string {
    return this.env.files.data
  }

  /**
   * The committed entry of `key`, read from LMDB now (a B-tree lookup in the memory map; a
   * page fault when its page is not resident). Undefined for a key that cannot be stored.
   */
  get(key: string): StoredEntry | undefined {
    this.assertReadable()
    let stored: ReturnType<typeof encodeKey>
    try {
      stored = encodeKey(key)
    } catch {
      return undefined
    }
    return this.read(() => {
      const raw = this.env.entries.getBinary(stored.bytes)
      if (raw === undefined) return undefined
      const decoded = decodeEntry(raw)
      return decoded.key === undefined || decoded.key === key ? decoded.entry : undefined
    })
  }

  /** The number of committed entries: a counter kept in the meta db by every commit. O(1). */
  size(): number {
    this.assertReadable()
    return this.read(() => decodeNumber(this.env.meta.getBinaryFast(META_COUNT)) ?? 0)
  }

  /**
   * Every committed deadline, from the deadline index (never the entries), read lazily in
   * chunks of 4096 records, each chunk one short read: iterating across event-loop turns
   * holds no read transaction. Commits made while iterating may or may not show; a key
   * present throughout is yielded exactly once. Iterable more than once.
   */
  deadlines(): Iterable<readonly [key: string, deadline: number]> {
    this.assertReadable()
    return { [Symbol.iterator]: () => new DeadlineIterator(this) }
  }

  /**
   * @internal Up to {@link DEADLINE_CHUNK} deadline records after the stored key `after`
   * (from the start when undefined), and the stored key of the last one.
   */
  deadlineChunk(after: Buffer | undefined): {
    records: Array<readonly [string, number]>
    last: Buffer | undefined
  } {
    this.assertReadable()
    return this.read(() => {
      const records: Array<readonly [string, number]> = []
      let last: Buffer | undefined
      const range = this.env.deadlines.getRange({
        ...(after === undefined ? {} : { start: after, exclusiveStart: true }),
        limit: DEADLINE_CHUNK,
      })
      for (const { key, value } of range) {
        const record = decodeDeadline(value)
        records.push([record.key ?? decodeShortKey(key), record.deadline])
        last = key
      }
      return { records, last }
    })
  }

  /**
   * A cursor over the committed entries whose key starts with `prefix`, in the byte order of
   * their UTF-8 (code point order). It remembers only the last key it returned: each `next`
   * is one short read starting after it, so the cursor holds no read transaction between
   * calls (a long-lived one would keep LMDB from reusing pages) and survives any number of
   * commits. Keys removed since are not returned, rewritten keys come with their new value,
   * keys added after the position may be returned; no key is returned twice.
   */
  snapshot(prefix: string): SnapshotCursor {
    this.assertReadable()
    if (typeof prefix !== 'string') throw new TypeError('prefix must be a string')
    const cursor = new LmdbSnapshotCursor(this, prefix)
    this.#cursors.add(cursor)
    return cursor
  }

  /** Appends `record` to the epoch history in its own write transaction. */
  beginEpoch(record: EpochRecord): Promise<void> {
    const refused = this.refusal()
    if (refused !== undefined) return Promise.reject(refused)
    let checked: EpochRecord
    try {
      checked = checkEpochRecord(record)
    } catch (error) {
      return Promise.reject(error)
    }
    const index = this.#epochs++
    const bytes = Buffer.from(JSON.stringify(checked))
    return this.#write('beginEpoch', () => {
      this.env.epochs.putSync(index, bytes)
    }).catch((error: unknown) => {
      this.#epochs = index
      throw error
    })
  }

  /**
   * Applies `ops` in one LMDB write transaction (an error in the middle rolls all of it
   * back). Resolves once LMDB committed it: after the fsync in `'sync'` mode (committed on
   * lmdb-js's write thread), once it is in the OS page cache in `'relaxed'` mode (committed
   * synchronously within this call).
   * Rejects with `RangeError` (applying nothing) when the seqs do not strictly increase from
   * the store's last seq, `TypeError` for a malformed op, `PersistenceError` when LMDB fails.
   */
  commit(ops: readonly CommitOp[]): Promise<void> {
    const refused = this.refusal()
    if (refused !== undefined) return Promise.reject(refused)
    let prepared: PreparedOp[]
    let last: number
    try {
      ;({ prepared, last } = this.#prepare(ops))
    } catch (error) {
      return Promise.reject(error)
    }
    if (prepared.length === 0) return Promise.resolve()
    const first = ops[0]!.seq
    return this.#write('commit', () => this.#apply(prepared, first, last)).then(() => {
      this.#lastSeq = last
    })
  }

  /** Lets accepted writes finish, closes every cursor, the environment and the lock. Idempotent. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#state = 'closing'
    this.#closing = (async () => {
      await Promise.allSettled([...this.#pending])
      this.#state = 'closed'
      for (const cursor of this.#cursors) cursor.close()
      try {
        await this.env.close()
      } finally {
        this.owner.forget(this)
      }
    })()
    return this.#closing
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** @internal Throws `ClosedError` once the backend is closed. */
  assertReadable(): void {
    if (this.#state === 'closed') throw new ClosedError(`store '${this.store}' backend is closed`)
  }

  /** @internal Runs a read, turning LMDB and decoding failures into `PersistenceError`. */
  read<T>(body: () => T): T {
    try {
      return body()
    } catch (error) {
      if (isConcordError(error)) throw error
      throw new PersistenceError(
        `reading store '${this.store}' (${this.env.files.data}) failed: ${(error as Error)?.message ?? error}`,
        { cause: error },
      )
    }
  }

  /** @internal The environment, for cursors. */
  get environment(): StoreEnvironment {
    return this.env
  }

  /** @internal */
  dropCursor(cursor: LmdbSnapshotCursor): void {
    this.#cursors.delete(cursor)
  }

  private refusal(): Error | undefined {
    if (this.#state !== 'open') return new ClosedError(`store '${this.store}' backend is closed`)
    return undefined
  }

  /** Validates and encodes a batch (copying values) without touching LMDB. */
  #prepare(ops: readonly CommitOp[]): { prepared: PreparedOp[]; last: number } {
    if (!Array.isArray(ops)) throw new TypeError('commit() needs an array of ops')
    let last = this.#lastSeq
    const prepared: PreparedOp[] = []
    for (const op of ops) {
      if (!Number.isSafeInteger(op?.seq) || op.seq <= last) {
        throw new RangeError(`commit: seq ${op?.seq} does not follow ${last} in store '${this.store}'`)
      }
      last = op.seq
      switch (op.kind) {
        case 'put': {
          if (!(op.value instanceof Uint8Array)) throw new TypeError('put op needs a Uint8Array value')
          if (op.deadline !== undefined && !Number.isFinite(op.deadline)) {
            throw new TypeError(`put op deadline must be a finite number, got ${op.deadline}`)
          }
          const key = encodeKey(op.key)
          prepared.push({
            kind: 'put',
            key: key.bytes,
            record: encodeEntry(op.value, op.seq, op.deadline, key.full),
            deadline: op.deadline === undefined ? undefined : encodeDeadline(op.deadline, key.full),
          })
          break
        }
        case 'remove':
          prepared.push({ kind: 'remove', key: encodeKey(op.key).bytes })
          break
        case 'clear':
          prepared.push({ kind: 'clear' })
          break
        default:
          throw new TypeError(`unknown commit op kind '${(op as { kind: unknown }).kind}'`)
      }
    }
    return { prepared, last }
  }

  /**
   * The body of a commit's write transaction. Throwing aborts all of it. The entry count is
   * LMDB's own (`mdb_stat` inside the transaction), copied into the meta db so `size()` and
   * the check at open read it in O(1).
   */
  #apply(prepared: readonly PreparedOp[], first: number, last: number): void {
    const { entries, deadlines, meta } = this.env
    const storedLast = decodeNumber(meta.getBinary(META_LAST_SEQ)) ?? 0
    if (first <= storedLast) {
      throw new RangeError(`commit: seq ${first} does not follow ${storedLast} in store '${this.store}'`)
    }
    for (const op of prepared) {
      switch (op.kind) {
        case 'put':
          entries.putSync(op.key, op.record)
          if (op.deadline === undefined) deadlines.removeSync(op.key)
          else deadlines.putSync(op.key, op.deadline)
          break
        case 'remove':
          entries.removeSync(op.key)
          deadlines.removeSync(op.key)
          break
        case 'clear':
          entries.clearSync()
          deadlines.clearSync()
          break
      }
    }
    meta.putSync(META_COUNT, encodeNumber(this.env.entryCount(entries)))
    meta.putSync(META_LAST_SEQ, encodeNumber(last))
  }

  /** Runs `body` in a write transaction of its own and tracks it until it settles. */
  #write(what: string, body: () => void): Promise<void> {
    const done = this.env.transact(body).catch((error: unknown) => {
      if (error instanceof RangeError || error instanceof TypeError) throw error
      throw new PersistenceError(
        `${what} of store '${this.store}' failed, nothing applied: ${(error as Error)?.message ?? error}`,
        { cause: error },
      )
    })
    this.#pending.add(done)
    const untrack = () => this.#pending.delete(done)
    done.then(untrack, untrack)
    return done
  }
}

/** Walks the deadline index chunk by chunk; see {@link LmdbStoreBackend.deadlines}. */
class DeadlineIterator implements Iterator<readonly [string, number]> {
  #records: Array<readonly [string, number]> = []
  #index = 0
  #after: Buffer | undefined
  #done = false

  constructor(private readonly backend: LmdbStoreBackend) {}

  next(): IteratorResult<readonly [string, number]> {
    while (this.#index >= this.#records.length) {
      if (this.#done) return { done: true, value: undefined }
      const chunk = this.backend.deadlineChunk(this.#after)
      this.#records = chunk.records
      this.#index = 0
      this.#after = chunk.last
      this.#done = chunk.records.length < DEADLINE_CHUNK
    }
    return { done: false, value: this.#records[this.#index++]! }
  }

  [Symbol.iterator](): this {
    return this
  }
}

/**
 * A cursor that remembers the last stored key it returned; see {@link LmdbStoreBackend.snapshot}.
 */
class LmdbSnapshotCursor implements SnapshotCursor {
  #closed = false
  #done = false
  /** The stored key to resume after (exclusive); undefined before the first call. */
  #after: Buffer | undefined
  readonly #start: Buffer
  readonly #end: Buffer
  /** Set when the prefix is longer than a stored key keeps: each key is then checked. */
  readonly #check: string | undefined

  constructor(
    private readonly backend: LmdbStoreBackend,
    prefix: string,
  ) {
    const range = prefixRange(prefix)
    this.#start = range.start
    this.#end = range.end
    this.#check = range.exact ? undefined : prefix
  }

  /**
   * Up to `maxEntries` entries whose value bytes together stay within `maxBytes`; the first
   * entry is returned whatever its size. An empty array means the end. Throws `ClosedError`
   * after `close()` (or the backend's), `RangeError` for a bad `maxEntries`.
   */
  next(maxEntries: number, maxBytes: number): Array<readonly [key: string, entry: StoredEntry]> {
    if (this.#closed) throw new ClosedError('snapshot cursor is closed')
    this.backend.assertReadable()
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be an integer >= 1, got ${maxEntries}`)
    }
    if (this.#done) return []
    const env = this.backend.environment
    return this.backend.read(() => {
      const out: Array<readonly [string, StoredEntry]> = []
      let bytes = 0
      const range = env.entries.getRange({
        start: this.#after === undefined ? this.#start : keyAfter(this.#after),
        end: this.#end,
        // One more than needed tells whether the range ended; unbounded when keys are filtered.
        ...(this.#check === undefined ? { limit: maxEntries + 1 } : {}),
      })
      let exhausted = true
      for (const { key: stored, value } of range) {
        const { entry, key: full } = decodeEntry(value)
        const key = full ?? (isLongKey(stored) ? undefined : decodeShortKey(stored))
        if (key === undefined) throw new RangeError('a long stored key without its full key')
        if (this.#check !== undefined && !key.startsWith(this.#check)) {
          this.#after = stored
          continue
        }
        if (out.length > 0 && (out.length >= maxEntries || bytes + entry.value.byteLength > maxBytes)) {
          exhausted = false
          break
        }
        bytes += entry.value.byteLength
        out.push([key, entry])
        this.#after = stored
      }
      if (exhausted) this.#done = true
      return out
    })
  }

  /** Releases the cursor. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.backend.dropCursor(this)
  }
}
