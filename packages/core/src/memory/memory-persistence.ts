import { AbortedError, ClosedError, PersistenceError } from '../errors.js'
import type { Clock, TimerHandle } from '../ports/clock.js'
import { systemClock } from '../ports/clock.js'
import type {
  CommitOp,
  EpochRecord,
  OpenBackendOptions,
  Persistence,
  PersistenceCapabilities,
  RecoveredState,
  SnapshotCursor,
  StoreBackend,
  StoredEntry,
} from '../ports/persistence.js'
import { checkEpochRecord } from '../ports/persistence.js'

/** Options of {@link memoryPersistence}. */
export interface MemoryPersistenceInit {
  /**
   * How long each `commit` and `beginEpoch` takes, in ms, measured on `clock`. When unset
   * or 0 a write still resolves asynchronously (on the next `setImmediate`), never inside
   * the call. A latency widens the window in which {@link MemoryPersistence.crash} loses it.
   */
  readonly commitLatency?: number
  /** The clock `commitLatency` runs on. Default {@link systemClock}; pass a manual clock to step it. */
  readonly clock?: Clock
}

/**
 * Decides whether a commit fails: `true` makes it reject with `PersistenceError` and apply
 * nothing. See {@link MemoryPersistence.failCommits}.
 */
export type CommitFailurePredicate = (store: string, ops: readonly CommitOp[]) => boolean

/**
 * Decides whether a read of stored entries fails: `true` makes it throw `PersistenceError`,
 * as a damaged page would. `key` is given for `get`. See {@link MemoryPersistence.failReads}.
 */
export type ReadFailurePredicate = (
  store: string,
  read: 'get' | 'snapshot' | 'deadlines',
  key?: string,
) => boolean

/** Injected failures: the next `count` calls fail, or every call `when` picks. */
class FailureSwitch<A extends unknown[]> {
  #count = 0
  #when: ((...args: A) => boolean) | undefined

  constructor(private readonly name: string) {}

  set(countOrPredicate: number | ((...args: A) => boolean)): void {
    if (typeof countOrPredicate === 'function') {
      this.#when = countOrPredicate
      this.#count = 0
      return
    }
    if (!Number.isInteger(countOrPredicate) || countOrPredicate < 0) {
      throw new RangeError(`${this.name}(n) needs an integer >= 0, got ${countOrPredicate}`)
    }
    this.#count = countOrPredicate
    this.#when = undefined
  }

  /** Whether this call fails; consumes one counted failure. */
  take(...args: A): boolean {
    if (this.#count > 0) {
      this.#count--
      return true
    }
    return this.#when?.(...args) ?? false
  }
}

/** A copy of one store's committed state, for assertions. See {@link MemoryPersistence.inspect}. */
export interface MemoryStoreDump {
  /** The schema fingerprint recorded by the last successful `open`. */
  readonly fingerprint: string
  readonly lastSeq: number
  readonly epochs: readonly EpochRecord[]
  /** Committed entries in key order (value bytes copied). */
  readonly entries: ReadonlyMap<string, StoredEntry>
  /** Set when {@link MemoryPersistence.corrupt} marked the store. */
  readonly corrupt: string | undefined
}

/** The committed state of one store: what a file would hold. */
interface StoreData {
  fingerprint: string
  lastSeq: number
  readonly epochs: EpochRecord[]
  readonly entries: Map<string, StoredEntry>
  /** Keys whose entry has a deadline, so `deadlines()` never scans the whole store. */
  readonly deadlines: Map<string, number>
  corrupt: string | undefined
}

/** A write accepted by a backend and not yet applied. */
interface PendingWrite {
  cancel(): void
  readonly reject: (error: unknown) => void
  readonly done: Promise<void>
}

const CAPABILITIES: PersistenceCapabilities = Object.freeze({
  name: 'memory',
  durable: false,
  crashable: true,
  largerThanMemory: false,
})

/**
 * In-memory {@link Persistence} for tests and ephemeral hubs. The data lives in this object,
 * not in the backends: a new hub given the same object recovers everything committed, as it
 * would from a file. Extra test controls: {@link crash}, {@link failCommits},
 * {@link failReads}, {@link corrupt}, {@link inspect}.
 *
 * Buffers: `commit` copies every value when it is called, so the caller may reuse its buffers
 * as soon as `commit` returns. Entries returned by `get` and cursors are the stored objects:
 * treat them (and their value bytes) as read-only.
 *
 * Two backends may be open on the same store at once (as after a simulated restart without
 * `close`); they share the committed data.
 */
export class MemoryPersistence implements Persistence {
  /** `memory`, not durable, crashable, not larger than memory. */
  readonly capabilities: PersistenceCapabilities = CAPABILITIES
  readonly #stores = new Map<string, StoreData>()
  readonly #backends = new Set<MemoryStoreBackend>()
  readonly #clock: Clock
  readonly #latency: number
  #closed = false
  /** Bumped by every crash, so an `open` in flight across a crash fails. */
  #generation = 0
  readonly #commitFailures = new FailureSwitch<[store: string, ops: readonly CommitOp[]]>('failCommits')
  readonly #readFailures = new FailureSwitch<Parameters<ReadFailurePredicate>>('failReads')

  constructor(init: MemoryPersistenceInit = {}) {
    const latency = init.commitLatency ?? 0
    if (!Number.isFinite(latency) || latency < 0) {
      throw new RangeError(`commitLatency must be a finite number >= 0, got ${latency}`)
    }
    this.#latency = latency
    this.#clock = init.clock ?? systemClock
  }

  /**
   * Opens (creating when absent) the backend of `store`. Rejects with `PersistenceError` when
   * the store was marked corrupt, or was written under another fingerprint that `compatible`
   * refuses (nothing changes then); with `ClosedError` after {@link close}; with
   * `AbortedError` when `signal` is aborted.
   */
  async open(store: string, options: OpenBackendOptions): Promise<StoreBackend> {
    if (typeof store !== 'string' || store === '') throw new TypeError('store must be a non-empty string')
    if (typeof options?.fingerprint !== 'string' || typeof options.compatible !== 'function') {
      throw new TypeError('open() needs options { fingerprint: string, compatible: function }')
    }
    const generation = this.#generation
    await undefined
    if (this.#closed) throw new ClosedError('memory persistence is closed')
    if (options.signal?.aborted) throw new AbortedError('open aborted', { cause: options.signal.reason })
    if (generation !== this.#generation) throw new PersistenceError(`opening store '${store}': crashed`)

    let data = this.#stores.get(store)
    if (data?.corrupt !== undefined) {
      throw new PersistenceError(`corrupt store '${store}': ${data.corrupt}`)
    }
    if (data !== undefined && data.fingerprint !== options.fingerprint) {
      if (!options.compatible(data.fingerprint)) {
        throw new PersistenceError(
          `store '${store}' was written with schema fingerprint ${data.fingerprint}, ` +
            `incompatible with the current fingerprint ${options.fingerprint}`,
        )
      }
      data.fingerprint = options.fingerprint
    }
    if (data === undefined) {
      data = {
        fingerprint: options.fingerprint,
        lastSeq: 0,
        epochs: [],
        entries: new Map(),
        deadlines: new Map(),
        corrupt: undefined,
      }
      this.#stores.set(store, data)
    }
    const backend = new MemoryStoreBackend(this, store, data, {
      epochs: Object.freeze(data.epochs.map((e) => Object.freeze({ ...e }))),
      lastSeq: data.lastSeq,
    })
    this.#backends.add(backend)
    return backend
  }

  /** Closes every backend (letting their accepted writes finish), then refuses new opens. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    await Promise.all([...this.#backends].map((b) => b.close()))
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /**
   * Simulates the process dying: every write not yet applied is lost (its promise rejects
   * with `PersistenceError('… crashed')`), every backend opened so far is dead (its methods
   * throw or reject `PersistenceError`; only its `close()` still resolves, having nothing to
   * release), and committed data stays. Later `open` calls work, as in a restarted process.
   */
  crash(): void {
    this.#generation++
    for (const backend of this.#backends) backend.kill()
    this.#backends.clear()
  }

  /**
   * Makes commits fail with `PersistenceError`, applying nothing (S3.3 tests). A number: the
   * next `count` commits fail (0 cancels). A predicate: every commit it returns true for fails,
   * until `failCommits(0)`. `beginEpoch` is never failed.
   */
  failCommits(countOrPredicate: number | CommitFailurePredicate): void {
    this.#commitFailures.set(countOrPredicate)
  }

  /**
   * Makes reads of stored entries throw `PersistenceError`, as a damaged page would (S9.2
   * tests): `get`, a snapshot cursor's `next` and `deadlines()`. A number: the next `count`
   * such reads fail (0 cancels). A predicate: every read it returns true for fails, until
   * `failReads(0)`. The data is untouched: reads work again afterwards.
   */
  failReads(countOrPredicate: number | ReadFailurePredicate): void {
    this.#readFailures.set(countOrPredicate)
  }

  /**
   * Marks `store` as corrupt, as a damaged file would be: every later `open` of it rejects with
   * `PersistenceError('corrupt store …: <detail>')` and its data is left as it is. Backends
   * already open are unaffected. Marking an absent store creates an unreadable one.
   */
  corrupt(store: string, detail = 'checksum mismatch'): void {
    const data = this.#stores.get(store)
    if (data !== undefined) {
      data.corrupt = detail
      return
    }
    this.#stores.set(store, {
      fingerprint: '',
      lastSeq: 0,
      epochs: [],
      entries: new Map(),
      deadlines: new Map(),
      corrupt: detail,
    })
  }

  /** A copy of `store`'s committed state, or undefined when it was never opened. */
  inspect(store: string): MemoryStoreDump | undefined {
    const data = this.#stores.get(store)
    if (data === undefined) return undefined
    const keys = [...data.entries.keys()].sort()
    return {
      fingerprint: data.fingerprint,
      lastSeq: data.lastSeq,
      epochs: data.epochs.map((e) => ({ ...e })),
      entries: new Map(keys.map((k) => [k, copyEntry(data.entries.get(k)!)])),
      corrupt: data.corrupt,
    }
  }

  /** The names of the stores held, in no particular order. */
  stores(): string[] {
    return [...this.#stores.keys()]
  }

  /** @internal Whether the commit `ops` of `store` should fail; consumes one injected failure. */
  shouldFail(store: string, ops: readonly CommitOp[]): boolean {
    return this.#commitFailures.take(store, ops)
  }

  /** @internal Throws the injected failure of this read, if any; consumes one. */
  checkRead(store: string, read: 'get' | 'snapshot' | 'deadlines', key?: string): void {
    if (this.#readFailures.take(store, read, key)) {
      throw new PersistenceError(`reading store '${store}' failed (injected failure)`)
    }
  }

  /** @internal Runs `apply` after the commit latency; returns a handle that cancels it. */
  schedule(apply: () => void): () => void {
    if (this.#latency > 0) {
      const handle: TimerHandle = this.#clock.setTimeout(apply, this.#latency)
      return () => this.#clock.clearTimeout(handle)
    }
    const immediate = setImmediate(apply)
    return () => clearImmediate(immediate)
  }

  /** @internal */
  forget(backend: MemoryStoreBackend): void {
    this.#backends.delete(backend)
  }
}

/** The backend of one store, as opened by {@link MemoryPersistence.open}. */
export class MemoryStoreBackend implements StoreBackend {
  readonly recovered: RecoveredState
  #state: 'open' | 'closing' | 'closed' | 'dead' = 'open'
  readonly #pending = new Set<PendingWrite>()
  readonly #cursors = new Set<MemoryCursor>()
  #closing: Promise<void> | undefined

  /** @internal Use {@link MemoryPersistence.open}. */
  constructor(
    private readonly owner: MemoryPersistence,
    /** The store's name. */
    readonly store: string,
    private readonly data: StoreData,
    recovered: RecoveredState,
  ) {
    this.recovered = Object.freeze(recovered)
  }

  get(key: string): StoredEntry | undefined {
    this.assertReadable()
    this.owner.checkRead(this.store, 'get', key)
    return this.data.entries.get(key)
  }

  size(): number {
    this.assertReadable()
    return this.data.entries.size
  }

  deadlines(): Iterable<readonly [key: string, deadline: number]> {
    this.assertReadable()
    this.owner.checkRead(this.store, 'deadlines')
    // A copy: the caller may commit while iterating.
    return [...this.data.deadlines]
  }

  /**
   * A cursor over the committed entries whose key starts with `prefix`, in key order. The key
   * list is frozen now; each `next` reads the then-current values, skipping keys removed
   * since. Keys added later are not returned.
   */
  snapshot(prefix: string): SnapshotCursor {
    this.assertReadable()
    const keys = [...this.data.entries.keys()].filter((k) => k.startsWith(prefix)).sort()
    const cursor = new MemoryCursor(this, keys, (key) => this.data.entries.get(key))
    this.#cursors.add(cursor)
    return cursor
  }

  beginEpoch(record: EpochRecord): Promise<void> {
    const refused = this.refusal()
    if (refused !== undefined) return Promise.reject(refused)
    let checked: EpochRecord
    try {
      checked = checkEpochRecord(record)
    } catch (error) {
      return Promise.reject(error)
    }
    const copy = Object.freeze(checked)
    return this.write(() => {
      this.data.epochs.push(copy)
    })
  }

  /**
   * Applies `ops` atomically after the commit latency. Rejects with `RangeError` (applying
   * nothing) when seqs do not strictly increase from the store's last seq, and with
   * `PersistenceError` when failed on purpose, crashed or killed before it applied.
   */
  commit(ops: readonly CommitOp[]): Promise<void> {
    const refused = this.refusal()
    if (refused !== undefined) return Promise.reject(refused)
    let last = this.data.lastSeq
    const copies: CommitOp[] = []
    for (const op of ops) {
      if (!Number.isSafeInteger(op.seq) || op.seq <= last) {
        return Promise.reject(
          new RangeError(`commit: seq ${op.seq} does not follow ${last} in store '${this.store}'`),
        )
      }
      last = op.seq
      if (op.kind === 'put') {
        if (!(op.value instanceof Uint8Array))
          return Promise.reject(new TypeError('put op needs Uint8Array value'))
        copies.push({ kind: 'put', key: op.key, value: op.value.slice(), seq: op.seq, deadline: op.deadline })
      } else if (op.kind === 'remove' || op.kind === 'clear') {
        copies.push({ ...op })
      } else {
        return Promise.reject(new TypeError(`unknown commit op kind '${(op as { kind: unknown }).kind}'`))
      }
    }
    const fail = this.owner.shouldFail(this.store, copies)
    return this.write(() => {
      if (fail) throw new PersistenceError(`commit to store '${this.store}' failed (injected failure)`)
      this.apply(copies)
    })
  }

  /**
   * Lets accepted writes finish, then closes every cursor. Idempotent. On a backend killed by
   * `crash()` it resolves at once: there is nothing left to release.
   */
  close(): Promise<void> {
    if (this.#state === 'dead') return Promise.resolve()
    if (this.#closing !== undefined) return this.#closing
    this.#state = 'closing'
    this.#closing = (async () => {
      await Promise.allSettled([...this.#pending].map((p) => p.done))
      if (this.#state === 'closing') this.#state = 'closed'
      for (const cursor of this.#cursors) cursor.close()
      this.owner.forget(this)
    })()
    return this.#closing
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** @internal Called by `crash()`: loses every write not applied yet. */
  kill(): void {
    this.#state = 'dead'
    for (const write of this.#pending) {
      write.cancel()
      write.reject(new PersistenceError(`write to store '${this.store}' lost: crashed`))
    }
    this.#pending.clear()
  }

  /** @internal A snapshot cursor's read: throws an injected failure, if any. */
  checkSnapshotRead(): void {
    this.owner.checkRead(this.store, 'snapshot')
  }

  /** @internal Throws unless reads are allowed. */
  assertReadable(): void {
    if (this.#state === 'dead') throw new PersistenceError(`store '${this.store}' is unusable: crashed`)
    if (this.#state === 'closed') throw new ClosedError(`store '${this.store}' backend is closed`)
  }

  /** @internal */
  dropCursor(cursor: MemoryCursor): void {
    this.#cursors.delete(cursor)
  }

  private refusal(): Error | undefined {
    if (this.#state === 'dead') return new PersistenceError(`store '${this.store}' is unusable: crashed`)
    if (this.#state !== 'open') return new ClosedError(`store '${this.store}' backend is closed`)
    return undefined
  }

  /** Runs `apply` after the latency unless a crash comes first. */
  private write(apply: () => void): Promise<void> {
    let resolve!: () => void
    let reject!: (error: unknown) => void
    const promise = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    const write: PendingWrite = {
      cancel: this.owner.schedule(() => {
        this.#pending.delete(write)
        try {
          apply()
          resolve()
        } catch (error) {
          reject(error)
        }
      }),
      reject,
      done: promise.catch(() => undefined),
    }
    this.#pending.add(write)
    return promise
  }

  /** Applies a validated batch. Synchronous, so nothing can observe half of it. */
  private apply(ops: readonly CommitOp[]): void {
    const { entries, deadlines } = this.data
    for (const op of ops) {
      switch (op.kind) {
        case 'put':
          entries.set(op.key, Object.freeze({ value: op.value, seq: op.seq, deadline: op.deadline }))
          if (op.deadline === undefined) deadlines.delete(op.key)
          else deadlines.set(op.key, op.deadline)
          break
        case 'remove':
          entries.delete(op.key)
          deadlines.delete(op.key)
          break
        case 'clear':
          entries.clear()
          deadlines.clear()
          break
      }
      this.data.lastSeq = op.seq
    }
  }
}

/**
 * A cursor over a frozen, sorted key list. Each call reads current values, so a key removed
 * since the cursor opened is skipped and a key rewritten since is returned with its new value.
 */
class MemoryCursor implements SnapshotCursor {
  #index = 0
  #closed = false

  constructor(
    private readonly backend: MemoryStoreBackend,
    private readonly keys: readonly string[],
    private readonly read: (key: string) => StoredEntry | undefined,
  ) {}

  /**
   * Up to `maxEntries` entries whose value bytes together stay within `maxBytes`; the first
   * entry is returned whatever its size, so a call returns at least one entry while any
   * remain. An empty array means the end. Throws `ClosedError` after `close()`.
   */
  next(maxEntries: number, maxBytes: number): Array<readonly [key: string, entry: StoredEntry]> {
    if (this.#closed) throw new ClosedError('snapshot cursor is closed')
    this.backend.assertReadable()
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be an integer >= 1, got ${maxEntries}`)
    }
    this.backend.checkSnapshotRead()
    const out: Array<readonly [string, StoredEntry]> = []
    let bytes = 0
    while (this.#index < this.keys.length && out.length < maxEntries) {
      const key = this.keys[this.#index]!
      const entry = this.read(key)
      if (entry === undefined) {
        this.#index++
        continue
      }
      if (out.length > 0 && bytes + entry.value.byteLength > maxBytes) break
      this.#index++
      bytes += entry.value.byteLength
      out.push([key, entry])
    }
    return out
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.backend.dropCursor(this)
  }
}

function copyEntry(entry: StoredEntry): StoredEntry {
  return { value: entry.value.slice(), seq: entry.seq, deadline: entry.deadline }
}

/**
 * In-memory persistence: see {@link MemoryPersistence}.
 *
 * @example
 * const persistence = memoryPersistence()
 * const hub1 = createHub({ persistence, … })   // commits go into `persistence`
 * persistence.crash()                           // hub1's uncommitted writes are lost
 * const hub2 = createHub({ persistence, … })   // recovers what hub1 committed
 */
export function memoryPersistence(init?: MemoryPersistenceInit): MemoryPersistence {
  return new MemoryPersistence(init)
}
