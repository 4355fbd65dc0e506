import { type Schema, schemasCompatible } from '@concord/schema/contract'
import {
  ClosedError,
  type ConcordError,
  ConflictError,
  ForbiddenError,
  isConcordError,
  PersistenceError,
  ProtocolError,
  SchemaMismatchError,
  TooLargeError,
  UnavailableError,
  UnknownOperationError,
  UnknownStoreError,
  ValidationError,
  type WireError,
} from '../errors.js'
import { updateRegistry } from '../ops.js'
import {
  type Action,
  type Authorizer,
  allowAll,
  longestTopicMatch,
  rulesAuthorizer,
} from '../ports/authorizer.js'
import { type Clock, elapsedOf, systemClock, type TimerHandle } from '../ports/clock.js'
import type { Persistence, SnapshotCursor, StoredEntry } from '../ports/persistence.js'
import type { HubEndpoint, PeerInfo } from '../ports/transport.js'
import { decodeFrame, encodeFrame, encodeWireFrame, toWire, wireSize } from '../protocol/codec.js'
import {
  type HubMessage,
  type Message,
  MessageType,
  type NodeMessage,
  type Open,
  PROTOCOL_VERSION,
  type Publish,
  type Read,
  type Subscribe,
  type Write,
  WriteKind,
  type Writer,
} from '../protocol/messages.js'
import { throwIfAborted } from '../util/abort.js'
import { count } from '../util/counters.js'
import { toMillis } from '../util/duration.js'
import { randomId } from '../util/ids.js'
import { checkName, checkSchema, eventPrefixOf, Topics } from '../util/names.js'
import { SilenceClock } from '../util/silence-clock.js'
import type { HubConfig, StoreConfig } from './hub-config.js'
import { Master, type MasterConfig, type Settlement } from './master.js'
import { type HubMetrics, newHubMetrics } from './metrics.js'
import { entrySize, type FlatMutations, MutationChunker } from './mutation-chunker.js'
import type { CommittedBatch } from './mutation-log.js'
import { DEPARTED_WHOLE_ERRORS, WHOLE_ERRORS, WriteResults } from './write-results.js'

/** The smallest frame limit a node may ask for: below it, frames would not carry their headers. */
const MIN_PEER_FRAME = 4096

interface OpenState {
  readonly store: string
  readonly prefix: string
  cursor: SnapshotCursor | undefined
  /** Rows read from the cursor that did not fit the last chunk (long keys). */
  rest: Array<readonly [key: string, entry: StoredEntry]> | undefined
  /** A log replay under way (S6.3): its batches, and the seq it ends at. */
  replay: { readonly chunks: MutationChunker; readonly endSeq: number } | undefined
  /** Chunks (of a snapshot or a replay) in the peer's outbox, not handed to the transport yet. */
  queued: number
  /**
   * Chunks handed to the transport and not yet credited. With `queued`, at most
   * `snapshotWindow`: a credit returns one of these, a chunk that left the hub, and nothing
   * else widens the window.
   */
  unacked: number
}

interface PeerState {
  readonly info: PeerInfo
  nodeId: string | undefined
  groups: readonly string[]
  lastSeen: number
  readonly opens: Map<number, OpenState>
  /** Wire messages waiting for this turn's flush. */
  outbox: unknown[]
  outboxBytes: number
  /** Snapshot and replay chunks in `outbox` (see {@link OpenState.queued}). */
  queuedChunks: number
  readonly allowed: Map<string, boolean>
  /** The largest frame this node accepts (from its HELLO) and the hub sends. */
  maxFrame: number
}

/** What a node asks the hub to check a store for: a clone, a one-key read, a write-only handle. */
type Handle = 'clone' | 'reader' | 'writer'

interface NodeState {
  peerId: string | undefined
  lastWriteId: number
  /** Outcomes of recent writes, for writes resent after a reconnect. */
  results: WriteResults
}

/** Where a store's master lives once started. */
interface StoreState {
  readonly config: MasterConfig
  readonly master: Master
  /** Prefix views with open clones, and how many. */
  readonly views: Map<string, number>
}

/**
 * A hub: hosts the masters of its stores and routes events (see docs/ARCHITECTURE.md).
 * Build one with `createHub`; it is listening once that resolves.
 */
export class Hub implements AsyncDisposable {
  /** Random per start: nodes tell a restarted hub from a reconnect by it. */
  readonly instance = randomId()
  readonly metrics: HubMetrics = newHubMetrics()
  readonly #stores = new Map<string, StoreState>()
  readonly #peers = new Map<string, PeerState>()
  readonly #nodes = new Map<string, NodeState>()
  readonly #dirty = new Set<PeerState>()
  readonly #eventTopics = new Map<string, { stream: number; seq: number }>()
  readonly #eventBatches = new Map<string, { wire: unknown[]; bytes: number }>()
  /** Per event topic, the transport topic of its batch this turn (see `#publish`). */
  readonly #eventBatchOf = new Map<string, string>()
  /**
   * Event stream ids start at a random base per hub start, so a subscriber never mistakes a
   * restarted hub's numbering for duplicates of the old one's.
   */
  #nextStream = Math.floor(Math.random() * 2 ** 20) * 2 ** 32 + 1
  #flushScheduled = false
  #endpoint: HubEndpoint | undefined
  #heartbeatTimer: TimerHandle | undefined
  #state: 'new' | 'open' | 'closing' | 'closed' = 'new'
  #closing: Promise<void> | undefined
  readonly #clock: Clock
  /** Heartbeat silence is measured on this: elapsed time (see {@link Clock.elapsed}) less this hub's stalls. */
  readonly #silence: SilenceClock
  readonly #authorizer: Authorizer
  readonly #heartbeatMs: number
  readonly #maxFrame: number
  /** The smallest frame limit of the linked nodes (see `#updateBroadcastFrame`). */
  #broadcastFrame: number
  readonly #chunkBytes: number
  readonly #chunkEntries: number
  readonly #window: number
  readonly #resultsPerNode: number
  readonly #rememberedNodes: number
  readonly #departedResults: number
  /** The capacity of a new outcome table: dropping one this small frees nothing. */
  readonly #smallestTable: number
  readonly #maxEventTopics: number
  readonly #topicSchemas: [string, Schema][]

  constructor(readonly config: HubConfig) {
    this.#clock = config.clock ?? systemClock
    this.#silence = new SilenceClock(elapsedOf(this.#clock))
    this.#authorizer = config.authorizer ?? (config.access ? rulesAuthorizer(config.access) : allowAll)
    this.#heartbeatMs = toMillis(config.heartbeat ?? 1000)
    this.#maxFrame = config.transport.capabilities.maxFrameSize
    this.#broadcastFrame = this.#maxFrame
    const limits = config.limits ?? {}
    this.#chunkBytes = Math.min(limits.snapshotChunkBytes ?? 256 * 1024, Math.floor(this.#maxFrame / 2))
    this.#chunkEntries = limits.snapshotChunkEntries ?? 4096
    this.#window = limits.snapshotWindow ?? 4
    this.#resultsPerNode = limits.writeResultsPerNode ?? 65_536
    this.#rememberedNodes = limits.rememberedNodes ?? 4096
    this.#departedResults = limits.departedWriteResults ?? 1_048_576
    this.#smallestTable = new WriteResults(this.#resultsPerNode).capacity
    this.#maxEventTopics = limits.eventTopics ?? 65_536
    this.#topicSchemas = Object.entries(config.topics ?? {}).map(([prefix, topic]) => [
      prefix,
      checkSchema(`topic '${prefix}'`, topic?.schema),
    ])
    for (const [name, store] of Object.entries(config.stores ?? {})) {
      checkName('store', name)
      checkSchema(`store '${name}'`, store?.schema)
    }
  }

  /** The address nodes connect to. */
  get address(): string {
    if (this.#endpoint === undefined) throw new ClosedError('the hub is not listening')
    return this.#endpoint.address
  }

  /** The names of the stores this hub is master of. */
  get storeNames(): string[] {
    return [...this.#stores.keys()]
  }

  /** The master of `store`, for inspection (tests, tools). */
  master(store: string): Master | undefined {
    return this.#stores.get(store)?.master
  }

  /** Opens every store's persistence, recovers, expires what fell due, then listens. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#state !== 'new') throw new Error('a hub starts once')
    throwIfAborted(signal)
    this.#state = 'open'
    const defaultPersistence = this.config.persistence
    try {
      for (const [name, store] of Object.entries(this.config.stores ?? {})) {
        const persistence = store.persistence ?? defaultPersistence
        if (persistence === undefined) throw new TypeError(`store '${name}' has no persistence`)
        await this.#startStore(name, store, persistence, signal)
      }
      this.#endpoint = await this.config.transport.listen(
        this.config.listen,
        {
          peerJoined: (peer) => this.#peerJoined(peer),
          peerLeft: (peer) => this.#peerLeft(peer),
          frame: (peer, frame) => this.#onFrame(peer, frame),
          authorizeSubscription: (peer, topic) => this.#authorizeSubscription(peer, topic),
          refused: (_peer, error) => count(this.metrics.refused, error.code),
        },
        { signal },
      )
    } catch (error) {
      await this.close()
      throwIfAborted(signal)
      throw error
    }
    this.#armHeartbeat()
  }

  async #startStore(
    name: string,
    store: StoreConfig,
    persistence: Persistence,
    signal?: AbortSignal,
  ): Promise<void> {
    const frameValueLimit = Math.floor(this.#maxFrame / 4)
    const config: MasterConfig = {
      name,
      schema: store.schema,
      expiry: store.expiry === undefined ? undefined : toMillis(store.expiry),
      ops: updateRegistry(store.ops),
      maxValueSize: Math.min(store.maxValueSize ?? 1024 * 1024, frameValueLimit),
      expiryTolerance: toMillis(store.expiryTolerance ?? 100),
      logMaxMutations: store.log?.maxMutations ?? 100_000,
      logMaxBytes: store.log?.maxBytes ?? 64 * 1024 * 1024,
    }
    const backend = await persistence.open(name, {
      fingerprint: store.schema.fingerprint,
      compatible: (stored) => schemasCompatible(store.schema, stored),
      signal,
    })
    const master = await Master.start(config, backend, this.#clock, {
      committed: (m, batch) => this.#broadcastBatch(m, batch),
      settled: (_m, settlements, error) => this.#settle(settlements, error),
    })
    this.#stores.set(name, { config, master, views: new Map() })
  }

  /** Stops listening, commits what is pending, closes every store. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#state = 'closing'
    if (this.#heartbeatTimer !== undefined) this.#clock.clearTimeout(this.#heartbeatTimer)
    for (const store of this.#stores.values()) await store.master.drain()
    this.#flush()
    await this.#endpoint?.close()
    for (const peer of this.#peers.values()) this.#dropPeerState(peer)
    this.#peers.clear()
    for (const store of this.#stores.values()) await store.master.close()
    this.#state = 'closed'
  }

  /**
   * Stops at once without committing or answering anything more: what a crash does. For
   * tests with the in-memory transport and persistence; the transport endpoint is left to
   * the test's fault injector (`faults.killHub`).
   */
  abort(): void {
    this.#state = 'closed'
    this.#closing ??= Promise.resolve()
    if (this.#heartbeatTimer !== undefined) this.#clock.clearTimeout(this.#heartbeatTimer)
    for (const store of this.#stores.values()) store.master.abort()
    for (const peer of this.#peers.values()) this.#dropPeerState(peer)
    this.#peers.clear()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  // ---- peers -------------------------------------------------------------------------------

  #peerJoined(info: PeerInfo): void {
    if (this.#state !== 'open') return
    this.#peers.set(info.id, {
      info,
      nodeId: undefined,
      groups: [],
      lastSeen: this.#silence.now(),
      opens: new Map(),
      outbox: [],
      outboxBytes: 0,
      queuedChunks: 0,
      allowed: new Map(),
      maxFrame: this.#maxFrame,
    })
  }

  #peerLeft(info: PeerInfo): void {
    const peer = this.#peers.get(info.id)
    if (peer === undefined) return
    this.#peers.delete(info.id)
    this.#dropPeerState(peer)
    if (peer.maxFrame < this.#maxFrame) this.#updateBroadcastFrame()
  }

  /**
   * Broadcasts are encoded once for every receiver, so they are cut to the smallest frame a
   * linked node accepts; unicast frames (acks, snapshot chunks, replays) to each node's own.
   */
  #updateBroadcastFrame(): void {
    let smallest = this.#maxFrame
    for (const peer of this.#peers.values()) smallest = Math.min(smallest, peer.maxFrame)
    this.#broadcastFrame = smallest
  }

  #dropPeerState(peer: PeerState): void {
    for (const open of peer.opens.values()) this.#closeOpen(open)
    peer.opens.clear()
    this.#dirty.delete(peer)
    if (peer.nodeId !== undefined) {
      const node = this.#nodes.get(peer.nodeId)
      if (node?.peerId === peer.info.id) {
        node.peerId = undefined
        node.results.keepWhole(DEPARTED_WHOLE_ERRORS)
        this.#boundDeparted()
      }
    }
  }

  /**
   * The outcome tables of nodes that left, which answer the writes a node resends when it
   * links again, are bounded in total (`departedWriteResults`): past it the nodes that left
   * first lose theirs and keep only their last write id. A write such a node resends is then
   * answered "may or may not have been applied" (UnavailableError), never applied twice.
   */
  #boundDeparted(): void {
    let held = 0
    for (const node of this.#nodes.values()) if (node.peerId === undefined) held += node.results.capacity
    for (const node of this.#nodes.values()) {
      if (held <= this.#departedResults) return
      if (node.peerId !== undefined || node.results.capacity <= this.#smallestTable) continue
      held -= node.results.capacity - this.#smallestTable
      node.results = new WriteResults(this.#resultsPerNode)
      this.metrics.forgottenWriteTables++
    }
  }

  #closeOpen(open: OpenState): void {
    open.cursor?.close()
    open.cursor = undefined
    open.rest = undefined
    open.replay = undefined
    if (open.prefix === '') return
    const views = this.#stores.get(open.store)?.views
    const n = (views?.get(open.prefix) ?? 0) - 1
    if (n > 0) views?.set(open.prefix, n)
    else views?.delete(open.prefix)
  }

  #allowed(peer: PeerState, action: Action, store: string): boolean {
    const key = `${action}|${store}`
    let allowed = peer.allowed.get(key)
    if (allowed === undefined) {
      allowed = this.#authorizer.authorize(peer.info.identity, action, { store })
      peer.allowed.set(key, allowed)
    }
    return allowed
  }

  #authorizeSubscription(info: PeerInfo, topic: string): boolean {
    if (this.#state !== 'open') return false
    const identity = info.identity
    if (topic === Topics.hub) return true
    // Transports deliver every topic a granted subscription is a raw prefix of: a grant must
    // end where what it names ends (a store name's `|`, a segment boundary), or it would
    // carry the broadcasts of `pubsecret` to a reader of `pub` (S8.2).
    const kind = topic.slice(0, 2)
    const rest = topic.slice(2)
    const bar = rest.indexOf('|')
    if (kind === 's|' || kind === 'v|') {
      if (bar <= 0 || (kind === 's|' && bar !== rest.length - 1)) return false
      // An unknown store has nothing to read: let the subscription through so that OPEN is
      // answered with UnknownStoreError rather than a refused subscription.
      if (this.#authorizer.authorize(identity, 'read', { store: rest.slice(0, bar) })) return true
      // The clone's open rejects with ForbiddenError without sending OPEN: count it here.
      count(this.metrics.opensRefused, ForbiddenError.code)
      return false
    }
    const prefix =
      kind === 'e|'
        ? eventPrefixOf(rest)
        : kind === 'g|' && bar > 0
          ? eventPrefixOf(rest.slice(bar + 1))
          : undefined
    return prefix !== undefined && this.#authorizer.authorize(identity, 'subscribe', { topic: prefix })
  }

  // ---- frames in ---------------------------------------------------------------------------

  #onFrame(info: PeerInfo, frame: Uint8Array): void {
    const peer = this.#peers.get(info.id)
    if (peer === undefined || this.#state !== 'open') return
    this.metrics.framesIn++
    peer.lastSeen = this.#silence.now()
    let messages: Message[]
    try {
      // Views, not a copy per value: what the hub keeps is copied where it is kept (a committed
      // batch's values into one buffer for the log; backends copy what they store).
      messages = decodeFrame(frame, this.#maxFrame, 'views')
    } catch (error) {
      this.#refuse(peer, 0, null, error as ConcordError)
      return
    }
    for (const message of messages) {
      if (message.type >= MessageType.WELCOME) {
        this.#refuse(
          peer,
          message.type,
          null,
          new ProtocolError(`message type ${message.type} is not for a hub`),
        )
        continue
      }
      if (message.type !== MessageType.HELLO && peer.nodeId === undefined) {
        this.#refuse(peer, message.type, null, new ProtocolError('HELLO must come first on a link'))
        continue
      }
      this.#handle(peer, message as NodeMessage)
    }
  }

  /** A frame or message broke the protocol (S9.1): answer, count, go on. */
  #refuse(peer: PeerState, reqKind: number, reqId: number | null, error: ConcordError): void {
    count(this.metrics.refused, error.code)
    this.#answerError(peer, reqKind, reqId, error)
  }

  /** A request (OPEN, SUBSCRIBE, PUBLISH) failed: tell its sender. */
  #answerError(peer: PeerState, reqKind: number, reqId: number | null, error: ConcordError): void {
    const details = error instanceof SchemaMismatchError ? { hub: error.local, peer: error.remote } : null
    this.#queue(peer, {
      type: MessageType.ERROR,
      reqKind,
      reqId,
      code: error.code,
      message: error.message,
      details,
    })
  }

  #handle(peer: PeerState, message: NodeMessage): void {
    switch (message.type) {
      case MessageType.HELLO:
        return this.#hello(peer, message.nodeId, message.groups, message.maxFrameSize)
      case MessageType.OPEN:
        return this.#open(peer, message)
      case MessageType.SNAPSHOT_CREDIT: {
        const open = peer.opens.get(message.openId)
        if (open === undefined) return
        if (message.credits > open.unacked) {
          // Credit for chunks that never left the hub would let a node widen its window, and
          // the hub's queue to it, without bound: the excess is refused and counted (S9.1).
          this.#refuse(
            peer,
            MessageType.SNAPSHOT_CREDIT,
            message.openId,
            new ProtocolError(
              `${message.credits} credits for open ${message.openId}, which has ${open.unacked} chunks unacknowledged`,
            ),
          )
        }
        open.unacked -= Math.min(message.credits, open.unacked)
        return open.replay === undefined
          ? this.#pumpSnapshot(peer, message.openId, open)
          : this.#pumpReplay(peer, message.openId, open)
      }
      case MessageType.CLOSE_STORE: {
        const open = peer.opens.get(message.openId)
        if (open === undefined) return
        peer.opens.delete(message.openId)
        return this.#closeOpen(open)
      }
      case MessageType.WRITE:
        return this.#write(peer, message)
      case MessageType.PUBLISH:
        return this.#publish(peer, message)
      case MessageType.SUBSCRIBE:
        return this.#subscribe(peer, message)
      case MessageType.WRITER:
        return this.#writer(peer, message)
      case MessageType.READ:
        return this.#read(peer, message)
      case MessageType.PING:
        return this.#queue(peer, { type: MessageType.PONG, nonce: message.nonce })
      case MessageType.BYE:
        return this.#endpoint?.disconnect(peer.info.id, 'bye')
    }
  }

  #hello(peer: PeerState, nodeId: string, groups: readonly string[], maxFrameSize: number): void {
    try {
      for (const group of groups) checkName('group', group)
    } catch (error) {
      return this.#refuse(peer, MessageType.HELLO, null, new ProtocolError((error as Error).message))
    }
    peer.nodeId = nodeId
    peer.groups = groups
    if (maxFrameSize > 0 && maxFrameSize < peer.maxFrame) {
      peer.maxFrame = Math.max(maxFrameSize, MIN_PEER_FRAME)
      this.#updateBroadcastFrame()
    }
    let node = this.#nodes.get(nodeId)
    if (node === undefined) {
      node = { peerId: undefined, lastWriteId: 0, results: new WriteResults(this.#resultsPerNode) }
      this.#nodes.set(nodeId, node)
      this.#forgetOldNodes()
    } else {
      // Most recently seen last, so the oldest are forgotten first.
      this.#nodes.delete(nodeId)
      this.#nodes.set(nodeId, node)
    }
    node.peerId = peer.info.id
    node.results.keepWhole(WHOLE_ERRORS)
    this.#queue(peer, {
      type: MessageType.WELCOME,
      version: PROTOCOL_VERSION,
      hubInstance: this.instance,
      heartbeatMs: this.#heartbeatMs,
      maxFrameSize: peer.maxFrame,
    })
  }

  #forgetOldNodes(): void {
    if (this.#nodes.size <= this.#rememberedNodes) return
    for (const [id, node] of this.#nodes) {
      if (this.#nodes.size <= this.#rememberedNodes) break
      if (node.peerId === undefined) this.#nodes.delete(id)
    }
  }

  // ---- stores ------------------------------------------------------------------------------

  /**
   * The store a clone or a reader (which read) or a writer asks for, or why it may not have
   * it: no such store, no `read` (clone, reader) or `write` (writer) permission (S8.2),
   * another schema (S2.2).
   */
  #handleStore(
    peer: PeerState,
    name: string,
    fingerprint: string,
    handle: Handle,
  ): StoreState | ConcordError {
    const store = this.#stores.get(name)
    if (store === undefined) return new UnknownStoreError(name)
    const action = handle === 'writer' ? 'write' : 'read'
    if (!this.#allowed(peer, action, name)) {
      return new ForbiddenError(`'${peer.info.identity}' may not ${action} store '${name}'`)
    }
    return schemaMismatch(store, fingerprint, handle) ?? store
  }

  #open(peer: PeerState, message: Open): void {
    const fail = (error: ConcordError) => {
      count(this.metrics.opensRefused, error.code)
      this.#answerError(peer, MessageType.OPEN, message.openId, error)
    }
    const store = this.#handleStore(peer, message.store, message.fingerprint, 'clone')
    if (isConcordError(store)) return fail(store)
    const schema = store.config.schema
    const previous = peer.opens.get(message.openId)
    if (previous !== undefined) this.#closeOpen(previous)
    const open: OpenState = {
      store: message.store,
      prefix: message.prefix,
      cursor: undefined,
      rest: undefined,
      replay: undefined,
      queued: 0,
      unacked: 0,
    }
    peer.opens.set(message.openId, open)
    if (open.prefix !== '') store.views.set(open.prefix, (store.views.get(open.prefix) ?? 0) + 1)
    const master = store.master
    const replay = master.continues(message.resumeEpoch, message.resumeSeq)
      ? master.log.since(message.resumeSeq)
      : undefined
    const base = {
      type: MessageType.OPENED,
      openId: message.openId,
      epoch: master.epoch,
      fingerprint: schema.fingerprint,
    }
    if (replay !== undefined) {
      this.metrics.resumes++
      this.#queue(peer, { ...base, mode: 1, fromSeq: message.resumeSeq })
      // Paced like a snapshot: a replay sent at once could be larger than the link's queue.
      // The open keeps the batches it replays (no copy): those the log drops meanwhile are
      // still sent, so it ends where the log ended now, and SYNC_END says so.
      open.replay = {
        chunks: new MutationChunker(replay, message.resumeSeq, open.prefix),
        endSeq: master.committedSeq,
      }
      this.#pumpReplay(peer, message.openId, open)
      return
    }
    this.metrics.snapshots++
    let snapshot: ReturnType<Master['snapshot']>
    try {
      snapshot = master.snapshot(open.prefix)
    } catch (error) {
      return this.#snapshotFailed(peer, message.openId, open, error)
    }
    open.cursor = snapshot.cursor
    this.#queue(peer, { ...base, mode: 0, fromSeq: snapshot.fromSeq })
    this.#pumpSnapshot(peer, message.openId, open)
  }

  /**
   * Checks a write-only handle (S2.2, S8.2): the store, the `write` permission alone, the
   * schema. Nothing of the store follows: no snapshot, no subscription, no broadcast.
   */
  #writer(peer: PeerState, message: Writer): void {
    const fail = (error: ConcordError) => {
      count(this.metrics.writersRefused, error.code)
      this.#answerError(peer, MessageType.WRITER, message.reqId, error)
    }
    const store = this.#handleStore(peer, message.store, message.fingerprint, 'writer')
    if (isConcordError(store)) return fail(store)
    this.metrics.writers++
    this.#queue(peer, { type: MessageType.WRITER_READY, reqId: message.reqId })
  }

  /**
   * Reads one key (a node's `read`): checked like an open (the store, the `read` permission,
   * the schema: S2.2, S8.2), answered with the key's committed value and seq, or its absence.
   * What is not committed yet is not shown: it may still fail to commit (S3.3).
   */
  #read(peer: PeerState, message: Read): void {
    const fail = (error: ConcordError) => {
      count(this.metrics.readsRefused, error.code)
      this.#answerError(peer, MessageType.READ, message.reqId, error)
    }
    const store = this.#handleStore(peer, message.store, message.fingerprint, 'reader')
    if (isConcordError(store)) return fail(store)
    let entry: StoredEntry | undefined
    try {
      entry = store.master.committed(message.key)
    } catch (error) {
      return fail(error as ConcordError)
    }
    // A value over what this node accepts in a frame could never reach it (S2.7, S9.1).
    const size = entrySize(message.key, entry?.value ?? null)
    if (size > peer.maxFrame - 1024) {
      return fail(
        new TooLargeError(
          `the entry of '${message.key}' in store '${message.store}' takes about ${size} bytes, over the ${peer.maxFrame}-byte frames this node accepts`,
        ),
      )
    }
    this.metrics.reads++
    this.#queue(peer, {
      type: MessageType.READ_VALUE,
      reqId: message.reqId,
      seq: entry?.seq ?? 0,
      value: entry?.value ?? null,
    })
  }

  /** Sends snapshot chunks while the clone has credit (S2.7: bounded chunks, flow-controlled). */
  #pumpSnapshot(peer: PeerState, openId: number, open: OpenState): void {
    while (open.cursor !== undefined && this.#mayPump(open)) {
      let rows = open.rest
      if (rows === undefined) {
        try {
          rows = open.cursor.next(
            this.#chunkEntries,
            Math.min(this.#chunkBytes, Math.floor(peer.maxFrame / 2)),
          )
        } catch (error) {
          return this.#snapshotFailed(peer, openId, open, error)
        }
      }
      open.rest = undefined
      if (rows.length === 0) {
        open.cursor.close()
        open.cursor = undefined
        const master = this.#stores.get(open.store)!.master
        this.#queue(peer, { type: MessageType.SYNC_END, openId, seq: master.committedSeq })
        break
      }
      // The cursor bounds value bytes only: keys count too, or a chunk of long keys would
      // exceed the frame limit. What does not fit in half a frame waits for the next chunk.
      let bytes = 0
      let fits = 0
      for (; fits < rows.length; fits++) {
        const [key, entry] = rows[fits]!
        const size = entrySize(key, entry.value)
        if (fits > 0 && bytes + size > peer.maxFrame / 2) break
        bytes += size
      }
      if (fits < rows.length) {
        open.rest = rows.slice(fits)
        rows = rows.slice(0, fits)
      }
      this.#countChunk(peer, open)
      const entries: (string | Uint8Array | number)[] = []
      for (const [key, entry] of rows) entries.push(key, entry.value, entry.seq)
      this.#queue(peer, { type: MessageType.SNAPSHOT_CHUNK, openId, entries })
    }
  }

  /**
   * Sends log replay chunks while the clone has credit (S6.3), each one MUTATIONS message
   * bounded like a snapshot chunk; the clone returns a credit for each. SYNC_END follows the
   * last one at once.
   */
  #pumpReplay(peer: PeerState, openId: number, open: OpenState): void {
    const replay = open.replay
    if (replay === undefined) return
    const master = this.#stores.get(open.store)!.master
    const maxBytes = Math.min(this.#chunkBytes, Math.floor(peer.maxFrame / 2))
    while (this.#mayPump(open) && !replay.chunks.done) {
      this.#countChunk(peer, open)
      const chunk = replay.chunks.next(this.#chunkEntries, maxBytes)
      this.#queue(peer, this.#mutationsMessage(master, chunk.from, chunk.to, chunk.muts))
    }
    if (!replay.chunks.done) return
    open.replay = undefined
    this.#queue(peer, { type: MessageType.SYNC_END, openId, seq: replay.endSeq })
  }

  /** Whether the open's window has room for another chunk. */
  #mayPump(open: OpenState): boolean {
    return open.queued + open.unacked < this.#window
  }

  /** A chunk of `open` is about to be queued (before `#queue`, which may flush it at once). */
  #countChunk(peer: PeerState, open: OpenState): void {
    open.queued++
    peer.queuedChunks++
  }

  #mutationsMessage(master: Master, from: number, to: number, muts: FlatMutations): HubMessage {
    return { type: MessageType.MUTATIONS, store: master.name, epoch: master.epoch, from, to, muts }
  }

  /**
   * Reading the store for a snapshot failed (a damaged file, S9.2): that open ends with the
   * error (`PersistenceError`), the hub and its other clones go on.
   */
  #snapshotFailed(peer: PeerState, openId: number, open: OpenState, cause: unknown): void {
    if (peer.opens.get(openId) === open) peer.opens.delete(openId)
    this.#closeOpen(open)
    const error = isConcordError(cause)
      ? cause
      : new PersistenceError(`reading store '${open.store}' failed: ${(cause as Error)?.message ?? cause}`, {
          cause,
        })
    count(this.metrics.opensRefused, error.code)
    this.#answerError(peer, MessageType.OPEN, openId, error)
  }

  #write(peer: PeerState, message: Write): void {
    const node = this.#nodes.get(peer.nodeId!)!
    if (message.writeId <= node.lastWriteId) {
      this.metrics.duplicateWrites++
      if (!node.results.has(message.writeId)) {
        return this.#writeError(
          peer,
          message.writeId,
          new UnavailableError(
            'a resent write whose outcome the hub no longer remembers; it may or may not have been applied',
          ),
        )
      }
      const result = node.results.get(message.writeId)
      if (result === undefined) return // still pending: its ack goes to the node's current link
      if ('code' in result)
        return this.#queue(peer, { type: MessageType.WRITE_ERR, writeId: message.writeId, ...toErr(result) })
      return this.#queue(peer, { type: MessageType.WRITE_ACK, writeId: message.writeId, ...result })
    }
    node.lastWriteId = message.writeId
    const store = this.#stores.get(message.store)
    let error: ConcordError | undefined
    // An identity that may write but not read learns of a write only whether it was taken
    // and its seq, never what the store holds (S8.2; see the core README).
    let blind = false
    let decided = false
    if (store === undefined) error = new UnknownStoreError(message.store)
    else if (!this.#allowed(peer, 'write', message.store)) {
      error = new ForbiddenError(`'${peer.info.identity}' may not write store '${message.store}'`)
    } else if (
      (blind = readsState(message) && !this.#allowed(peer, 'read', message.store)) &&
      answersWithState(message)
    ) {
      error = new ForbiddenError(
        `'${peer.info.identity}' may write store '${message.store}' but not read it, and ${message.kind === WriteKind.CAS ? 'compareAndSet' : 'putIfAbsent'} answers with what the store holds`,
      )
    } else {
      node.results.record(message.writeId)
      try {
        store.master.apply(message, {
          peerId: peer.info.id,
          nodeId: peer.nodeId!,
          writeId: message.writeId,
          identity: peer.info.identity,
          blind,
        })
        return
      } catch (caught) {
        decided = true
        error = isConcordError(caught)
          ? caught
          : new ProtocolError(`write failed: ${String(caught)}`, { cause: caught })
      }
    }
    // What the master decided on an update (an op's refusal) may rest on the stored value.
    const wire =
      blind && decided && message.kind === WriteKind.UPDATE && error.code !== UnknownOperationError.code
        ? untold(error, message)
        : wireError(error)
    node.results.record(message.writeId, wire)
    this.#writeError(peer, message.writeId, error, wire)
  }

  #writeError(peer: PeerState, writeId: number, error: ConcordError, wire = wireError(error)): void {
    count(this.metrics.writeErrors, error.code)
    this.#queue(peer, { type: MessageType.WRITE_ERR, writeId, ...toErr(wire) })
  }

  #settle(settlements: readonly Settlement[], error?: ConcordError): void {
    const wire = error === undefined ? undefined : wireError(error)
    if (error !== undefined) count(this.metrics.writeErrors, error.code)
    // Consecutive writes of a peer applied at consecutive seqs (the usual case: a pipelined
    // writer) are acknowledged as one range.
    const runs = new Map<PeerState, { first: number; seq: number; count: number }>()
    const endRun = (peer: PeerState) => {
      const run = runs.get(peer)
      if (run === undefined) return
      runs.delete(peer)
      if (run.count === 1) {
        this.#queue(peer, { type: MessageType.WRITE_ACK, writeId: run.first, seq: run.seq, applied: true })
      } else {
        this.#queue(peer, {
          type: MessageType.WRITE_ACKS,
          firstWriteId: run.first,
          firstSeq: run.seq,
          count: run.count,
        })
      }
    }
    for (const settlement of settlements) {
      const { origin, refusal } = settlement
      const node = this.#nodes.get(origin.nodeId)
      if (node === undefined) continue
      // A refusal decided on uncommitted state (sent now that it is committed).
      if (wire === undefined && refusal !== undefined) count(this.metrics.writeErrors, refusal.code)
      const failure = wire ?? (refusal === undefined ? undefined : wireError(refusal))
      if (failure !== undefined) node.results.fail(origin.writeId, failure)
      else node.results.settle(origin.writeId, settlement.seq, settlement.applied)
      const peer = node.peerId === undefined ? undefined : this.#peers.get(node.peerId)
      if (peer === undefined) continue
      if (failure !== undefined) {
        endRun(peer)
        this.#queue(peer, { type: MessageType.WRITE_ERR, writeId: origin.writeId, ...toErr(failure) })
        continue
      }
      const run = runs.get(peer)
      if (
        settlement.applied &&
        run !== undefined &&
        origin.writeId === run.first + run.count &&
        settlement.seq === run.seq + run.count
      ) {
        run.count++
        continue
      }
      endRun(peer)
      if (settlement.applied) runs.set(peer, { first: origin.writeId, seq: settlement.seq, count: 1 })
      else {
        this.#queue(peer, {
          type: MessageType.WRITE_ACK,
          writeId: origin.writeId,
          seq: settlement.seq,
          applied: false,
        })
      }
    }
    for (const peer of [...runs.keys()]) endRun(peer)
    // Acknowledgements leave before the batch's broadcast, so a writer has its ack when
    // the broadcast arrives and resolves on it.
    this.#flush()
  }

  #broadcastBatch(master: Master, batch: CommittedBatch): void {
    this.metrics.commits++
    this.metrics.mutations += batch.muts.length / 4
    const endpoint = this.#endpoint
    if (endpoint === undefined) return
    // The batch's acknowledgements (queued by `settled` just before) leave first: a writer
    // then knows its seqs when the mutations arrive, and often reads both in one wakeup.
    if (this.#flushScheduled) this.#flush()
    const store = this.#stores.get(master.name)
    // Frames under the smallest frame limit of the linked nodes, each encoded once for all.
    const limit = this.#broadcastFrame - 1024
    const send = (topic: string, prefix: string) => {
      const parts = new MutationChunker([batch], batch.from, prefix)
      while (!parts.done) {
        const part = parts.next(Number.POSITIVE_INFINITY, limit)
        this.#broadcast(
          endpoint,
          topic,
          encodeFrame([this.#mutationsMessage(master, part.from, part.to, part.muts)]),
        )
      }
    }
    send(Topics.store(master.name), '')
    for (const prefix of store?.views.keys() ?? []) send(Topics.view(master.name, prefix), prefix)
  }

  // ---- events ------------------------------------------------------------------------------

  #topicSchema(topic: string): Schema | undefined {
    return longestTopicMatch(this.#topicSchemas, topic)
  }

  #publish(peer: PeerState, message: Publish): void {
    const fail = (error: ConcordError) => {
      this.metrics.eventsRefused++
      this.#answerError(peer, MessageType.PUBLISH, message.pubId, error)
    }
    if (message.topic.includes('|')) return fail(new ProtocolError(`topic '${message.topic}' holds '|'`))
    if (message.group !== null && !/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/.test(message.group)) {
      return fail(new ProtocolError(`invalid group name '${message.group}'`))
    }
    if (!this.#authorizer.authorize(peer.info.identity, 'publish', { topic: message.topic })) {
      return fail(new ForbiddenError(`'${peer.info.identity}' may not publish on '${message.topic}'`))
    }
    const schema = this.#topicSchema(message.topic)
    if (schema !== undefined) {
      const fingerprint = message.fingerprint ?? null
      if (fingerprint !== null && !schemasCompatible(schema, fingerprint)) {
        // Another schema, as a subscriber's may be (S2.2, S7.4): not a bad payload of this one.
        return fail(
          new SchemaMismatchError(
            schema.fingerprint,
            fingerprint,
            `topic '${message.topic}': the hub's payload schema (${named(schema)}) and the publisher's (${fingerprint}) differ`,
          ),
        )
      }
      try {
        schema.decode(message.payload)
      } catch (cause) {
        return fail(
          new ValidationError(
            [{ path: '', code: 'type', message: `payload does not decode: ${(cause as Error).message}` }],
            {
              cause,
              context: `event on '${message.topic}'`,
            },
          ),
        )
      }
    }
    const size = eventSize(message)
    if (size > this.#maxFrame) {
      return fail(
        new TooLargeError(
          `event on '${message.topic}' of about ${size} bytes as delivered exceeds the frame limit ${this.#maxFrame}`,
        ),
      )
    }
    const topic =
      message.group === null ? Topics.event(message.topic) : Topics.groupEvent(message.group, message.topic)
    // Numbered per transport topic: a subscriber outside a group never sees the group's
    // events, so they must not look lost to it (S7.6).
    let numbering = this.#eventTopics.get(topic)
    if (numbering === undefined) {
      numbering = { stream: this.#nextStream++, seq: 0 }
      if (this.#eventTopics.size >= this.#maxEventTopics) {
        this.#eventTopics.delete(this.#eventTopics.keys().next().value as string)
      }
      this.#eventTopics.set(topic, numbering)
    }
    numbering.seq++
    // One topic's events, to a group or not, leave in the order published (S7.3): a batch of
    // the topic's on another transport topic goes first.
    const pending = this.#eventBatchOf.get(message.topic)
    if (pending !== undefined && pending !== topic) this.#flushEvents(pending)
    this.#eventBatchOf.set(message.topic, topic)
    const wire = toWire({
      type: MessageType.EVENT,
      topic: message.topic,
      group: message.group,
      stream: numbering.stream,
      seq: numbering.seq,
      payload: message.payload,
    })
    // Events of one topic in one turn travel in one frame, encoded once for every receiver.
    let batch = this.#eventBatches.get(topic)
    // A batch never grows past a frame: a big event (from a client that does not check)
    // sends what is batched before it.
    if (batch !== undefined && batch.bytes + size > this.#broadcastFrame) {
      this.#flushEvents(topic)
      batch = undefined
    }
    if (batch === undefined) {
      batch = { wire: [], bytes: 0 }
      this.#eventBatches.set(topic, batch)
    }
    batch.wire.push(wire)
    batch.bytes += size
    if (batch.bytes > this.#broadcastFrame / 2) this.#flushEvents(topic)
    this.#scheduleFlush()
    this.metrics.events++
    this.#queue(peer, { type: MessageType.PUBLISH_ACK, pubId: message.pubId })
  }

  #subscribe(peer: PeerState, message: Subscribe): void {
    const fail = (error: ConcordError) => this.#answerError(peer, MessageType.SUBSCRIBE, message.reqId, error)
    if (!this.#authorizer.authorize(peer.info.identity, 'subscribe', { topic: message.prefix })) {
      return fail(new ForbiddenError(`'${peer.info.identity}' may not subscribe to '${message.prefix}'`))
    }
    const schema = this.#topicSchema(message.prefix)
    if (
      schema !== undefined &&
      message.fingerprint !== null &&
      !schemasCompatible(schema, message.fingerprint)
    ) {
      return fail(
        new SchemaMismatchError(
          schema.fingerprint,
          message.fingerprint,
          `topic '${message.prefix}': the hub's payload schema (${named(schema)}) and the subscriber's (${message.fingerprint}) differ`,
        ),
      )
    }
    this.#queue(peer, { type: MessageType.SUBSCRIBED, reqId: message.reqId })
  }

  // ---- heartbeats --------------------------------------------------------------------------

  #armHeartbeat(): void {
    this.#silence.armed(this.#heartbeatMs)
    this.#heartbeatTimer = this.#clock.setTimeout(() => this.#heartbeat(), this.#heartbeatMs)
  }

  #heartbeat(): void {
    if (this.#state !== 'open') return
    // Fired late, this hub stalled: what its peers sent meanwhile is still unread (S6.2).
    this.#silence.fired(this.#heartbeatMs)
    this.metrics.stalls = this.#silence.stalls
    const endpoint = this.#endpoint
    if (endpoint !== undefined) {
      this.#broadcast(
        endpoint,
        Topics.hub,
        encodeFrame([{ type: MessageType.HUB_BEAT, hubInstance: this.instance }]),
      )
      for (const [name, store] of this.#stores) {
        const frame = encodeFrame([
          {
            type: MessageType.HEARTBEAT,
            store: name,
            epoch: store.master.epoch,
            seq: store.master.committedSeq,
          },
        ])
        this.#broadcast(endpoint, Topics.store(name), frame)
        for (const prefix of store.views.keys()) this.#broadcast(endpoint, Topics.view(name, prefix), frame)
      }
      const deadline = this.#silence.now() - 3 * this.#heartbeatMs
      for (const peer of this.#peers.values()) {
        if (peer.lastSeen < deadline) {
          this.metrics.peerTimeouts++
          endpoint.disconnect(peer.info.id, 'heartbeat timeout')
        }
      }
    }
    this.#armHeartbeat()
  }

  // ---- frames out --------------------------------------------------------------------------

  #queue(peer: PeerState, message: HubMessage): void {
    const wire = toWire(message)
    peer.outbox.push(wire)
    peer.outboxBytes += estimateSize(message, wire)
    this.#dirty.add(peer)
    if (peer.outboxBytes > peer.maxFrame / 2) {
      this.#flushPeer(peer)
      return
    }
    this.#scheduleFlush()
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    // Replies to one inbound frame (and everything else queued meanwhile) leave together,
    // without waiting for the next loop turn.
    this.#flushScheduled = true
    queueMicrotask(() => this.#flush())
  }

  /** Sends every peer's queued messages, one frame per peer per turn where they fit, and the turn's events. */
  #flush(): void {
    this.#flushScheduled = false
    for (const topic of [...this.#eventBatches.keys()]) this.#flushEvents(topic)
    this.#eventBatchOf.clear()
    for (const peer of this.#dirty) this.#flushPeer(peer)
    this.#dirty.clear()
  }

  #flushEvents(topic: string): void {
    const batch = this.#eventBatches.get(topic)
    if (batch === undefined) return
    this.#eventBatches.delete(topic)
    if (this.#endpoint !== undefined) this.#broadcast(this.#endpoint, topic, encodeWireFrame(batch.wire))
  }

  /**
   * Sends one frame, encoded once, to every subscriber of `topic`, counting the subscribers
   * the transport skipped (a full queue: they find the gap by seq and resync, S6.5).
   */
  #broadcast(endpoint: HubEndpoint, topic: string, frame: Uint8Array): void {
    const skipped = endpoint.broadcast(topic, frame)
    this.metrics.broadcasts++
    // A count, or nothing from a transport that does not report; anything else is not counted.
    if (Number.isSafeInteger(skipped) && (skipped as number) > 0)
      this.metrics.skippedBroadcasts += skipped as number
  }

  #flushPeer(peer: PeerState): void {
    const outbox = peer.outbox
    if (outbox.length === 0) return
    peer.outbox = []
    peer.outboxBytes = 0
    if (peer.queuedChunks > 0) {
      // The chunks leave now: from here on a credit may return them.
      for (const open of peer.opens.values()) {
        open.unacked += open.queued
        open.queued = 0
      }
      peer.queuedChunks = 0
    }
    const endpoint = this.#endpoint
    if (endpoint === undefined || !this.#peers.has(peer.info.id)) return
    let start = 0
    let bytes = 0
    const sendRange = (end: number): boolean => {
      if (end <= start) return true
      this.metrics.framesOut++
      const ok = endpoint.send(peer.info.id, encodeWireFrame(outbox.slice(start, end)))
      start = end
      bytes = 0
      return ok
    }
    for (let i = 0; i < outbox.length; i++) {
      const size = wireSize(outbox[i] as unknown[])
      if (bytes + size > peer.maxFrame - 1024 && !sendRange(i)) return this.#overflowed(peer)
      bytes += size
    }
    if (!sendRange(outbox.length)) this.#overflowed(peer)
  }

  /** A peer's queue is full: it lost a unicast frame, so it must reconnect and resync (S6.5). */
  #overflowed(peer: PeerState): void {
    this.metrics.peerQueueOverflows++
    this.#endpoint?.disconnect(peer.info.id, 'queue overflow')
  }
}

/** The schema mismatch refusing a clone or writer of `store` with `fingerprint`, or undefined when they agree (S2.2). */
function schemaMismatch(
  store: StoreState,
  fingerprint: string,
  handle: Handle,
): SchemaMismatchError | undefined {
  const schema = store.config.schema
  if (schemasCompatible(schema, fingerprint)) return undefined
  return new SchemaMismatchError(
    schema.fingerprint,
    fingerprint,
    `store '${store.master.name}': the master's schema (${named(schema)}) and the ${handle}'s (${fingerprint}) differ`,
  )
}

/** The most of a schema's text a refusal quotes (S2.2): enough for a type, a record's first fields. */
const SCHEMA_TEXT_MAX = 200

/**
 * `schema` as a refusal names it (S2.2): its fingerprint, then its canonical text when it has
 * one (cut at {@link SCHEMA_TEXT_MAX} characters), so that whoever holds another schema
 * reads which one the hub has. Only a peer the hub already authorized for the store or topic
 * gets it.
 */
function named(schema: Schema): string {
  const text = typeof schema.describe === 'function' ? schema.describe() : undefined
  if (typeof text !== 'string' || text === '') return schema.fingerprint
  const chars = [...text]
  return `${schema.fingerprint}, ${chars.length > SCHEMA_TEXT_MAX ? `${chars.slice(0, SCHEMA_TEXT_MAX - 1).join('')}…` : text}`
}

/** A write whose outcome depends on the stored state (a put's or a clear's never does). */
function readsState(write: Write): boolean {
  return write.kind !== WriteKind.PUT && write.kind !== WriteKind.CLEAR
}

/** A write whose answer is the stored state itself: a compare-and-set, a putIfAbsent. */
function answersWithState(write: Write): boolean {
  return write.kind === WriteKind.CAS || (write.kind === WriteKind.UPDATE && write.op === 'putIfAbsent')
}

/**
 * The refusal of an update an identity that may not read is told: its code alone. Why an
 * op refused (its message, a ValidationError's issues) is about the stored value.
 */
function untold(error: ConcordError, write: Write): WireError {
  return {
    code: error.code,
    message: `update '${String(write.op)}' on '${write.key}' was refused (${error.code}); an identity that may not read store '${write.store}' is not told why`,
  }
}

function wireError(error: ConcordError): WireError {
  const out: { code: string; message: string; issues?: WireError['issues']; actualSeq?: number } = {
    code: error.code,
    message: error.message,
  }
  if (error instanceof ValidationError) out.issues = error.issues
  if (error instanceof ConflictError && error.actualSeq !== undefined) out.actualSeq = error.actualSeq
  return out
}

function toErr(error: WireError): { code: string; message: string; details: unknown } {
  const details =
    error.issues !== undefined
      ? { issues: error.issues }
      : error.actualSeq !== undefined
        ? { actualSeq: error.actualSeq }
        : null
  return { code: error.code, message: error.message, details }
}

/** An upper bound of an event's size in a frame: its payload, its topic and group as UTF-8, its numbers. */
function eventSize(message: Publish): number {
  return 64 + (message.topic.length + (message.group?.length ?? 0)) * 3 + message.payload.byteLength
}

/** About the bytes of `message`, whose wire form is `wire`: exact for those carrying values. */
function estimateSize(message: HubMessage, wire: unknown[]): number {
  switch (message.type) {
    case MessageType.SNAPSHOT_CHUNK:
    case MessageType.MUTATIONS:
    // A value as large as a frame: counted as it is, the outbox leaves once it holds half a
    // frame, so a burst of reads of large values is handed to the transport's bounded queue
    // as it is answered instead of held whole until the turn ends.
    case MessageType.READ_VALUE:
      return wireSize(wire)
    default:
      return 64
  }
}
