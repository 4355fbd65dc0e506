import type { SnapshotCursor, StoredEntry } from '@concord/core'
import { ClosedError } from '@concord/core'
import type { SqliteStoreBackend } from './sqlite-store-backend.js'

/**
 * A resumable key-range cursor: it remembers the last key it returned and each `next` reads
 * the following keys with one bounded query. It holds no SQLite statement between calls (an
 * open better-sqlite3 iterator would keep the connection busy and block commits), so any
 * number of cursors may stay open across event-loop turns.
 */
export class SqliteCursor implements SnapshotCursor {
  #after: string | undefined
  #closed = false
  /** Set once a call found nothing: the end stays the end. */
  #done = false

  /** @internal Use {@link SqliteStoreBackend.snapshot}. */
  constructor(
    private readonly backend: SqliteStoreBackend,
    /** Keys start with this. */
    readonly prefix: string,
    /** Keys sort before this; undefined for no bound. */
    private readonly end: string | undefined,
  ) {}

  /**
   * Up to `maxEntries` entries whose value bytes together stay within `maxBytes`; the first
   * entry is returned whatever its size, so a call returns at least one entry while any
   * remain. An empty array means the end, and every later call returns one too. Throws `ClosedError` after `close()` or once the
   * backend closed, `RangeError` for bad limits.
   */
  next(maxEntries: number, maxBytes: number): Array<readonly [key: string, entry: StoredEntry]> {
    if (this.#closed) throw new ClosedError('snapshot cursor is closed')
    this.backend.assertReadable()
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be an integer >= 1, got ${maxEntries}`)
    }
    if (typeof maxBytes !== 'number' || !(maxBytes >= 0)) {
      throw new RangeError(`maxBytes must be a number >= 0, got ${maxBytes}`)
    }
    if (this.#done) return []
    const first = this.#after === undefined
    const batch = this.backend.readRange(this.#after ?? this.prefix, first, this.end, maxEntries, maxBytes)
    const last = batch[batch.length - 1]
    if (last === undefined) this.#done = true
    else this.#after = last[0]
    return batch
  }

  /** Releases the cursor. Idempotent. */
  close(): void {
    this.#closed = true
  }
}
