/** What a persistence adapter can do. The conformance suite picks its tests from this. */
export interface PersistenceCapabilities {
  /** Short name, e.g. `memory`, `sqlite`, `lmdb`. */
  readonly name: string
  /** True when committed data survives the process (a file); false for memory. */
  readonly durable: boolean
  /**
   * True when the adapter can simulate a crash for tests (`crash()`), losing exactly what
   * was not committed yet.
   */
  readonly crashable: boolean
  /** True when reads come from disk, so a store may be larger than the hub's heap. */
  readonly largerThanMemory: boolean
}

/** One stored entry. */
export interface StoredEntry {
  /** Schema-encoded value bytes, exactly as the master broadcast them. */
  readonly value: Uint8Array
  /** The seq of the mutation that last wrote the entry. */
  readonly seq: number
  /** Absolute deadline in ms since the Unix epoch on the master's clock, or undefined (S4.1). */
  readonly deadline: number | undefined
}

/** One run of the master: it drew `epoch` at start, when the store's last seq was `startSeq`. */
export interface EpochRecord {
  readonly epoch: string
  readonly startSeq: number
  /** When it started, ms since the Unix epoch. */
  readonly at: number
}

/**
 * For implementors: refuses a malformed {@link EpochRecord} with `TypeError` (a caller bug,
 * not a persistence failure), so every backend checks `beginEpoch`'s argument the same way.
 */
export function checkEpochRecord(record: EpochRecord): EpochRecord {
  if (typeof record?.epoch !== 'string' || !Number.isFinite(record.startSeq) || !Number.isFinite(record.at)) {
    throw new TypeError('beginEpoch() needs { epoch: string, startSeq: number, at: number }')
  }
  return { epoch: record.epoch, startSeq: record.startSeq, at: record.at }
}

/** What a backend found when it opened. */
export interface RecoveredState {
  /** Oldest first. Empty for a new store. */
  readonly epochs: readonly EpochRecord[]
  /** The seq of the last committed mutation; 0 for a new store. */
  readonly lastSeq: number
}

/** A mutation as committed: entries after it are exactly what it describes. */
export type CommitOp =
  | {
      readonly kind: 'put'
      readonly key: string
      readonly value: Uint8Array
      readonly seq: number
      readonly deadline: number | undefined
    }
  | { readonly kind: 'remove'; readonly key: string; readonly seq: number }
  | { readonly kind: 'clear'; readonly seq: number }

/**
 * A cursor over committed entries, for snapshots sent in chunks (S2.7). Entries committed
 * while the cursor is open may or may not be seen (core replays them from the broadcasts);
 * a key is never returned twice and a key present for the cursor's whole life is never missed.
 */
export interface SnapshotCursor {
  /**
   * Up to `maxEntries` entries, stopping early once their value bytes exceed `maxBytes`
   * (at least one entry is returned when any remain). An empty array means the end.
   */
  next(maxEntries: number, maxBytes: number): Array<readonly [key: string, entry: StoredEntry]>
  /** Releases the cursor. Idempotent. */
  close(): void
}

/** Options of {@link Persistence.open}. */
export interface OpenBackendOptions {
  /** The fingerprint of the schema the master uses now. Stored in the backend's meta. */
  readonly fingerprint: string
  /**
   * Whether data written under the stored fingerprint may be read with the current schema.
   * When false, `open` rejects with `PersistenceError` naming both and changes nothing.
   */
  readonly compatible: (storedFingerprint: string) => boolean
  readonly signal?: AbortSignal
}

/**
 * The storage of one store's master. Reads are synchronous (the master calls them on its hot
 * path); writes arrive as batches, one per event-loop turn (group commit).
 *
 * Ordering: `commit` and `beginEpoch` calls are never concurrent; core awaits each before the
 * next. After `close()` resolves no method is called again.
 */
export interface StoreBackend {
  /** The state found at open. */
  readonly recovered: RecoveredState
  /** The committed entry of `key`, or undefined. */
  get(key: string): StoredEntry | undefined
  /** The number of committed entries. */
  size(): number
  /** Every committed entry that has a deadline, in any order: the master rebuilds its expiry heap from it. */
  deadlines(): Iterable<readonly [key: string, deadline: number]>
  /** A cursor over committed entries whose key starts with `prefix` (all when empty). */
  snapshot(prefix: string): SnapshotCursor
  /** Durably records that a new master run began (S6.4: epoch history). */
  beginEpoch(record: EpochRecord): Promise<void>
  /**
   * Atomically applies `ops` (in order, seqs increasing) and records the last seq. Resolves
   * once the batch is as durable as the adapter's durability mode promises; rejects with
   * `PersistenceError` when nothing of the batch was applied.
   */
  commit(ops: readonly CommitOp[]): Promise<void>
  /** Releases file handles. Idempotent. */
  close(): Promise<void>
}

/** A persistence adapter: opens one backend per store. Constructing one does no I/O. */
export interface Persistence {
  readonly capabilities: PersistenceCapabilities
  /**
   * Opens (creating when absent) the backend of `store`. Rejects with `PersistenceError`
   * when what is there is corrupt, of another format version, or of an incompatible schema
   * (S9.2); nothing is overwritten then.
   */
  open(store: string, options: OpenBackendOptions): Promise<StoreBackend>
  /** Closes every backend it opened. Idempotent. */
  close(): Promise<void>
}
