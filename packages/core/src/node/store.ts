import type { Schema } from '@concord/schema/contract'
import { ClosedError, type ConcordError, PersistenceError, UnavailableError } from '../errors.js'
import { wireSize } from '../protocol/codec.js'
import {
  MutationKind,
  type Mutations,
  type Opened,
  type SnapshotChunk,
  type SyncEnd,
} from '../protocol/messages.js'
import { abortableWait, onAbort, throwIfAborted, type Waiting } from '../util/abort.js'
import { BoundedQueue } from '../util/bounded-queue.js'
import { deepEqual } from '../util/deep-equal.js'
import type { NodeMetrics, ResyncCause } from './node-metrics.js'
import { Replica } from './replica.js'
import type { CallOptions, Change, ChangesOptions, StatusChange, StoreStatus } from './types.js'
import { type AppliedWaiter, WritableStore, type WriteHost, type WriteTarget } from './writable-store.js'

export type { AppliedWaiter, WriteAck } from './writable-store.js'

/** What a clone needs from its node. */
export interface StoreHost extends WriteHost {
  /** Queues a message to the hub (sent this turn if the link is up; dropped otherwise). */
  sendOpen(store: Clone, resume: { epoch: string; seq: number } | undefined): number
  /** Lets the hub send one more snapshot or replay chunk; leaves at once, not at the end of the turn. */
  sendCredit(openId: number): void
  /** Tells the hub a sync was abandoned, so it frees the snapshot cursor. */
  sendClose(openId: number): void
  /** The handle closed: unsubscribe it and forget it. */
  detach(store: Clone, openId: number | undefined): void
  /** What a sync may buffer of the broadcasts that arrive meanwhile (see `NodeLimits`). */
  syncBufferLimit(): SyncBufferLimit
  /** The node's time for silence: how long a sync made no progress is measured on it. */
  now(): number
  /** The node's counters: a clone counts its syncs and resyncs there. */
  readonly metrics: NodeMetrics
}

/** Broadcast mutations a sync buffers, at most, by count and by bytes (see `NodeLimits`). */
export interface SyncBufferLimit {
  readonly mutations: number
  readonly bytes: number
}

/** What a node sees of its store handles (method syntax keeps it variance-free). */
export interface Clone extends WriteTarget {
  readonly prefix: string
  readonly schema: { readonly fingerprint: string }
  readonly status: StoreStatus
  close(): Promise<void>
  _linkUp(): void
  _linkDown(reason: Error): void
  _opened(message: Opened): void
  _chunk(message: SnapshotChunk): void
  _syncEnd(message: SyncEnd): void
  _mutations(message: Mutations, unicast: boolean): void
  _heartbeat(epoch: string, seq: number): void
  _openFailed(error: Error): void
  _watchdog(now: number, staleAfter: number): void
  /**
   * Fails the waiting writes answered when the node's link-down time was at most `cutoff`
   * (`timeout` ms of it ago); returns how many.
   */
  _expireAnswered(cutoff: number, timeout: number): number
}

interface Sync {
  readonly openId: number
  mode: 0 | 1 | undefined
  fromSeq: number
  epoch: string
  /** The snapshot being built (mode 0). */
  building: Replica<unknown> | undefined
  /** Broadcasts that arrived while syncing, applied after the snapshot or log. */
  buffered: Mutations[]
  bufferedMutations: number
  /** About the bytes of `buffered` (see `wireSize`). */
  bufferedBytes: number
  /** SYNC_END seq once received: live once applied up to it. */
  endSeq: number | undefined
}

/** What `Replica.get` answers for an absent key where a stored value could be anything. */
const ABSENT: unique symbol = Symbol('absent')
const STATUS_BUFFER = 64

/**
 * A clone of a store (S2-S6): a full local replica (or the replica of a prefix view) that
 * serves reads synchronously and sends writes to the master. Get one from `node.open()`.
 *
 * Writes take effect locally only when the master's broadcast is applied; each write's
 * promise resolves then, to the mutation's seq (S3.2).
 */
export class Store<T = unknown, I = T> extends WritableStore<T, I> implements Clone, AsyncDisposable {
  #entries = new Replica<T>()
  #epoch: string | undefined
  #seq = 0
  #status: StoreStatus = 'connecting'
  #sync: Sync | undefined
  #openId: number | undefined
  #waiters: AppliedWaiter[] = []
  readonly #changeQueues = new Set<{ queue: BoundedQueue<Change<T>>; prefix: string }>()
  readonly #statusQueues = new Set<BoundedQueue<StatusChange>>()
  /** Epochs this clone followed before: their stragglers are ignored, not a reason to resync. */
  readonly #pastEpochs: string[] = []
  /** When the current sync last made progress (for the watchdog). */
  #syncProgress = 0
  /** Resyncs since the clone last applied a broadcast in order. */
  #resyncs = 0
  /** Links up so far (see {@link _links}). */
  #links = 0
  #opened: Waiting | undefined
  /**
   * Why the hub refused this clone's latest resync, until another starts: no seq arrives on
   * this link, so the writes the master answers meanwhile cannot wait for theirs.
   */
  #resyncRefused: Error | undefined

  /** @internal Built by `node.open`. */
  constructor(
    name: string,
    schema: Schema<T, I>,
    /** The prefix view, `''` for the whole store. */
    prefix: string,
    override readonly host: StoreHost,
  ) {
    super(name, schema, prefix, host)
  }

  /** @internal */
  protected _unusable(): Error | undefined {
    return this.#status === 'closed' ? new ClosedError(`store '${this.name}' is closed`) : undefined
  }

  // ---- reads (S2.3-S2.5) ------------------------------------------------------------------

  /** The clone's current value of `key`, or `fallback` (S2.3). */
  get(key: string): T | undefined
  get<F>(key: string, fallback: F): T | F
  get(key: string, fallback?: unknown): unknown {
    return this.#entries.get(key, fallback)
  }

  /** Whether the clone holds `key`. */
  has(key: string): boolean {
    return this.#entries.has(key)
  }

  /** The number of entries. */
  get size(): number {
    return this.#entries.size
  }

  /** The seq of the mutation that last wrote `key` (for `compareAndSet`), or 0 when absent. */
  seqOf(key: string): number {
    return this.#entries.seqOf(key)
  }

  /** The seq of the last mutation the clone applied. */
  get seq(): number {
    return this.#seq
  }

  /** The master's epoch the clone follows. */
  get epoch(): string | undefined {
    return this.#epoch
  }

  /**
   * The keys, from a key set frozen when iteration begins (S2.5): a key removed later is
   * still yielded; a key added later is not.
   */
  *keys(): IterableIterator<string> {
    yield* Array.from(this.#entries.keys())
  }

  /** `[key, value]` pairs over a frozen key set (S2.5): keys removed meanwhile are skipped. */
  *entries(): IterableIterator<[string, T]> {
    for (const key of Array.from(this.#entries.keys())) {
      const value = this.#entries.get(key, ABSENT)
      if (value !== ABSENT) yield [key, value]
    }
  }

  /** The values, over a frozen key set like {@link entries}. */
  *values(): IterableIterator<T> {
    for (const [, value] of this.entries()) yield value
  }

  [Symbol.iterator](): IterableIterator<[string, T]> {
    return this.entries()
  }

  // ---- status (S6.1) ----------------------------------------------------------------------

  get status(): StoreStatus {
    return this.#status
  }

  /** Status changes from now on, as an async iterable (bounded: the oldest are dropped when nobody reads). */
  statusChanges(): AsyncIterableIterator<StatusChange> {
    const queue: BoundedQueue<StatusChange> = new BoundedQueue(STATUS_BUFFER, 'drop-oldest', () =>
      this.#statusQueues.delete(queue),
    )
    if (this.#status === 'closed') queue.end()
    else this.#statusQueues.add(queue)
    return queue
  }

  #setStatus(status: StoreStatus, error?: Error): void {
    if (this.#status === status || this.#status === 'closed') return
    this.#status = status
    const change: StatusChange = error === undefined ? { status } : { status, error }
    for (const queue of this.#statusQueues) queue.push(change)
    if (status === 'closed') for (const queue of this.#statusQueues) queue.end()
  }

  // ---- changes (S5) -----------------------------------------------------------------------

  /**
   * Every change applied from now on, in seq order (S5.1). The buffer is bounded: a consumer
   * that falls behind gets an `OverflowError` from the iterator (S5.2); the store goes on.
   */
  changes(options: ChangesOptions = {}): AsyncIterableIterator<Change<T>> {
    const entry = {
      prefix: options.prefix ?? '',
      queue: new BoundedQueue<Change<T>>(options.bufferSize ?? 10_000, 'error', () =>
        this.#changeQueues.delete(entry),
      ),
    }
    if (this.#status === 'closed') entry.queue.end()
    else this.#changeQueues.add(entry)
    return entry.queue
  }

  #emit(change: Change<T>): void {
    for (const entry of this.#changeQueues) {
      if (change.kind !== 'clear' && !change.key.startsWith(entry.prefix)) continue
      if (!entry.queue.push(change)) this.#changeQueues.delete(entry)
    }
  }

  /**
   * Resolves once this clone has applied every mutation up to `seq`, outside a resync (it may
   * have gone `stale` since; `get` still shows that write or a later one): read your writes
   * across nodes (a node that wrote at `seq` tells another, which awaits this before it
   * reads). Rejects with `ClosedError` when the store closes first, `AbortedError` on the signal.
   */
  reached(seq: number, options: CallOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError('seq is a natural number')
      throwIfAborted(options.signal)
      const stop = onAbort(options.signal, (error) => {
        const i = this.#waiters.indexOf(waiter)
        if (i >= 0) this.#waiters.splice(i, 1)
        reject(error)
      })
      const waiter: AppliedWaiter = {
        seq,
        applied: () => {
          stop()
          resolve()
        },
        failed: (error) => {
          stop()
          reject(error)
        },
      }
      this._afterApplied(waiter)
    })
  }

  /** @internal Settles `waiter` once this clone has applied its seq (S3.2). */
  override _afterApplied(waiter: AppliedWaiter): void {
    if (this.#status === 'closed') return waiter.failed(new ClosedError(`store '${this.name}' is closed`))
    // Refused, this clone follows no epoch: its seq says nothing of a seq acknowledged now.
    if (this.#resyncRefused !== undefined && waiter.downAt !== undefined) {
      this.host.metrics.ackedWriteTimeouts++
      return waiter.failed(this.#notApplied(waiter, this.#refusedWhy(this.#resyncRefused)))
    }
    if (this.#seq >= waiter.seq && this.#sync === undefined) return waiter.applied()
    // Acks arrive in seq order almost always: insert from the back.
    let i = this.#waiters.length
    while (i > 0 && this.#waiters[i - 1]!.seq > waiter.seq) i--
    this.#waiters.splice(i, 0, waiter)
  }

  /** @internal See {@link Clone._expireAnswered}. */
  _expireAnswered(cutoff: number, timeout: number): number {
    return this.#failAnswered(
      cutoff,
      `the link to the hub was lost before this clone applied it, and has been down for ${timeout} ms (writeTimeout) since`,
    )
  }

  /** Rejects the waiting writes answered when the link-down time was at most `cutoff`; returns how many. */
  #failAnswered(cutoff: number, why: string): number {
    if (!this.#waiters.some((w) => w.downAt !== undefined && w.downAt <= cutoff)) return 0
    const due: AppliedWaiter[] = []
    const kept: AppliedWaiter[] = []
    for (const w of this.#waiters) (w.downAt !== undefined && w.downAt <= cutoff ? due : kept).push(w)
    this.#waiters = kept
    // A compare-and-set refused at this seq rejects with its ConflictError instead (as on close).
    for (const waiter of due) waiter.failed(this.#notApplied(waiter, why))
    return due.length
  }

  /** A write the master acknowledged that this clone cannot show, `why`. */
  #notApplied(waiter: AppliedWaiter, why: string): UnavailableError {
    return new UnavailableError(
      `store '${this.name}': the master acknowledged this write at seq ${waiter.seq}, so it took effect, ` +
        `but ${why}; retrying a non-idempotent update would apply it twice`,
      { ackedSeq: waiter.seq },
    )
  }

  #refusedWhy(error: Error): string {
    return `the hub refused this clone's resync (${error.message}), so it cannot apply the seq on this link`
  }

  #releaseWaiters(): void {
    if (this.#sync !== undefined) return
    let n = 0
    while (n < this.#waiters.length && this.#waiters[n]!.seq <= this.#seq) n++
    if (n === 0) return
    const ready = this.#waiters.splice(0, n)
    for (const waiter of ready) waiter.applied()
  }

  // ---- sync (S2.1, S6.3) ------------------------------------------------------------------

  /** @internal The link to the hub is up (again): open or resume. */
  _linkUp(): void {
    if (this.#status === 'closed') return
    this.#links++
    // A replay cut short with its link resumes from where it got to: it is paced by credits,
    // so it does not overrun the link's queue the next time either.
    this.#startSync(this.#epoch === undefined ? undefined : { epoch: this.#epoch, seq: this.#seq })
  }

  /** @internal The link is down: keep serving reads (S6.1). */
  _linkDown(reason: Error): void {
    if (this.#status === 'closed') return
    this.#sync = undefined
    this.#openId = undefined
    if (this.#status !== 'connecting') this.#setStatus('stale', reason)
  }

  #startSync(resume: { epoch: string; seq: number } | undefined): void {
    this.#resyncRefused = undefined
    // The open this replaces, live or still syncing, ends at the hub (or its registration,
    // a view's broadcast topic among it, would outlive it).
    if (this.#openId !== undefined) this.host.sendClose(this.#openId)
    this.#syncProgress = this.host.now()
    const openId = this.host.sendOpen(this, resume)
    this.#openId = openId
    this.#sync = {
      openId,
      mode: undefined,
      fromSeq: 0,
      epoch: '',
      building: undefined,
      buffered: [],
      bufferedMutations: 0,
      bufferedBytes: 0,
      endSeq: undefined,
    }
    if (this.#status !== 'connecting') this.#setStatus('syncing')
  }

  /** Lost continuity (a gap, another epoch, a heartbeat ahead of us): resume from where we are. */
  #resync(cause: ResyncCause): void {
    if (this.#status === 'closed') return
    this.host.metrics.resyncs[cause]++
    // A resume that does not get us going again is not tried twice: take a snapshot.
    this.#resyncs++
    const resume =
      this.#epoch === undefined || this.#resyncs > 1 ? undefined : { epoch: this.#epoch, seq: this.#seq }
    this.#startSync(resume)
  }

  /** @internal */
  get _openId(): number | undefined {
    return this.#openId
  }

  /** @internal */
  _opened(message: Opened): void {
    const sync = this.#sync
    if (sync === undefined || sync.openId !== message.openId) return
    sync.mode = message.mode
    sync.fromSeq = message.fromSeq
    sync.epoch = message.epoch
    if (message.mode === 0) {
      this.host.metrics.snapshots++
      sync.building = new Replica()
    } else if (message.fromSeq !== this.#seq || this.#epoch === undefined) {
      // A log replay must continue exactly from our state; anything else is a protocol slip.
      this.host.metrics.resyncs.protocol++
      this.#startSync(undefined)
    } else {
      // Another epoch: the master restarted on its data, which ends where this clone is.
      this.#enterEpoch(message.epoch, message.fromSeq)
      this.host.metrics.resumes++
    }
  }

  /** @internal */
  _chunk(message: SnapshotChunk): void {
    const sync = this.#sync
    if (sync?.building === undefined || sync.openId !== message.openId) return
    // Credit first, and at once: the hub reads the next chunk while this one is decoded.
    this.host.sendCredit(message.openId)
    const entries = message.entries
    try {
      for (let i = 0; i < entries.length; i += 3) {
        const key = entries[i] as string
        sync.building.set(key, this.schema.decode(entries[i + 1] as Uint8Array), entries[i + 2] as number)
      }
    } catch (error) {
      return this.#fail(error as ConcordError)
    }
    this.#syncProgress = this.host.now()
  }

  /**
   * @internal Called by the node every heartbeat: a sync that made no progress for
   * `staleAfter` ms (a lost reply or broadcast) starts over.
   */
  _watchdog(now: number, staleAfter: number): void {
    if (this.#sync !== undefined && now - this.#syncProgress > staleAfter) this.#resync('stalled')
  }

  /** @internal */
  _syncEnd(message: SyncEnd): void {
    const sync = this.#sync
    if (sync === undefined || sync.openId !== message.openId || sync.mode === undefined) return
    sync.endSeq = message.seq
    if (sync.mode === 0) this.#installSnapshot(sync)
    // Broadcasts that arrived meanwhile, in order; older ones are already in the snapshot.
    this.#sync = undefined
    const buffered = sync.buffered
    for (const mutations of buffered) {
      if (!this.#applyMutations(mutations)) return
    }
    if (this.#seq >= message.seq) this.#becomeLive()
    else {
      this.#sync = {
        ...sync,
        buffered: [],
        bufferedMutations: 0,
        bufferedBytes: 0,
        building: undefined,
        mode: sync.mode,
      }
    }
  }

  #installSnapshot(sync: Sync): void {
    const next = sync.building as Replica<T>
    const old = this.#entries
    // Listeners exist only once the first open resolved, so `old` is a replica they saw.
    if (this.#changeQueues.size > 0) {
      // Report the difference in seq order (S5.1). A chunk may already hold a value written
      // after `fromSeq`; its mutation is also in the replayed broadcasts, so keep the old
      // state for it here and let the replay report it, with the right `previous`.
      // Within one epoch a key at the same seq holds the same value. Another history (a
      // master restarted without its data, or an epoch forgotten after a failure) may hold
      // another value at a seq this clone saw: compare the values then.
      const sameHistory = this.#epoch === sync.epoch
      const changes: Change<T>[] = []
      for (const [key, seq] of next.seqs()) {
        const before = old.seqOf(key)
        if (seq > sync.fromSeq) {
          if (before === 0) next.delete(key)
          else next.set(key, old.get(key, undefined) as T, before)
          continue
        }
        const previous = old.get(key, undefined)
        const value = next.get(key, undefined) as T
        if (before !== seq || (!sameHistory && !deepEqual(previous, value))) {
          changes.push({ kind: 'put', key, value, previous, seq })
        }
      }
      for (const key of old.keys()) {
        if (!next.has(key)) {
          changes.push({ kind: 'remove', key, previous: old.get(key, undefined), seq: sync.fromSeq })
        }
      }
      changes.sort((a, b) => a.seq - b.seq)
      for (const change of changes) this.#emit(change)
    }
    this.#entries = next
    this.#seq = sync.fromSeq
    sync.building = undefined
    this.#enterEpoch(sync.epoch, sync.fromSeq)
  }

  /**
   * Follows `epoch` from `fromSeq`, the clone's state now: the stragglers of the one it leaves
   * are ignored from now on, and the writes that epoch acknowledged past `fromSeq` are lost.
   */
  #enterEpoch(epoch: string, fromSeq: number): void {
    const previous = this.#epoch
    this.#epoch = epoch
    if (previous === undefined || previous === epoch) return
    this.#pastEpochs.push(previous)
    if (this.#pastEpochs.length > 8) this.#pastEpochs.shift()
    this.#failLostWrites(fromSeq)
  }

  /**
   * The master restarted (a new epoch) from `fromSeq`: a write acknowledged on an earlier link
   * at a later seq is not in it (its persistence lost it, or it is not the same store), and
   * would otherwise wait for a seq the new epoch may never reach, or reach with another write.
   */
  #failLostWrites(fromSeq: number): void {
    const lost = this.#waiters.filter((w) => {
      if (w.ackedOnLink === undefined || w.ackedOnLink >= this.#links) return false
      if (w.seq > fromSeq) return true
      // A new epoch that got as far: the key, if present, was last written before the write.
      const at = w.writtenKey === undefined ? 0 : this.#entries.seqOf(w.writtenKey)
      return at > 0 && at < w.seq
    })
    if (lost.length === 0) return
    this.host.metrics.writesLost += lost.length
    this.#waiters = this.#waiters.filter((w) => !lost.includes(w))
    for (const waiter of lost) {
      waiter.failed(
        new PersistenceError(
          `store '${this.name}': the master acknowledged seq ${waiter.seq}, then restarted (at seq ${fromSeq}) without it`,
        ),
      )
    }
  }

  /** @internal How many times this clone's link came up: tags a write's acknowledgement (see {@link AppliedWaiter}). */
  override get _links(): number {
    return this.#links
  }

  #becomeLive(): void {
    this.#sync = undefined
    this.#setStatus('live')
    this.#releaseWaiters()
    if (this.#opened !== undefined) {
      this.#opened.resolve()
      this.#opened = undefined
    }
  }

  /** @internal A MUTATIONS message: a broadcast, or (`unicast`) a chunk of a log replay. */
  _mutations(message: Mutations, unicast: boolean): void {
    if (this.#status === 'closed') return
    const sync = this.#sync
    if (unicast && sync?.mode === 1 && sync.endSeq === undefined) {
      // A chunk of this sync's replay (an earlier sync's chunks all arrived before this
      // one's OPENED, on the same ordered link): credit first and at once, as for a snapshot
      // chunk, and count it as progress (a long replay is not a stalled one).
      this.host.sendCredit(sync.openId)
      this.#syncProgress = this.host.now()
    } else if (sync !== undefined) {
      if (unicast) return
      if (sync.endSeq !== undefined && sync.mode !== undefined && sync.building === undefined) {
        // Past SYNC_END, waiting to reach it: apply directly.
        if (this.#applyMutations(message) && this.#seq >= sync.endSeq) this.#becomeLive()
        return
      }
      sync.buffered.push(message)
      sync.bufferedMutations += message.muts.length / 4
      sync.bufferedBytes += wireSize(message.muts)
      // Bounded in count and in bytes (a few large values would pass any count): past either,
      // start over from a snapshot rather than grow.
      const limit = this.host.syncBufferLimit()
      if (sync.bufferedMutations > limit.mutations || sync.bufferedBytes > limit.bytes) {
        this.host.metrics.resyncs.syncBuffer++
        this.#startSync(undefined)
      }
      return
    }
    // A broadcast before the first sync on this link: the node learns that a subscription was
    // granted, or that the link is back, after the first broadcasts may have come (ZeroMQ
    // delivers them in one read). The sync about to start is answered after them, so it holds
    // what they carry; applying one would see another epoch or a gap and start a second sync.
    if (sync === undefined && this.#status !== 'live') return
    this.#applyMutations(message)
  }

  /** Applies a range of mutations if it continues our state; resyncs on a gap (S6.3). Returns false after a resync. */
  #applyMutations(message: Mutations): boolean {
    if (message.epoch !== this.#epoch) {
      if (this.#pastEpochs.includes(message.epoch)) return true
      this.#resync('epoch')
      return false
    }
    if (message.to <= this.#seq) return true
    if (message.from > this.#seq) {
      this.#resync('gap')
      return false
    }
    const muts = message.muts
    try {
      for (let i = 0; i < muts.length; i += 4) {
        const seq = muts[i] as number
        if (seq <= this.#seq) continue
        this.#apply(seq, muts[i + 1] as number, muts[i + 2] as string, muts[i + 3] as Uint8Array | null)
      }
    } catch (error) {
      this.#fail(error as ConcordError)
      return false
    }
    this.#seq = message.to
    if (this.#sync === undefined) this.#resyncs = 0
    this.#releaseWaiters()
    return true
  }

  #apply(seq: number, kind: number, key: string, bytes: Uint8Array | null): void {
    const listening = this.#changeQueues.size > 0
    switch (kind) {
      case MutationKind.PUT: {
        if (!key.startsWith(this.prefix)) return
        const value = this.schema.decode(bytes!)
        // The previous value is looked up only for a listener: it costs a lookup per mutation.
        const previous = listening ? this.#entries.get(key, undefined) : undefined
        this.#entries.set(key, value, seq)
        if (listening) this.#emit({ kind: 'put', key, value, previous, seq })
        return
      }
      case MutationKind.REMOVE:
      case MutationKind.EXPIRE: {
        const previous = this.#entries.get(key, ABSENT)
        if (previous === ABSENT) return
        this.#entries.delete(key)
        if (listening) {
          this.#emit({
            kind: kind === MutationKind.EXPIRE ? 'expire' : 'remove',
            key,
            previous,
            seq,
          })
        }
        return
      }
      case MutationKind.CLEAR:
        this.#entries = new Replica()
        if (listening) this.#emit({ kind: 'clear', key: '', seq })
        return
    }
  }

  /** @internal A HEARTBEAT: the master is at `(epoch, seq)`; being behind means a broadcast was lost. */
  _heartbeat(epoch: string, seq: number): void {
    if (this.#sync !== undefined || this.#status !== 'live' || this.#pastEpochs.includes(epoch)) return
    if (epoch !== this.#epoch) this.#resync('epoch')
    else if (seq > this.#seq) this.#resync('behind')
  }

  /** @internal The hub refused this clone's OPEN. */
  _openFailed(error: Error): void {
    if (this.#opened !== undefined) {
      this.#opened.reject(error)
      this.#opened = undefined
      this.#shutdown(error)
      return
    }
    // A resync refused later (permission revoked, store gone): report it and keep serving reads.
    this.#sync = undefined
    this.#setStatus('stale', error)
    // No seq arrives on this link: the writes the master answered stop waiting for theirs.
    this.#resyncRefused = error
    this.host.metrics.ackedWriteTimeouts += this.#failAnswered(
      Number.POSITIVE_INFINITY,
      this.#refusedWhy(error),
    )
  }

  #fail(error: ConcordError): void {
    // Bytes from the master that our schema cannot decode: resync from a snapshot rather than diverge.
    this.host.metrics.resyncs.decode++
    this.#setStatus('stale', error)
    this.#epoch = undefined
    this.#startSync(undefined)
  }

  /** @internal Resolves when the clone is first live (S2.1). */
  _whenOpen(signal: AbortSignal | undefined): Promise<void> {
    const { promise, waiting } = abortableWait(signal, () => {
      this.#opened = undefined
      void this.close()
    })
    this.#opened = waiting
    return promise
  }

  // ---- lifecycle (S10.1) ------------------------------------------------------------------

  /** Closes the handle: pending writes reject with `ClosedError`, iterators end. Idempotent. */
  async close(): Promise<void> {
    this.#shutdown(new ClosedError(`store '${this.name}' is closed`))
  }

  #shutdown(error: Error): void {
    if (this.#status === 'closed') return
    const openId = this.#openId
    this.#sync = undefined
    this.#openId = undefined
    this.#setStatus('closed')
    // An open still under way (its node closing) settles too: nothing would answer it now.
    const opened = this.#opened
    this.#opened = undefined
    opened?.reject(error)
    const waiters = this.#waiters
    this.#waiters = []
    for (const waiter of waiters) waiter.failed(error)
    for (const entry of this.#changeQueues) entry.queue.end()
    this.#changeQueues.clear()
    this.#statusQueues.clear()
    this.host.detach(this, openId)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}
