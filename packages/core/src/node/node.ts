import type { AnySchema } from '@concord/schema/contract'
import {
  AbortedError,
  ClosedError,
  ConflictError,
  ForbiddenError,
  isConcordError,
  ProtocolError,
  UnavailableError,
} from '../errors.js'
import { exponentialBackoff } from '../ports/backoff.js'
import { type Clock, elapsedOf, systemClock, type TimerHandle } from '../ports/clock.js'
import type { NodeEndpoint } from '../ports/transport.js'
import { decodeFrame, encodeFrame } from '../protocol/codec.js'
import {
  type ErrorMessage,
  type HubMessage,
  MessageType,
  type NodeMessage,
  PROTOCOL_VERSION,
  type Write,
  WriteKind,
} from '../protocol/messages.js'
import { onAbort, throwIfAborted } from '../util/abort.js'
import { BoundedQueue } from '../util/bounded-queue.js'
import { count, total } from '../util/counters.js'
import { toMillis } from '../util/duration.js'
import { randomId } from '../util/ids.js'
import { checkName, checkSchema, checkViewPrefix, Topics } from '../util/names.js'
import { SilenceClock } from '../util/silence-clock.js'
import type { EventSubscription, SubscribeOptions } from './event-subscription.js'
import { KeyReads, type ReadOptions, type ReadResult } from './key-reads.js'
import type { NodeConfig } from './node-config.js'
import { NodeEvents, type PublishOptions } from './node-events.js'
import { type NodeMetrics, newNodeMetrics } from './node-metrics.js'
import { overPendingBound, type RequestHost } from './request-host.js'
import { type Clone, Store, type StoreHost, type SyncBufferLimit } from './store.js'
import { StoreWriter, type WriterHost } from './store-writer.js'
import type { OpenOptions, StatusChange, WriterOptions } from './types.js'
import { errorFromWire } from './wire-errors.js'
import type { AppliedWaiter, WriteAck, WriteTarget } from './writable-store.js'

/** The states of a node's link to its hub. */
export type NodeStatus = 'connecting' | 'connected' | 'closed'

/**
 * A write from its submission to its outcome: sent (and resent after a reconnect) until the
 * master answers, then waiting for its clone to apply the seq (S3.2; a write-only handle
 * settles it at once). Settles once.
 */
class PendingWrite implements AppliedWaiter {
  sent = false
  seq = 0
  ackedOnLink: number | undefined
  downAt: number | undefined
  #ack: WriteAck | undefined
  /** The refusal to report once the clone has applied `seq` (see {@link refusedAt}). */
  #refusal: Error | undefined
  #settled = false
  #stopAbort: () => void = noop

  constructor(
    readonly message: Write,
    readonly store: WriteTarget,
    readonly issuedAt: number,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: Error) => void,
    private readonly result: (ack: WriteAck) => unknown,
  ) {}

  /** Rejects the write when `signal` fires (before or after the master's answer). */
  watch(signal: AbortSignal | undefined, forget: () => void): void {
    this.#stopAbort = onAbort(signal, (error) => {
      forget()
      this.failed(error)
    })
  }

  get writtenKey(): string | undefined {
    const kind = this.message.kind
    return kind === WriteKind.PUT || kind === WriteKind.CAS ? this.message.key : undefined
  }

  /** The master applied it at `ack.seq`; `downAt` is the node's link-down time then (see `AppliedWaiter`). */
  acked(ack: WriteAck, downAt: number): void {
    this.#ack = ack
    this.seq = ack.seq
    this.ackedOnLink = this.store._links
    this.downAt = downAt
    this.store._afterApplied(this)
  }

  /**
   * Rejects with `error` once the clone has applied `seq`: a compare-and-set that lost to the
   * write at `seq` reports it when `get`/`seqOf` show that write, so a retry reads what won.
   */
  refusedAt(seq: number, error: Error, downAt: number): void {
    this.seq = seq
    this.#refusal = error
    this.ackedOnLink = this.store._links
    this.downAt = downAt
    this.store._afterApplied(this)
  }

  applied(): void {
    if (this.#settled) return
    this.#settled = true
    this.#stopAbort()
    if (this.#refusal !== undefined) this.reject(this.#refusal)
    else this.resolve(this.result(this.#ack!))
  }

  failed(error: Error): void {
    if (this.#settled) return
    this.#settled = true
    this.#stopAbort()
    // An abort is always reported as one; otherwise (the clone closed while waiting) the
    // master's refusal stays the answer.
    this.reject(error instanceof AbortedError ? error : (this.#refusal ?? error))
  }
}

function noop(): void {}

const DEFAULT_HEARTBEAT = 1000
/** A node flushes its outbox early once it holds this many bytes. */
const FLUSH_BYTES = 32 * 1024
/** The longest wait before a frame held back by a full link queue is offered again. */
const MAX_RETRY_MS = 50

/**
 * A node: one link to one hub, over which it opens clones of stores, publishes and
 * subscribes. Build one with `createNode`.
 */
export class ConcordNode implements AsyncDisposable {
  /** Random per node: the hub recognises a node across reconnects by it. */
  readonly id = randomId()
  /** What this node counted so far (see {@link NodeMetrics}). */
  readonly metrics: NodeMetrics = newNodeMetrics()
  readonly #clock: Clock
  /** Durations are measured on this (see {@link Clock.elapsed}). */
  readonly #elapsed: () => number
  /** Silence from the hub and a sync's lack of progress are measured on this: elapsed time less this node's stalls. */
  readonly #silence: SilenceClock
  readonly #maxPending: number
  readonly #writeTimeout: number
  readonly #staleAfterConfig: number | undefined
  readonly #syncBufferLimit: SyncBufferLimit
  readonly #stores = new Map<string, Clone>()
  /** Stores whose broadcast subscription is not confirmed yet: `open` starts their sync (S2.1). */
  readonly #subscribing = new Set<Clone>()
  readonly #storesByOpenId = new Map<number, Clone>()
  /** Write-only handles until they close (S8.2: the hub sends them nothing of the store). */
  readonly #writers = new Set<StoreWriter<unknown, unknown>>()
  /** Write-only handles whose check by the hub is under way on this link, by request id. */
  readonly #writerRequests = new Map<number, StoreWriter<unknown, unknown>>()
  /** The other way round: each writer's check still waiting for an answer. */
  readonly #writerRequestOf = new Map<StoreWriter<unknown, unknown>, number>()
  readonly #writes = new Map<number, PendingWrite>()
  /** Publishes, subscriptions and the delivery of events (S7). */
  readonly #events: NodeEvents
  /** One-key reads waiting for the hub's answer (`read`). */
  readonly #reads: KeyReads
  /** Time spent without a link to the hub (status `connecting`), over the links lost so far. */
  #downTotal = 0
  /** When the current link was lost, while it is (see {@link #downTime}). */
  #downSince: number | undefined
  /** Frames a full link queue refused, in order, waiting for room (see `#sendNow`). */
  #held: Uint8Array[] = []
  /**
   * When the link last took a held frame, on {@link #heldClock}: elapsed time less what the
   * retry timer fired late by, so a stall of this process is not taken for a link that
   * takes nothing (the timer may run before the heartbeat's tick has seen the stall).
   */
  #heldSince = 0
  readonly #heldClock: SilenceClock
  #retryMs = 1
  #retryTimer: TimerHandle | undefined
  readonly #statusQueues = new Set<BoundedQueue<StatusChange<NodeStatus>>>()
  #endpoint: NodeEndpoint | undefined
  #link: 'down' | 'hello' | 'ready' = 'down'
  #status: NodeStatus = 'connecting'
  #hubInstance: string | undefined
  #heartbeatMs = DEFAULT_HEARTBEAT
  #maxFrame: number
  #lastHeard = 0
  #lastSent = 0
  #nextWriteId = 0
  #nextRequestId = 0
  #outbox: NodeMessage[] = []
  #outboxBytes = 0
  #flushScheduled = false
  #timer: TimerHandle | undefined
  /** Holds the process alive from `start` to `close` (see `NodeConfig.keepAlive`). */
  #keepAlive: ReturnType<typeof setInterval> | undefined
  #closing: Promise<void> | undefined

  constructor(readonly config: NodeConfig) {
    this.#clock = config.clock ?? systemClock
    this.#elapsed = elapsedOf(this.#clock)
    this.#silence = new SilenceClock(this.#elapsed)
    this.#heldClock = new SilenceClock(this.#elapsed)
    this.#maxPending = config.maxPendingWrites ?? 100_000
    this.#writeTimeout = toMillis(config.writeTimeout ?? 30_000)
    this.#staleAfterConfig = config.staleAfter === undefined ? undefined : toMillis(config.staleAfter)
    this.#syncBufferLimit = {
      mutations: positive('limits.syncBufferMutations', config.limits?.syncBufferMutations ?? 1_000_000),
      bytes: positive('limits.syncBufferBytes', config.limits?.syncBufferBytes ?? 64 * 1024 * 1024),
    }
    this.#maxFrame = config.transport.capabilities.maxFrameSize
    for (const group of config.groups ?? []) checkName('group', group)
    const requests: RequestHost = {
      metrics: this.metrics,
      maxPending: this.#maxPending,
      pending: () => this.#pendingRequests(),
      now: () => this.#elapsed(),
      closed: () => this.#status === 'closed',
      ready: () => this.#link === 'ready',
      nextRequestId: () => ++this.#nextRequestId,
      send: (message) => this.#send(message),
      unsend: (message) => this.#unsend(message),
      maxValueSize: () => this.#maxValueSize(),
    }
    this.#events = new NodeEvents({
      ...requests,
      groups: this.config.groups ?? [],
      endpoint: () => this.#endpoint,
      refused: (error) => this.#refused(error),
    })
    this.#reads = new KeyReads(requests)
    for (const [prefix, topic] of Object.entries(config.topics ?? {})) this.topic(prefix, topic.schema)
  }

  /** Connects (the link comes up in the background; writes queue meanwhile, S3.7). */
  async start(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal)
    this.#endpoint = await this.config.transport
      .connect(
        this.config.hub,
        {
          linkUp: () => this.#linkUp(),
          linkDown: (reason) => this.#linkDown(new UnavailableError(`link to the hub lost: ${reason}`)),
          frame: (frame) => this.#onFrame(frame, undefined),
          broadcast: (topic, frame) => this.#onFrame(frame, topic),
        },
        {
          backoff: this.config.backoff ?? exponentialBackoff(),
          ...(this.config.identity === undefined ? {} : { identity: this.config.identity }),
          ...(signal === undefined ? {} : { signal }),
        },
      )
      .catch((error: unknown) => {
        throwIfAborted(signal)
        throw error
      })
    if (this.#status === 'closed') {
      // Closed while connecting: the endpoint came too late for close() to let it go.
      await this.#endpoint.close()
      return
    }
    void this.#endpoint.subscribe(Topics.hub).catch(() => {})
    this.#armTick()
    // The node's own timers are unref'd, and a transport holds the event loop open at most
    // while a link is up: a program waiting on the node would end while it reconnects.
    if (this.config.keepAlive !== false) this.#keepAlive ??= setInterval(noop, 2 ** 30)
  }

  get status(): NodeStatus {
    return this.#status
  }

  /**
   * Messages from the hub refused as malformed, and the hub's refusals of this node's frames
   * (S9.1): the sum of `metrics.refused` and `metrics.refusedByHub`.
   * @deprecated Read `metrics.refused` and `metrics.refusedByHub`, which say why, by error code.
   */
  get refusedFrames(): number {
    return total(this.metrics.refused) + total(this.metrics.refusedByHub)
  }

  /**
   * How long this node has been without a link to its hub, in all, since it started: the
   * clock of the writes the master answered that wait for their clone (see {@link #expireAnswered}).
   * It stands still while the link is up.
   */
  #downTime(): number {
    return this.#downSince === undefined
      ? this.#downTotal
      : this.#downTotal + this.#elapsed() - this.#downSince
  }

  /** Link status changes from now on. */
  statusChanges(): AsyncIterableIterator<StatusChange<NodeStatus>> {
    const queue: BoundedQueue<StatusChange<NodeStatus>> = new BoundedQueue(64, 'drop-oldest', () =>
      this.#statusQueues.delete(queue),
    )
    if (this.#status === 'closed') queue.end()
    else this.#statusQueues.add(queue)
    return queue
  }

  #setStatus(status: NodeStatus, error?: Error): void {
    if (this.#status === status || this.#status === 'closed') return
    if (status === 'connected') {
      this.metrics.linksUp++
      if (this.#downSince !== undefined) this.#downTotal += this.#elapsed() - this.#downSince
      this.#downSince = undefined
    } else if (status === 'connecting') {
      this.metrics.linksLost++
      this.#downSince = this.#elapsed()
    }
    this.#status = status
    for (const queue of this.#statusQueues) queue.push(error === undefined ? { status } : { status, error })
    if (status === 'closed') for (const queue of this.#statusQueues) queue.end()
  }

  // ---- stores ------------------------------------------------------------------------------

  /**
   * Opens a clone of `name` (S2.1): resolves once it holds the master's state and is live.
   * One handle per store per node.
   */
  async open<T, I = T>(name: string, options: OpenOptions<T, I>): Promise<Store<T, I>> {
    this.#checkOpen()
    checkName('store', name)
    throwIfAborted(options.signal)
    checkSchema('open', options?.schema)
    if (this.#stores.has(name))
      throw new TypeError(`store '${name}' is already open on this node; share its handle`)
    const prefix = checkViewPrefix(options.prefix ?? '')
    const store = new Store<T, I>(name, options.schema, prefix, this.#storeHost)
    this.#stores.set(name, store)
    const opened = store._whenOpen(options.signal)
    // Subscribed before asking (S2.1): a link that comes up meanwhile leaves this store to us,
    // so its sync starts once, here.
    this.#subscribing.add(store)
    try {
      await this.#endpoint!.subscribe(storeTopic(store))
    } catch (error) {
      store._openFailed(
        isConcordError(error, ForbiddenError.code) ? readRefused(name, prefix, error) : (error as Error),
      )
    }
    // In the same step as the check below: a WELCOME handled between the two (a transport
    // may deliver frames in microtasks) would start a sync of its own, and this a second one.
    this.#subscribing.delete(store)
    if (this.#link === 'ready' && store.status !== 'closed') store._linkUp()
    await opened
    return store
  }

  readonly #storeHost: StoreHost = {
    sendOpen: (store, resume) => {
      const openId = ++this.#nextRequestId
      for (const [id, s] of this.#storesByOpenId) if (s === store) this.#storesByOpenId.delete(id)
      this.#storesByOpenId.set(openId, store)
      this.#send({
        type: MessageType.OPEN,
        openId,
        store: store.name,
        fingerprint: store.schema.fingerprint,
        prefix: store.prefix,
        resumeEpoch: resume?.epoch ?? null,
        resumeSeq: resume?.seq ?? 0,
      })
      return openId
    },
    sendCredit: (openId) => {
      this.#send({ type: MessageType.SNAPSHOT_CREDIT, openId, credits: 1 })
      this.#flush()
    },
    sendClose: (openId) => {
      this.#storesByOpenId.delete(openId)
      this.#send({ type: MessageType.CLOSE_STORE, openId })
    },
    submitWrite: (store, kind, key, value, expiry, op, expectedSeq, signal, result) =>
      this.#submitWrite(
        store,
        {
          type: MessageType.WRITE,
          store: store.name,
          writeId: ++this.#nextWriteId,
          kind: kind as Write['kind'],
          key,
          value,
          expiry,
          op,
          expectedSeq,
        },
        signal,
        result,
      ),
    detach: (store, openId) => {
      this.#failWrites(store, new ClosedError(`store '${store.name}' is closed`))
      if (this.#stores.get(store.name) === store) this.#stores.delete(store.name)
      for (const [id, s] of this.#storesByOpenId) if (s === store) this.#storesByOpenId.delete(id)
      if (openId !== undefined && this.#link === 'ready')
        this.#send({ type: MessageType.CLOSE_STORE, openId })
      this.#endpoint?.unsubscribe(storeTopic(store))
    },
    maxValueSize: () => this.#maxValueSize(),
    syncBufferLimit: () => this.#syncBufferLimit,
    now: () => this.#silence.now(),
    metrics: this.metrics,
  }

  /** Rejects the pending writes of one handle (a clone and a writer of one store each have theirs). */
  #failWrites(target: WriteTarget, error: Error): void {
    for (const [id, pending] of this.#writes) {
      if (pending.store !== target) continue
      this.#writes.delete(id)
      pending.failed(error)
    }
  }

  /**
   * A write-only handle to `name` (see {@link StoreWriter}): resolves once the hub checked
   * it (the store exists, this identity may write it, the schema matches: S2.2, S8.2). No
   * snapshot is taken and no broadcast received; each write resolves on the master's
   * acknowledgement. A node may hold any number of them beside a clone of the same store.
   */
  async writer<T, I = T>(name: string, options: WriterOptions<T, I>): Promise<StoreWriter<T, I>> {
    this.#checkOpen()
    checkName('store', name)
    throwIfAborted(options?.signal)
    checkSchema('writer', options?.schema)
    const writer = new StoreWriter<T, I>(name, options.schema, this.#writerHost)
    const untyped = writer as StoreWriter<unknown, unknown>
    this.#writers.add(untyped)
    const ready = writer._whenReady(options.signal)
    if (this.#link === 'ready') writer._linkUp()
    await ready
    return writer
  }

  readonly #writerHost: WriterHost = {
    sendWriter: (writer) => {
      const reqId = ++this.#nextRequestId
      this.#forgetWriterRequest(writer)
      this.#writerRequests.set(reqId, writer)
      this.#writerRequestOf.set(writer, reqId)
      this.#send({
        type: MessageType.WRITER,
        reqId,
        store: writer.name,
        fingerprint: writer.schema.fingerprint,
      })
      return reqId
    },
    detachWriter: (writer) => {
      this.#writers.delete(writer)
      this.#forgetWriterRequest(writer)
      this.#failWrites(writer, new ClosedError(`the writer of store '${writer.name}' is closed`))
    },
    submitWrite: (target, kind, key, value, expiry, op, expectedSeq, signal, result) =>
      this.#storeHost.submitWrite(target, kind, key, value, expiry, op, expectedSeq, signal, result),
    maxValueSize: () => this.#maxValueSize(),
  }

  /**
   * Reads one key of `name` from its master, without a clone: resolves to the key's
   * committed value and the seq it was last written at, or `{ found: false, seq: 0 }`. The
   * hub checks it like an `open` (the store exists, this identity may `read` it, the schema
   * matches: S2.2, S8.2); only that key travels, whatever the size of the store. Waits for
   * a link like a write, and rejects with `UnavailableError` after `writeTimeout`.
   */
  read<T, I = T>(name: string, key: string, options: ReadOptions<T, I>): Promise<ReadResult<T>> {
    return this.#reads.read(name, key, options)
  }

  /** Writes, publishes and reads pending together: what `maxPendingWrites` bounds (S3.7). */
  #pendingRequests(): number {
    return this.#writes.size + this.#events.pending + this.#reads.size
  }

  #submitWrite<R>(
    store: WriteTarget,
    message: Write,
    signal: AbortSignal | undefined,
    result: (ack: WriteAck) => R,
  ): Promise<R> {
    if (this.#status === 'closed') return Promise.reject(new ClosedError('the node is closed'))
    if (this.#pendingRequests() >= this.#maxPending) {
      this.metrics.writesOverLimit++
      return Promise.reject(overPendingBound(this.#maxPending))
    }
    return new Promise<R>((resolve, reject) => {
      const pending = new PendingWrite(
        message,
        store,
        this.#elapsed(),
        resolve as (value: unknown) => void,
        reject,
        result,
      )
      if (signal !== undefined) {
        pending.watch(signal, () => {
          this.#writes.delete(message.writeId)
          // Still in the outbox (aborted in the task that wrote it): it never leaves.
          this.#unsend(message)
        })
      }
      this.#writes.set(message.writeId, pending)
      if (this.#link === 'ready') {
        pending.sent = true
        this.metrics.writesSent++
        this.#send(message)
      }
    })
  }

  // ---- events ------------------------------------------------------------------------------

  /**
   * Registers the payload schema of a topic prefix (S7.4); the longest matching prefix wins.
   * One schema per prefix: registering the same one again changes nothing, another one throws
   * `TypeError` (subscriptions made since were checked against the first one by the hub).
   */
  topic(prefix: string, schema: AnySchema): void {
    this.#events.topic(prefix, schema)
  }

  /**
   * Publishes an event (S7.2): validated locally against the topic's schema, sent once to
   * the hub, which re-validates and routes it. Resolves when the hub accepted it.
   */
  publish(topic: string, payload: unknown, options: PublishOptions = {}): Promise<void> {
    return this.#events.publish(topic, payload, options)
  }

  /**
   * Subscribes to events whose topic matches `prefix` on whole segments (S7.1), including
   * events published to a group this node is in (S7.5). Iterate the result with `for await`;
   * `await sub.ready` to know that events published from then on will arrive.
   */
  subscribe<P = unknown>(prefix: string, options: SubscribeOptions = {}): EventSubscription<P> {
    return this.#events.subscribe<P>(prefix, options)
  }

  /** What a store value or key may take, and an event: a quarter of the frame limit. */
  #maxValueSize(): number {
    return Math.floor(this.#maxFrame / 4)
  }

  // ---- link --------------------------------------------------------------------------------

  #linkUp(): void {
    if (this.#status === 'closed') return
    this.#link = 'hello'
    this.#lastHeard = this.#silence.now()
    this.#sendHello()
  }

  #sendHello(): void {
    this.#link = 'hello'
    this.#sendNow([
      {
        type: MessageType.HELLO,
        version: PROTOCOL_VERSION,
        nodeId: this.id,
        groups: this.config.groups ?? [],
        maxFrameSize: this.config.transport.capabilities.maxFrameSize,
      },
    ])
  }

  #linkDown(error: Error): void {
    if (this.#status === 'closed' || this.#link === 'down') return
    this.#link = 'down'
    this.#outbox = []
    this.#outboxBytes = 0
    this.#dropHeld()
    this.#setStatus('connecting', error)
    for (const store of this.#stores.values()) store._linkDown(error)
    this.#storesByOpenId.clear()
    this.#writerRequests.clear()
    this.#writerRequestOf.clear()
    this.#events.linkDown()
  }

  #welcome(hubInstance: string, heartbeatMs: number, maxFrameSize: number): void {
    const restarted = this.#hubInstance !== undefined && this.#hubInstance !== hubInstance
    this.#hubInstance = hubInstance
    const period = heartbeatMs > 0 ? heartbeatMs : DEFAULT_HEARTBEAT
    if (period !== this.#heartbeatMs) {
      // Tick at the hub's pace: it drops peers silent for three of its heartbeats.
      this.#heartbeatMs = period
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
      this.#armTick()
    }
    this.#maxFrame = Math.min(this.config.transport.capabilities.maxFrameSize, maxFrameSize)
    this.#link = 'ready'
    this.#setStatus('connected')
    // Write-only handles are checked again by this hub (restarted, or its authorizer
    // changed) before their writes are resent on the link.
    for (const writer of this.#writers) writer._linkUp()
    for (const [id, pending] of this.#writes) {
      if (pending.sent && restarted) {
        // The hub that got it is gone; it may have committed it. Resending could apply it twice.
        this.#writes.delete(id)
        this.metrics.writesInDoubt++
        pending.failed(
          new UnavailableError(
            'the hub restarted before acknowledging this write; it may or may not have been applied',
          ),
        )
        continue
      }
      if (pending.sent) this.metrics.writesResent++
      else this.metrics.writesSent++
      pending.sent = true
      this.#send(pending.message)
    }
    this.#events.welcome()
    this.#reads.welcome()
    for (const store of this.#stores.values()) if (!this.#subscribing.has(store)) store._linkUp()
  }

  #onFrame(frame: Uint8Array, topic: string | undefined): void {
    if (this.#status === 'closed') return
    this.#lastHeard = this.#silence.now()
    let messages: HubMessage[]
    try {
      // Views: every value is decoded by its schema (which copies what it keeps) before the
      // frame is let go; only raw event payloads reach the user, and they are copied.
      messages = decodeFrame(frame, this.config.transport.capabilities.maxFrameSize, 'views') as HubMessage[]
    } catch (error) {
      this.#refused(error)
      return
    }
    for (const message of messages) {
      try {
        this.#handle(message, topic)
      } catch (error) {
        this.#refused(error)
      }
    }
  }

  /** Counts a message from the hub refused (S9.1) under its error's code; anything else as malformed. */
  #refused(error: unknown): void {
    count(this.metrics.refused, isConcordError(error) ? error.code : ProtocolError.code)
  }

  #handle(message: HubMessage, topic: string | undefined): void {
    if (message.type < MessageType.WELCOME) {
      // A message for hubs.
      this.#refused(undefined)
      return
    }
    if (message.type === MessageType.WELCOME) {
      if (topic === undefined) this.#welcome(message.hubInstance, message.heartbeatMs, message.maxFrameSize)
      return
    }
    if (message.type === MessageType.HUB_BEAT) {
      // A hub we are not welcomed by (it restarted and the transport reconnected quietly): say hello.
      if (this.#link === 'ready' && message.hubInstance !== this.#hubInstance) this.#sendHello()
      return
    }
    if (message.type === MessageType.EVENT) return this.#events.deliver(message)
    if (message.type === MessageType.MUTATIONS) {
      const store = this.#stores.get(message.store)
      if (store === undefined) return
      if (topic !== undefined && topic !== storeTopic(store)) return
      return store._mutations(message, topic === undefined)
    }
    if (message.type === MessageType.HEARTBEAT) {
      const store = this.#stores.get(message.store)
      if (store !== undefined && topic === storeTopic(store)) store._heartbeat(message.epoch, message.seq)
      return
    }
    if (topic !== undefined) {
      // An answer to one node, broadcast.
      this.#refused(undefined)
      return
    }
    switch (message.type) {
      case MessageType.OPENED:
        return this.#storesByOpenId.get(message.openId)?._opened(message)
      case MessageType.SNAPSHOT_CHUNK:
        return this.#storesByOpenId.get(message.openId)?._chunk(message)
      case MessageType.SYNC_END:
        return this.#storesByOpenId.get(message.openId)?._syncEnd(message)
      case MessageType.WRITE_ACK: {
        const pending = this.#writes.get(message.writeId)
        if (pending === undefined) return
        this.#writes.delete(message.writeId)
        return pending.acked({ seq: message.seq, applied: message.applied }, this.#downTime())
      }
      case MessageType.WRITE_ACKS: {
        const downAt = this.#downTime()
        for (let i = 0; i < message.count; i++) {
          const pending = this.#writes.get(message.firstWriteId + i)
          if (pending === undefined) continue
          this.#writes.delete(message.firstWriteId + i)
          pending.acked({ seq: message.firstSeq + i, applied: true }, downAt)
        }
        return
      }
      case MessageType.WRITE_ERR: {
        const pending = this.#writes.get(message.writeId)
        if (pending === undefined) return
        this.#writes.delete(message.writeId)
        const error = errorFromWire(message.code, message.message, message.details)
        count(this.metrics.writeErrors, error.code)
        if (error instanceof ConflictError && error.actualSeq !== undefined) {
          return pending.refusedAt(error.actualSeq, error, this.#downTime())
        }
        return pending.failed(error)
      }
      case MessageType.PUBLISH_ACK:
        return this.#events.published(message.pubId)
      case MessageType.SUBSCRIBED:
        void this.#events.subscribed(message.reqId)
        return
      case MessageType.WRITER_READY: {
        return this.#takeWriterRequest(message.reqId)?._accepted()
      }
      case MessageType.READ_VALUE:
        return this.#reads.answered(message)
      case MessageType.PONG:
        return
      case MessageType.ERROR:
        return this.#error(message)
    }
  }

  /** Forgets `writer`'s check still waiting for an answer, if it has one. */
  #forgetWriterRequest(writer: StoreWriter<unknown, unknown>): void {
    const reqId = this.#writerRequestOf.get(writer)
    if (reqId === undefined) return
    this.#writerRequestOf.delete(writer)
    this.#writerRequests.delete(reqId)
  }

  /** The writer whose check `reqId` answers, now answered; undefined for an unknown id. */
  #takeWriterRequest(reqId: number): StoreWriter<unknown, unknown> | undefined {
    const writer = this.#writerRequests.get(reqId)
    if (writer === undefined) return undefined
    this.#writerRequests.delete(reqId)
    this.#writerRequestOf.delete(writer)
    return writer
  }

  #error(message: ErrorMessage): void {
    const error = errorFromWire(message.code, message.message, message.details)
    switch (message.reqKind) {
      case MessageType.OPEN: {
        const store = message.reqId === null ? undefined : this.#storesByOpenId.get(message.reqId)
        if (store !== undefined) {
          this.#storesByOpenId.delete(message.reqId!)
          store._openFailed(error)
        }
        return
      }
      case MessageType.PUBLISH: {
        if (message.reqId !== null) this.#events.publishRefused(message.reqId, error)
        return
      }
      case MessageType.WRITER: {
        if (message.reqId !== null) this.#takeWriterRequest(message.reqId)?._refused(error)
        return
      }
      case MessageType.SUBSCRIBE: {
        if (message.reqId !== null) this.#events.subscribeRefused(message.reqId, error)
        return
      }
      case MessageType.READ: {
        if (message.reqId !== null) this.#reads.refused(message.reqId, error)
        return
      }
      default:
        // The hub does not know this link (it restarted and the transport reconnected quietly).
        if (
          message.code === ProtocolError.code &&
          message.message.includes('HELLO') &&
          this.#link === 'ready'
        ) {
          this.#sendHello()
        } else {
          count(this.metrics.refusedByHub, error.code)
        }
    }
  }

  #armTick(): void {
    this.#silence.armed(this.#heartbeatMs)
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#heartbeatMs)
  }

  #tick(): void {
    if (this.#status === 'closed') return
    // Fired late, this node stalled: what the hub sent meanwhile is still unread (S6.2).
    this.#silence.fired(this.#heartbeatMs)
    this.metrics.stalls = this.#silence.stalls
    const now = this.#elapsed()
    const quiet = this.#silence.now()
    const staleAfter = this.#staleAfterConfig ?? 3 * this.#heartbeatMs
    if (this.#link !== 'down' && quiet - this.#lastHeard > staleAfter) {
      // Silence (S6.2): count the link as lost and let the transport build a new one.
      this.#linkDown(
        new UnavailableError(`no word from the hub for ${Math.round(quiet - this.#lastHeard)} ms`),
      )
      this.#endpoint?.reconnect()
    } else if (this.#link === 'ready' && now - this.#lastSent >= this.#heartbeatMs) {
      this.#send({ type: MessageType.PING, nonce: now & 0x7fffffff })
    }
    if (this.#link === 'ready') for (const store of this.#stores.values()) store._watchdog(quiet, staleAfter)
    this.#expire(now)
    if (this.#status === 'connecting') this.#expireAnswered()
    this.#armTick()
  }

  /** Writes and publishes older than `writeTimeout` reject with `UnavailableError` (S3.7). */
  #expire(now: number): void {
    const cutoff = now - this.#writeTimeout
    for (const [id, pending] of this.#writes) {
      if (pending.issuedAt > cutoff) break
      this.#writes.delete(id)
      this.metrics.writeTimeouts++
      pending.failed(
        new UnavailableError(
          pending.sent
            ? `no answer from the master within ${this.#writeTimeout} ms; the write may or may not have been applied`
            : `the master was unreachable for ${this.#writeTimeout} ms`,
        ),
      )
    }
    this.#events.expire(cutoff, this.#writeTimeout)
    this.#reads.expire(cutoff, this.#writeTimeout)
  }

  /**
   * Writes the master answered, whose clone has not applied their seq, with the link down
   * for `writeTimeout` since the answer (in all: the time the link was up does not count),
   * stop waiting: the hub may never come back to deliver the seq (see the core README).
   * Called only while the link is down: a sync under way delivers them, however long it takes.
   */
  #expireAnswered(): void {
    const cutoff = this.#downTime() - this.#writeTimeout
    for (const store of this.#stores.values())
      this.metrics.ackedWriteTimeouts += store._expireAnswered(cutoff, this.#writeTimeout)
  }

  // ---- frames out --------------------------------------------------------------------------

  #send(message: NodeMessage): void {
    if (this.#link !== 'ready' && message.type !== MessageType.HELLO) return
    this.#outbox.push(message)
    this.#outboxBytes += sizeOf(message)
    // Moderate frames: the hub starts on the first part of a burst while the rest is built.
    if (this.#outboxBytes > Math.min(FLUSH_BYTES, this.#maxFrame / 2)) return this.#flush()
    if (!this.#flushScheduled) {
      // Everything sent within this task and its microtasks travels in one frame; the first
      // write of an idle node leaves at once instead of waiting for the next loop turn.
      this.#flushScheduled = true
      queueMicrotask(() => {
        this.#flushScheduled = false
        this.#flush()
      })
    }
  }

  /** Takes `message` back out of the outbox, if it has not been flushed yet. */
  #unsend(message: NodeMessage): void {
    const at = this.#outbox.indexOf(message)
    if (at < 0) return
    this.#outbox.splice(at, 1)
    this.#outboxBytes -= sizeOf(message)
  }

  #flush(): void {
    if (this.#outbox.length === 0) return
    const outbox = this.#outbox
    this.#outbox = []
    this.#outboxBytes = 0
    this.#sendNow(outbox)
  }

  #sendNow(messages: NodeMessage[]): void {
    const endpoint = this.#endpoint
    if (endpoint === undefined) return
    this.#lastSent = this.#elapsed()
    const frame = encodeFrame(messages)
    if (this.#held.length === 0 && endpoint.send(frame)) return
    if (this.#link !== 'ready') return
    // The link's bounded queue is full (a burst bigger than it): the frame waits its turn
    // behind the others held, in order, and goes when there is room. Dropping the link
    // instead would resend the same burst on the next one, and again (S3.7).
    this.#held.push(frame)
    if (this.#held.length === 1) {
      this.#heldSince = this.#heldClock.now()
      this.#retryMs = 1
      this.#retryHeld()
    }
  }

  #retryHeld(): void {
    this.#heldClock.armed(this.#retryMs)
    this.#retryTimer = this.#clock.setTimeout(() => this.#sendHeld(), this.#retryMs)
  }

  /** Sends the frames held back by a full queue, in order, as far as the link takes them. */
  #sendHeld(): void {
    this.#retryTimer = undefined
    // Fired late, this node stalled: the link was not asked meanwhile (S3.7, S6.2).
    this.#heldClock.fired(this.#retryMs)
    const endpoint = this.#endpoint
    if (endpoint === undefined || this.#link !== 'ready') return this.#dropHeld()
    const now = this.#heldClock.now()
    let sent = 0
    while (sent < this.#held.length && endpoint.send(this.#held[sent]!)) sent++
    if (sent > 0) {
      this.#held.splice(0, sent)
      this.#heldSince = now
      this.#retryMs = 1
    }
    if (this.#held.length === 0) return
    const staleAfter = this.#staleAfterConfig ?? 3 * this.#heartbeatMs
    if (now - this.#heldSince > staleAfter) {
      // Nothing taken for that long: the link is as good as lost. Start over on a new one;
      // pending writes are resent there and the hub answers duplicates from its table.
      this.#linkDown(
        new UnavailableError(`the link to the hub took no frame for ${Math.round(now - this.#heldSince)} ms`),
      )
      endpoint.reconnect()
      return
    }
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS)
    this.#retryHeld()
  }

  /** Forgets held frames: what they carried is resent on the next link (writes, opens, subscriptions). */
  #dropHeld(): void {
    this.#held = []
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#status === 'closed') throw new ClosedError('the node is closed')
  }

  /** Closes every store handle and subscription and the link; pending work rejects with `ClosedError`. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#setStatus('closed')
    clearInterval(this.#keepAlive)
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    const error = new ClosedError('the node is closed')
    for (const store of [...this.#stores.values()]) await store.close()
    for (const writer of [...this.#writers]) await writer.close()
    for (const pending of this.#writes.values()) pending.failed(error)
    this.#writes.clear()
    this.#events.close(error)
    this.#reads.close(error)
    // Last, after what closing the stores and subscriptions sent: the hub forgets the link
    // on BYE, and would count anything after it as from a stranger (S9.1).
    if (this.#link === 'ready') {
      this.#send({ type: MessageType.BYE })
      this.#flush()
    }
    this.#dropHeld()
    await this.#endpoint?.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

/** A limit from the config: a positive number (NaN or 0 would make its bound none or every message). */
function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !(value > 0))
    throw new RangeError(`${name} must be a positive number, got ${value}`)
  return value
}

function storeTopic(store: Clone): string {
  return store.prefix === '' ? Topics.store(store.name) : Topics.view(store.name, store.prefix)
}

function sizeOf(message: NodeMessage): number {
  if (message.type === MessageType.WRITE)
    return 48 + message.key.length * 3 + (message.value?.byteLength ?? 0)
  if (message.type === MessageType.PUBLISH) return 48 + message.topic.length * 3 + message.payload.byteLength
  if (message.type === MessageType.READ) return 48 + message.key.length * 3
  return 32
}

/**
 * The refusal of a clone's subscription to its store, in the words of the access rules. The
 * transport's own error, which leads with a raw topic (`s|kv|`) that means nothing to the
 * caller, becomes the cause and the detail in parentheses (it names the identity refused).
 */
function readRefused(name: string, prefix: string, error: Error): ForbiddenError {
  const what = prefix === '' ? `store '${name}'` : `store '${name}' (the view of '${prefix}')`
  return new ForbiddenError(
    `may not read ${what}: the hub refused the clone's subscription (${error.message})`,
    {
      cause: error,
    },
  )
}
