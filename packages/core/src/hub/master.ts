import type { Schema } from '@concord/schema/contract'
import {
  type ConcordError,
  ConflictError,
  DecodeError,
  ForbiddenError,
  isConcordError,
  PersistenceError,
  TooLargeError,
  UnknownOperationError,
  UpdateError,
  ValidationError,
} from '../errors.js'
import type { Clock, TimerHandle } from '../ports/clock.js'
import type {
  CommitOp,
  EpochRecord,
  SnapshotCursor,
  StoreBackend,
  StoredEntry,
} from '../ports/persistence.js'
import { REMOVE, UNCHANGED, type UpdateRegistry } from '../ports/update-registry.js'
import { decodeDelta } from '../protocol/dynamic.js'
import { MutationKind, type Write, WriteKind } from '../protocol/messages.js'
import { describeThrown } from '../util/describe.js'
import { randomId } from '../util/ids.js'
import { ExpiryHeap } from './expiry-heap.js'
import { type CommittedBatch, MutationLog } from './mutation-log.js'

/** The settled configuration of one master (see `StoreConfig` for the user-facing form). */
export interface MasterConfig {
  readonly name: string
  readonly schema: Schema
  /** Default expiry in ms, or undefined for none (S4.1). */
  readonly expiry: number | undefined
  readonly ops: UpdateRegistry
  readonly maxValueSize: number
  /** How late an expiry may be, in ms (S4.3). */
  readonly expiryTolerance: number
  readonly logMaxMutations: number
  readonly logMaxBytes: number
}

/** Who is waiting for a write's outcome. */
export interface WriteOrigin {
  readonly peerId: string
  readonly nodeId: string
  readonly writeId: number
  readonly identity: string
  /**
   * The writer may not read the store (S8.2): its write is always a mutation at a new seq
   * (a remove of an absent key, an op that changed nothing), so its answer says nothing of
   * what the store holds.
   */
  readonly blind?: boolean
}

/** A write's outcome, delivered once its batch committed (or failed). */
export interface Settlement {
  readonly origin: WriteOrigin
  readonly seq: number
  readonly applied: boolean
  /** Set when the write was refused on uncommitted state: the refusal, sent after the commit. */
  readonly refusal?: ConcordError
}

/** What a master tells its hub. */
export interface MasterHooks {
  /** A batch committed: broadcast it. Called after `settled` for the same batch. */
  committed(master: Master, batch: CommittedBatch): void
  /** Writes of a batch settled: ack them, or reject them all with `error`. */
  settled(master: Master, settlements: readonly Settlement[], error?: ConcordError): void
}

/** A deleted key in the overlay of uncommitted changes. */
interface Tombstone {
  readonly deleted: true
  readonly seq: number
}

interface Batch {
  readonly from: number
  to: number
  readonly ops: CommitOp[]
  readonly muts: (number | string | Uint8Array | null)[]
  readonly settlements: Settlement[]
  bytes: number
}

const NO_DEADLINE = -1
/** The Concord errors an update op may throw to the writer as they are (see `#update`). */
const OP_DECISIONS: ReadonlySet<string> = new Set([
  ValidationError.code,
  ForbiddenError.code,
  UpdateError.code,
])
/**
 * The longest the master goes without looking at its earliest deadline, in ms. Timers count
 * elapsed time while deadlines are times on the clock: when the clock jumps forward (an NTP
 * step, a VM resumed), what fell due expires within this, not when a timer armed for the old
 * time fires (S4.3). It also keeps delays under what timers hold (2^31-1 ms).
 */
export const EXPIRY_RECHECK_MS = 1000
/**
 * Entries a master expires in one event-loop turn. Many falling due at once (a bulk load
 * with one expiry) go in batches, with writes, heartbeats and commits between them, rather
 * than holding the hub for seconds and committing them in one huge transaction.
 */
export const EXPIRE_PER_TURN = 4096
/** How long an expiry whose entry could not be read waits before it is tried again, in ms. */
export const EXPIRY_RETRY_MS = 1000

/**
 * The authoritative copy of one store (S3.2): validates and applies writes in arrival order,
 * numbers them, group-commits them once per event-loop turn, and only then hands them to the
 * hub to broadcast and acknowledge. Only the master expires entries (S4.3), from an indexed
 * heap (S4.5).
 *
 * Reads go through an overlay of applied-but-uncommitted changes, then the backend; so a
 * store may live on disk (LMDB, SQLite) and never be held in memory whole.
 */
export class Master {
  readonly epoch = randomId()
  /** Seq of the last applied mutation (committed or not). */
  lastSeq: number
  /** Seq of the last committed (and broadcast) mutation. */
  committedSeq: number
  readonly log: MutationLog
  /**
   * Earlier runs of this store's persistence that ended exactly where this one began: a
   * clone at their last seq holds this master's state at its start (see {@link continues}).
   */
  readonly #endedAtStart: ReadonlySet<string>
  /** The store's last seq when this master started. */
  readonly #startSeq: number
  /** Mutations refused or rolled back because persistence failed. */
  persistenceFailures = 0
  /**
   * Reads of the backend that failed (a damaged file): each refused the write or the
   * snapshot that needed it, or put off an expiry by {@link EXPIRY_RETRY_MS}.
   */
  readFailures = 0
  readonly #overlay = new Map<string, StoredEntry | Tombstone>()
  /** A clear not committed yet hides every committed entry. */
  #clearedAt = 0
  readonly #heap = new ExpiryHeap()
  #batch: Batch | undefined
  #flushScheduled = false
  #committing: Promise<void> | undefined
  #timer: TimerHandle | undefined
  /** Set while a failed reload of the deadlines waits to be tried again. */
  #reloadTimer: TimerHandle | undefined
  #timerAt = Number.POSITIVE_INFINITY
  /** A batch of expiries is waiting for the next turn (see `#expireSome`). */
  #expireScheduled = false
  #closed = false

  private constructor(
    readonly config: MasterConfig,
    readonly backend: StoreBackend,
    readonly clock: Clock,
    readonly hooks: MasterHooks,
  ) {
    this.lastSeq = backend.recovered.lastSeq
    this.committedSeq = this.lastSeq
    this.log = new MutationLog(this.lastSeq, config.logMaxMutations, config.logMaxBytes)
    this.#startSeq = this.lastSeq
    this.#endedAtStart = endedAt(backend.recovered.epochs, this.lastSeq)
  }

  /**
   * Whether a clone at `(epoch, seq)` holds this master's state at `seq`, so that the log can
   * bring it up to date (S6.3): a seq of this epoch, or the last seq of an earlier run of the
   * same persistence that ended where this one began (a hub restarted on its data, S6.4: its
   * clones that had everything need no snapshot). The log may no longer reach back that far.
   */
  continues(epoch: string | null, seq: number): boolean {
    if (epoch === this.epoch) return seq <= this.committedSeq
    return epoch !== null && seq === this.#startSeq && this.#endedAtStart.has(epoch)
  }

  /**
   * Starts a master on an opened backend: records the new epoch, rebuilds the expiry heap,
   * and expires (and commits) what fell due while it was down — before any clone is served (S4.4).
   */
  static async start(
    config: MasterConfig,
    backend: StoreBackend,
    clock: Clock,
    hooks: MasterHooks,
  ): Promise<Master> {
    const master = new Master(config, backend, clock, hooks)
    await backend.beginEpoch({ epoch: master.epoch, startSeq: master.lastSeq, at: clock.now() })
    master.#heap.load(backend.deadlines())
    // All of it before any clone is served, a bounded batch per commit.
    while (master.#expireDue()) await master.drain()
    await master.drain()
    master.#armTimer()
    return master
  }

  get name(): string {
    return this.config.name
  }

  /** The current entry of `key`, committed or not. */
  get(key: string): StoredEntry | undefined {
    const pending = this.#overlay.get(key)
    if (pending !== undefined) return 'deleted' in pending ? undefined : pending
    if (this.#clearedAt > this.committedSeq) return undefined
    return this.committed(key)
  }

  /**
   * The committed entry of `key` (a clear or write not committed yet is not seen: it may still
   * fail). Throws `PersistenceError` when the backend fails to read, as {@link get} does.
   */
  committed(key: string): StoredEntry | undefined {
    return this.#read(() => this.backend.get(key))
  }

  /**
   * A cursor over committed entries; the snapshot it yields is completed by mutations after
   * `committedSeq`. Like {@link get}, it and its `next` throw `PersistenceError` when the
   * backend fails to read.
   */
  snapshot(prefix: string): { cursor: SnapshotCursor; fromSeq: number } {
    const cursor = this.#read(() => this.backend.snapshot(prefix))
    return {
      cursor: {
        next: (maxEntries, maxBytes) => this.#read(() => cursor.next(maxEntries, maxBytes)),
        close: () => cursor.close(),
      },
      fromSeq: this.committedSeq,
    }
  }

  /**
   * Runs a backend read. A failure is counted and thrown as `PersistenceError` (a backend's
   * other typed errors pass as they are), for the hub to refuse what needed the read (S9.2).
   */
  #read<T>(body: () => T): T {
    try {
      return body()
    } catch (cause) {
      const error = isConcordError(cause)
        ? cause
        : new PersistenceError(`reading store '${this.name}' failed: ${(cause as Error)?.message ?? cause}`, {
            cause,
          })
      if (error instanceof PersistenceError) this.readFailures++
      throw error
    }
  }

  /**
   * Applies a write (S3.2-S3.6) or throws the typed error that refuses it (S3.3), in which
   * case nothing changed. The outcome of an accepted write reaches `hooks.settled` after commit.
   */
  apply(write: Write, origin: WriteOrigin): void {
    if (this.#closed) throw new PersistenceError(`store '${this.name}' is closing`)
    switch (write.kind) {
      case WriteKind.PUT:
        return this.#put(write.key, this.#checkValue(write.value), write.expiry, origin)
      case WriteKind.CAS: {
        const value = this.#checkValue(write.value)
        const actual = this.get(write.key)?.seq ?? 0
        if (actual !== write.expectedSeq) {
          const conflict = new ConflictError(
            `'${write.key}' was last written at seq ${actual}, not ${String(write.expectedSeq)}`,
            actual,
          )
          // Decided on a change not committed yet: the refusal leaves once that change is
          // committed, or becomes the commit's error if it fails (it may not survive).
          if (this.#uncommitted(write.key)) return this.#unchanged(origin, conflict)
          throw conflict
        }
        return this.#put(write.key, value, write.expiry, origin)
      }
      case WriteKind.REMOVE:
        if (origin.blind !== true && this.get(write.key) === undefined) return this.#unchanged(origin)
        return this.#remove(write.key, origin)
      case WriteKind.UPDATE:
        return this.#update(write, origin)
      case WriteKind.CLEAR: {
        const seq = ++this.lastSeq
        this.#overlay.clear()
        this.#heap.clear()
        this.#clearedAt = seq
        return this.#record({ kind: 'clear', seq }, MutationKind.CLEAR, origin)
      }
    }
  }

  /** Resolves when everything applied so far is committed (or failed). */
  async drain(): Promise<void> {
    while (this.#batch !== undefined || this.#committing !== undefined) {
      if (this.#committing !== undefined) await this.#committing
      else await this.#flush()
    }
  }

  /** Commits what is pending, stops expiring, closes the backend. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer)
    if (this.#reloadTimer !== undefined) this.clock.clearTimeout(this.#reloadTimer)
    await this.drain()
    await this.backend.close()
  }

  /** Stops at once, committing nothing more (a crash, for tests). */
  abort(): void {
    this.#closed = true
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer)
    if (this.#reloadTimer !== undefined) this.clock.clearTimeout(this.#reloadTimer)
    this.#batch = undefined
  }

  #checkValue(value: Uint8Array | null): Uint8Array {
    if (value === null)
      throw new ValidationError([{ path: '', code: 'type', message: 'a value is required' }])
    if (value.byteLength > this.config.maxValueSize) {
      throw new TooLargeError(
        `value of ${value.byteLength} bytes exceeds the limit of store '${this.name}', ${this.config.maxValueSize} bytes (its maxValueSize option)`,
      )
    }
    try {
      this.config.schema.decode(value)
    } catch (cause) {
      if (cause instanceof DecodeError || isConcordError(cause)) throw cause
      throw new DecodeError('value does not decode with the store schema', { cause })
    }
    return value
  }

  #deadline(expiry: number | null): number {
    const ms = expiry === null ? this.config.expiry : expiry < 0 ? undefined : expiry
    return ms === undefined ? NO_DEADLINE : this.clock.now() + ms
  }

  #put(key: string, value: Uint8Array, expiry: number | null, origin: WriteOrigin | undefined): void {
    const deadline = this.#deadline(expiry)
    if (deadline === NO_DEADLINE) this.#heap.delete(key)
    else this.#heap.set(key, deadline)
    const seq = ++this.lastSeq
    const op: CommitOp = {
      kind: 'put',
      key,
      value,
      seq,
      deadline: deadline === NO_DEADLINE ? undefined : deadline,
    }
    this.#record(op, MutationKind.PUT, origin)
    if (deadline !== NO_DEADLINE) this.#armTimer()
  }

  #update(write: Write, origin: WriteOrigin): void {
    const op = this.config.ops.get(write.op ?? '')
    if (op === undefined) {
      throw new UnknownOperationError(`store '${this.name}' has no update operation '${String(write.op)}'`)
    }
    const delta = write.value === null ? undefined : decodeDelta(write.value)
    const entry = this.get(write.key)
    const current = entry === undefined ? undefined : this.config.schema.decode(entry.value)
    let next: unknown
    try {
      next = op(current, delta, {
        store: this.name,
        key: write.key,
        present: entry !== undefined,
        identity: origin.identity,
        now: this.clock.now(),
        valid: (value) => this.config.schema.validate(value).length === 0,
      })
    } catch (cause) {
      // A conflict an op reports carries no seq of ours: the writer must not wait for one.
      if (cause instanceof ConflictError) throw new ConflictError(cause.message, undefined, { cause })
      // What an op decides (the value is invalid, the identity may not) reaches the writer as
      // is; any other Concord error an op throws (ClosedError, UnavailableError, …) would tell
      // the writer something false about its write, and fails it as an UpdateError.
      if (isConcordError(cause) && OP_DECISIONS.has(cause.code)) throw cause
      throw new UpdateError(`update '${write.op}' on '${write.key}' failed: ${describeThrown(cause)}`, {
        cause,
      })
    }
    if (next === UNCHANGED) {
      if (origin.blind !== true) return this.#unchanged(origin)
      // Written again as it is, so that the answer is a new seq whatever the op found.
      if (entry !== undefined) return this.#put(write.key, new Uint8Array(entry.value), write.expiry, origin)
      return this.#remove(write.key, origin)
    }
    if (next === REMOVE) {
      if (entry === undefined && origin.blind !== true) return this.#unchanged(origin)
      return this.#remove(write.key, origin)
    }
    const issues = this.config.schema.validate(next)
    if (issues.length > 0)
      throw new ValidationError(issues, { context: `update '${write.op}' made an invalid value` })
    const bytes = this.config.schema.encode(next)
    if (bytes.byteLength > this.config.maxValueSize) {
      throw new TooLargeError(
        `update '${write.op}' made a value of ${bytes.byteLength} bytes, over the limit of store '${this.name}', ${this.config.maxValueSize} bytes (its maxValueSize option)`,
      )
    }
    this.#put(write.key, bytes, write.expiry, origin)
  }

  /** Removes `key` as a new mutation (a no-op on an absent key, but a seq all the same). */
  #remove(key: string, origin: WriteOrigin): void {
    this.#heap.delete(key)
    this.#record({ kind: 'remove', key, seq: ++this.lastSeq }, MutationKind.REMOVE, origin)
  }

  /** A write that changes nothing, or (`refusal`) is refused on uncommitted state: answered after the commit. */
  #unchanged(origin: WriteOrigin, refusal?: ConcordError): void {
    this.#open().settlements.push({ origin, seq: this.lastSeq, applied: false, ...(refusal && { refusal }) })
    this.#scheduleFlush()
  }

  /** Whether `key`'s current state rests on a change not committed yet. */
  #uncommitted(key: string): boolean {
    return this.#overlay.has(key) || this.#clearedAt > this.committedSeq
  }

  /** The batch being filled; a new one starts after `last`, the seq before its first mutation. */
  #open(last = this.lastSeq): Batch {
    this.#batch ??= { from: last, to: last, ops: [], muts: [], settlements: [], bytes: 0 }
    return this.#batch
  }

  #record(op: CommitOp, kind: MutationKind, origin: WriteOrigin | undefined): void {
    const batch = this.#open(op.seq - 1)
    batch.ops.push(op)
    batch.to = op.seq
    const key = op.kind === 'clear' ? '' : op.key
    const value = op.kind === 'put' ? op.value : null
    batch.muts.push(op.seq, kind, key, value)
    batch.bytes += 16 + key.length + (value?.byteLength ?? 0)
    if (op.kind === 'put') this.#overlay.set(op.key, op)
    else if (op.kind === 'remove') this.#overlay.set(op.key, { deleted: true, seq: op.seq })
    if (origin !== undefined) batch.settlements.push({ origin, seq: op.seq, applied: true })
    this.#scheduleFlush()
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#committing !== undefined) return
    this.#flushScheduled = true
    setImmediate(() => {
      this.#flushScheduled = false
      void this.#flush()
    })
  }

  /** Group commit: one backend transaction for everything applied since the last one. */
  #flush(): Promise<void> {
    if (this.#committing !== undefined) return this.#committing
    const batch = this.#batch
    if (batch === undefined) return Promise.resolve()
    this.#batch = undefined
    this.#committing = this.#commit(batch).finally(() => {
      this.#committing = undefined
      if (this.#batch !== undefined && !this.#closed) this.#scheduleFlush()
    })
    return this.#committing
  }

  async #commit(batch: Batch): Promise<void> {
    if (batch.ops.length > 0) {
      try {
        await this.backend.commit(batch.ops)
      } catch (cause) {
        this.#rollback(batch, cause)
        return
      }
    }
    this.committedSeq = batch.to
    for (const op of batch.ops) {
      if (op.kind === 'clear') continue
      if (this.#overlay.get(op.key)?.seq === op.seq) this.#overlay.delete(op.key)
    }
    let committed: CommittedBatch | undefined
    if (batch.ops.length > 0) {
      ownValues(batch.muts)
      committed = { from: batch.from, to: batch.to, muts: batch.muts, bytes: batch.bytes }
      this.log.append(committed)
    }
    this.hooks.settled(this, batch.settlements)
    if (committed !== undefined) this.hooks.committed(this, committed)
  }

  /**
   * A commit failed: nothing of it (nor of what was applied after it on top of it) may be
   * seen. Every such write is refused (S3.3) and the state returns to the last commit.
   */
  #rollback(failed: Batch, cause: unknown): void {
    const error = isConcordError(cause)
      ? cause
      : new PersistenceError(`commit of store '${this.name}' failed: ${describeThrown(cause)}`, {
          cause,
        })
    const later = this.#batch
    this.#batch = undefined
    this.#overlay.clear()
    this.#clearedAt = 0
    this.lastSeq = this.committedSeq
    this.persistenceFailures += failed.ops.length + (later?.ops.length ?? 0)
    this.#heap.clear()
    this.#reloadDeadlines()
    this.hooks.settled(this, failed.settlements, error)
    if (later !== undefined) this.hooks.settled(this, later.settlements, error)
    this.#armTimer()
  }

  /**
   * Rebuilds the expiry heap from the backend after a rollback. A backend that cannot list
   * its deadlines now is asked again {@link EXPIRY_RETRY_MS} later (counted in
   * {@link readFailures}), so entries never stop expiring; deadlines set meanwhile stay.
   */
  #reloadDeadlines(): void {
    if (this.#closed) return
    try {
      const stored = [...this.backend.deadlines()].filter(([key]) => !this.#heap.has(key))
      this.#heap.load(stored)
      this.#armTimer()
    } catch {
      this.readFailures++
      if (this.#reloadTimer !== undefined) this.clock.clearTimeout(this.#reloadTimer)
      this.#reloadTimer = this.clock.setTimeout(() => {
        this.#reloadTimer = undefined
        this.#reloadDeadlines()
      }, EXPIRY_RETRY_MS)
    }
  }

  #armTimer(): void {
    if (this.#closed) return
    const next = this.#heap.peekDeadline()
    if (next === undefined) return
    // A timer that fires a little late (within the tolerance) may serve this deadline too.
    if (next >= this.#timerAt - this.config.expiryTolerance && next <= this.#timerAt) return
    if (next > this.#timerAt) return
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer)
    this.#timerAt = next
    // A later deadline re-arms on wake-up.
    const delay = Math.min(EXPIRY_RECHECK_MS, Math.max(0, next - this.clock.now()))
    this.#timer = this.clock.setTimeout(() => this.#onTimer(), delay)
  }

  #onTimer(): void {
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
    this.#expireSome()
  }

  /**
   * Expires a bounded batch of what is due; what remains, on a later turn once the commit
   * under way is done, so that a batch of expiries is also a bounded transaction.
   */
  #expireSome(): void {
    if (this.#closed) return
    if (!this.#expireDue()) return this.#armTimer()
    if (this.#expireScheduled) return
    this.#expireScheduled = true
    setImmediate(async () => {
      // This batch's flush was scheduled first, so its commit is the one under way.
      await this.#committing
      this.#expireScheduled = false
      this.#expireSome()
    })
  }

  /**
   * Expires entries whose deadline has passed (S4.3), as `expire` mutations, at most
   * {@link EXPIRE_PER_TURN}; returns whether more are due. An entry
   * that cannot be read (counted in {@link readFailures}) is tried again
   * {@link EXPIRY_RETRY_MS} later; the others expire meanwhile.
   */
  #expireDue(): boolean {
    const now = this.clock.now()
    for (let n = 0; n < EXPIRE_PER_TURN; n++) {
      const key = this.#heap.popDue(now)
      if (key === undefined) return false
      let entry: StoredEntry | undefined
      try {
        entry = this.get(key)
      } catch {
        this.#heap.set(key, now + EXPIRY_RETRY_MS)
        continue
      }
      if (entry === undefined || entry.deadline === undefined || entry.deadline > now) continue
      this.#record({ kind: 'remove', key, seq: ++this.lastSeq }, MutationKind.EXPIRE, undefined)
    }
    const next = this.#heap.peekDeadline()
    return next !== undefined && next <= now
  }
}

/**
 * Replaces the values of `muts` (flat `seq, kind, key, value`) by views of one buffer of
 * their own. Values arrive as views of the frames they came in (decoded without a copy per
 * value); the log keeps them for a while, and it must not pin whole frames (a frame may carry
 * a large event beside a small write), nor pay an allocation per value. @internal Exported
 * for its test.
 */
export function ownValues(muts: (number | string | Uint8Array | null)[]): void {
  let size = 0
  for (let i = 3; i < muts.length; i += 4) size += (muts[i] as Uint8Array | null)?.byteLength ?? 0
  if (size === 0) return
  const own = new Uint8Array(size)
  let at = 0
  for (let i = 3; i < muts.length; i += 4) {
    const value = muts[i] as Uint8Array | null
    if (value === null) continue
    own.set(value, at)
    muts[i] = own.subarray(at, at + value.byteLength)
    at += value.byteLength
  }
}

/**
 * The epochs of `history` (oldest first) whose run ended at `seq`: the last one, and each
 * before it while the run after it began at `seq` too (a run that wrote nothing).
 */
function endedAt(history: readonly EpochRecord[], seq: number): Set<string> {
  const out = new Set<string>()
  for (let i = history.length - 1; i >= 0; i--) {
    out.add(history[i]!.epoch)
    if (history[i]!.startSeq !== seq) break
  }
  return out
}
