import { AbortedError, ClosedError, ForbiddenError, TooLargeError, UnavailableError } from '../errors.js'
import type { Backoff } from '../ports/backoff.js'
import type { Clock, TimerHandle } from '../ports/clock.js'
import type {
  ConnectOptions,
  HubEndpoint,
  HubHandlers,
  ListenOptions,
  NodeEndpoint,
  NodeHandlers,
  PeerInfo,
  Transport,
  TransportCapabilities,
} from '../ports/transport.js'
import type { FrameKind, MemoryFaults } from './fault-injector.js'
import {
  type Direction,
  MemoryNetwork,
  type MemoryStats,
  type MutablePeerStats,
  type NetworkHub,
  type NetworkNode,
} from './memory-network.js'

/** Options of {@link memoryTransport}. */
export interface MemoryTransportInit {
  /**
   * The network to meet other transports on. Default: a new one of its own, which is all you
   * need when the hub and its nodes share this transport object.
   */
  readonly network?: MemoryNetwork
  /** The largest frame accepted, in bytes. Default 16 MiB. */
  readonly maxFrameSize?: number
  /**
   * Frames queued per link per direction before further frames are refused: the hub's
   * `send` (and the node's) return false, a broadcast skips that peer. Each sender bounds its
   * own outbound queues: this transport's hubs their hub→node queues, its nodes their
   * node→hub queue. Default 10 000.
   */
  readonly peerQueueLimit?: number
  /**
   * The clock reconnect backoff runs on. Default: the network's clock (for a network this
   * call creates: this clock, else {@link systemClock}).
   */
  readonly clock?: Clock
  /**
   * Seed of the fault-injection randomness of the network this call creates (default 1).
   * Not allowed together with `network`: pass it to `memoryNetwork` instead.
   */
  readonly seed?: number
  /**
   * The named identities hubs listening through this transport admit. A node presenting
   * another identity never gets `linkUp` and the hub never sees it: its link is refused and
   * retried with backoff (counted in `stats.links.refused`). Default: any identity.
   */
  readonly identities?: Iterable<string>
}

/** 16 MiB. */
const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
const DEFAULT_PEER_QUEUE_LIMIT = 10_000
const ADDRESS_PREFIX = 'memory://'

/**
 * An in-process {@link Transport} for tests and single-process deployments: hubs and nodes
 * talk through a {@link MemoryNetwork} with the full transport contract, plus fault
 * injection ({@link faults}) and counters ({@link stats}).
 *
 * Rules:
 * - Addresses are `memory://<name>`; `memory://*` listens on a fresh name (read it from
 *   `hub.address`). Listening on a live address rejects with `UnavailableError`; the
 *   address is free again once its hub is closed or killed.
 * - Delivery is always asynchronous: each direction of each link is a FIFO queue drained on
 *   `setImmediate`, in batches of what was queued when the drain began. No handler is ever
 *   called from inside `send`, `broadcast`, `subscribe` or `close`. Unicast and broadcast to
 *   one node share its queue, so they stay in order.
 * - Frames are copied on send, so callers may reuse their buffers. A broadcast is copied
 *   once and the same bytes object is handed to every receiver: receivers must not mutate it.
 * - Queues are bounded (`peerQueueLimit`): a full queue refuses the frame (`send` returns
 *   false; a broadcast skips that peer), counted as `queueFull`.
 * - A frame over `maxFrameSize` is not delivered: `send` returns false. From a node, the
 *   hub's `refused(peer, TooLargeError)` is called as well; from the hub, the node is not
 *   told (core never builds such a frame). Both are counted as `tooLarge`.
 * - Prefix filtering is by raw prefix, as in ZeroMQ: a subscription `a/b` receives `a/bc`
 *   (core filters whole segments). Each broadcast reaches a node at most once.
 * - Identity: `connect({ identity })`, default `anonymous`, vouched for as `named`.
 */
export class MemoryTransport implements Transport {
  /** `memory`, byte-prefix filtering, `named` authentication, not lossy, bounded peer queues. */
  readonly capabilities: TransportCapabilities
  /** The network this transport's hubs listen on and its nodes connect through. */
  readonly network: MemoryNetwork
  /** @internal */
  readonly clock: Clock
  /** @internal */
  readonly peerQueueLimit: number
  readonly #identities: ReadonlySet<string> | undefined

  constructor(init: MemoryTransportInit = {}) {
    if (init.network !== undefined && init.seed !== undefined) {
      throw new TypeError('memoryTransport: pass seed to memoryNetwork() when you pass a network')
    }
    const maxFrameSize = init.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
    const peerQueueLimit = init.peerQueueLimit ?? DEFAULT_PEER_QUEUE_LIMIT
    if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < 1) {
      throw new RangeError(`maxFrameSize must be a positive integer, got ${maxFrameSize}`)
    }
    if (!Number.isSafeInteger(peerQueueLimit) || peerQueueLimit < 1) {
      throw new RangeError(`peerQueueLimit must be a positive integer, got ${peerQueueLimit}`)
    }
    this.network =
      init.network ??
      new MemoryNetwork({
        ...(init.clock === undefined ? {} : { clock: init.clock }),
        ...(init.seed === undefined ? {} : { seed: init.seed }),
      })
    this.clock = init.clock ?? this.network.clock
    this.peerQueueLimit = peerQueueLimit
    this.#identities = init.identities === undefined ? undefined : new Set(init.identities)
    this.capabilities = Object.freeze({
      name: 'memory',
      maxFrameSize,
      nativePrefixFilter: true,
      authentication: Object.freeze(['named']),
      // Fault injection may drop frames, but that deliberately breaks the contract.
      lossy: false,
      boundedPeerQueues: true,
    })
  }

  /** Fault injection for the whole network (shared by every transport on it). */
  get faults(): MemoryFaults {
    return this.network.faults
  }

  /** Counters for the whole network (shared by every transport on it). */
  get stats(): MemoryStats {
    return this.network.stats
  }

  /**
   * Listens on `address` (`memory://<name>`, or `memory://*` for a fresh name). Rejects with
   * `TypeError` for a malformed address, `UnavailableError` when it is in use, `AbortedError`
   * when `signal` is already aborted; aborting later closes the hub.
   */
  listen(address: string, handlers: HubHandlers, options: ListenOptions = {}): Promise<HubEndpoint> {
    const name = parseAddress(address)
    if (name === undefined) return Promise.reject(new TypeError(`not a memory address: '${address}'`))
    if (typeof handlers !== 'object' || handlers === null) {
      return Promise.reject(new TypeError('listen() needs hub handlers'))
    }
    if (options.signal?.aborted) {
      return Promise.reject(new AbortedError('listen aborted', { cause: options.signal.reason }))
    }
    const resolved = name === '*' ? this.network.nextAutoAddress() : ADDRESS_PREFIX + name
    if (this.network.hubs.has(resolved)) {
      return Promise.reject(new UnavailableError(`address ${resolved} is already in use`))
    }
    const hub = new MemoryHubEndpoint(this, resolved, handlers)
    this.network.hubs.set(resolved, hub)
    hub.bindSignal(options.signal)
    return Promise.resolve(hub)
  }

  /**
   * Starts a link to the hub at `address` and resolves at once. The first attempt happens on
   * the next `setImmediate`; failed attempts (nothing listening, partitioned, identity
   * refused) and dropped links are retried after `backoff(attempt)` ms on the clock, forever,
   * until `close()`. The attempt count restarts at 1 after every successful link. Rejects
   * with `TypeError` for a malformed address or options, `AbortedError` when `signal` is
   * already aborted; aborting later closes the endpoint.
   */
  connect(address: string, handlers: NodeHandlers, options: ConnectOptions): Promise<NodeEndpoint> {
    const name = parseAddress(address)
    if (name === undefined || name === '*') {
      return Promise.reject(new TypeError(`not a memory address to connect to: '${address}'`))
    }
    if (typeof handlers !== 'object' || handlers === null) {
      return Promise.reject(new TypeError('connect() needs node handlers'))
    }
    if (typeof options?.backoff !== 'function') {
      return Promise.reject(new TypeError('connect() needs options.backoff'))
    }
    const identity = options.identity ?? 'anonymous'
    if (typeof identity !== 'string' || identity === '') {
      return Promise.reject(new TypeError('identity must be a non-empty string'))
    }
    if (options.signal?.aborted) {
      return Promise.reject(new AbortedError('connect aborted', { cause: options.signal.reason }))
    }
    const node = new MemoryNodeEndpoint(this, ADDRESS_PREFIX + name, identity, handlers, options.backoff)
    this.network.nodes.add(node)
    node.bindSignal(options.signal)
    node.start()
    return Promise.resolve(node)
  }

  /** @internal Whether hubs of this transport admit `identity`. */
  admits(identity: string): boolean {
    return this.#identities === undefined || this.#identities.has(identity)
  }
}

/**
 * A memory transport: see {@link MemoryTransport} for the rules.
 *
 * @example
 * const transport = memoryTransport()
 * const hub = await transport.listen('memory://hub', hubHandlers)
 * const node = await transport.connect('memory://hub', nodeHandlers, { backoff: constantBackoff(50) })
 * transport.faults.drop(0.1, { direction: 'toNode' }) // lose 10% of hub→node frames
 */
export function memoryTransport(init?: MemoryTransportInit): MemoryTransport {
  return new MemoryTransport(init)
}

/** The hub side of a memory transport, as returned by {@link MemoryTransport.listen}. */
export class MemoryHubEndpoint implements NetworkHub {
  readonly address: string
  /** @internal Live links by peer id. */
  readonly links = new Map<string, Link>()
  #state: 'open' | 'closing' | 'closed' | 'killed' = 'open'
  #closing: Promise<void> | undefined
  #unbindSignal: (() => void) | undefined

  /** @internal Use {@link MemoryTransport.listen}. */
  constructor(
    /** @internal */ readonly transport: MemoryTransport,
    address: string,
    /** @internal */ readonly handlers: HubHandlers,
  ) {
    this.address = address
  }

  /** @internal True while nodes may link to it. */
  get listening(): boolean {
    return this.#state === 'open'
  }

  /** @internal True while its handlers may be called (until `close()` resolves; never after a kill). */
  get alive(): boolean {
    return this.#state === 'open' || this.#state === 'closing'
  }

  /** The peers linked now. */
  peers(): PeerInfo[] {
    return [...this.links.values()].map((link) => link.peer)
  }

  /**
   * Queues a copy of `frame` to one peer. False when the hub is closed, the peer is not
   * linked, the frame is over `maxFrameSize` or the peer's queue is full.
   */
  send(peerId: string, frame: Uint8Array): boolean {
    if (this.#state !== 'open') return false
    const link = this.links.get(peerId)
    if (link === undefined || !link.up) return false
    if (frame.byteLength > link.maxFrameSize) {
      this.transport.stats.droppedFrames(link.stats, 'toNode', 'tooLarge')
      return false
    }
    return link.enqueue('toNode', 'unicast', undefined, frame.slice())
  }

  /**
   * Queues one copy of `frame`, shared by every receiver, to each linked peer holding an
   * authorized subscription that is a prefix of `topic`. A peer whose queue is full, or whose
   * size limit the frame exceeds, misses it. Returns how many peers missed it.
   */
  broadcast(topic: string, frame: Uint8Array): number {
    if (this.#state !== 'open') return 0
    let bytes: Uint8Array | undefined
    let skipped = 0
    for (const link of this.links.values()) {
      if (!link.up || !link.wants(topic)) continue
      if (frame.byteLength > link.maxFrameSize) {
        this.transport.stats.droppedFrames(link.stats, 'toNode', 'tooLarge')
        skipped++
        continue
      }
      bytes ??= frame.slice()
      if (!link.enqueue('toNode', 'broadcast', topic, bytes)) skipped++
    }
    return skipped
  }

  /** Drops a peer's link: it gets `linkDown(reason)`, this hub `peerLeft(peer, reason)`; it reconnects per its backoff. */
  disconnect(peerId: string, reason: string): void {
    this.links.get(peerId)?.drop(reason)
  }

  /**
   * Stops listening (the address is free at once) and drops every link: nodes get
   * `linkDown('hub closed')`, this hub gets `peerLeft` for each before the promise resolves,
   * and no handler is called afterwards. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    if (this.#state === 'killed') return Promise.resolve()
    this.#state = 'closing'
    this.unregister()
    for (const link of [...this.links.values()]) link.drop('hub closed')
    // Scheduled after the links' notifications, so their `peerLeft` calls come first.
    this.#closing = new Promise((resolve) =>
      setImmediate(() => {
        this.#state = 'closed'
        resolve()
      }),
    )
    return this.#closing
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** @internal Dies abruptly: no handler is called again. */
  kill(): void {
    if (this.#state === 'closed' || this.#state === 'killed') return
    this.#state = 'killed'
    this.unregister()
    for (const link of [...this.links.values()]) link.drop('hub killed')
  }

  /** @internal Closes the hub when `signal` aborts. */
  bindSignal(signal: AbortSignal | undefined): void {
    this.#unbindSignal = onAbort(signal, () => void this.close())
  }

  /** Frees the address and the abort listener. */
  private unregister(): void {
    const hubs = this.transport.network.hubs
    if (hubs.get(this.address) === this) hubs.delete(this.address)
    this.#unbindSignal?.()
    this.#unbindSignal = undefined
  }
}

interface Waiter {
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

interface Subscription {
  readonly topic: string
  /** `subscribe` calls not settled yet. */
  waiters: Waiter[]
}

/**
 * The node side of a memory transport, as returned by {@link MemoryTransport.connect}.
 *
 * Subscriptions: `subscribe` resolves once the hub's `authorizeSubscription` has granted it
 * on the current link, so broadcasts published after that are delivered. While the link is
 * down it stays pending until the next link comes up. Granted subscriptions are asked for
 * again on every new link before any broadcast is delivered on it; one refused then stays
 * inactive on that link (and is asked again on the next), as there is no channel to report it.
 */
export class MemoryNodeEndpoint implements NetworkNode {
  readonly address: string
  /** The identity this node presents. */
  readonly identity: string
  /** @internal */
  link: Link | undefined
  /** @internal */
  readonly handlers: NodeHandlers
  readonly #transport: MemoryTransport
  readonly #backoff: Backoff
  readonly #subscriptions = new Map<string, Subscription>()
  #closed = false
  #attempts = 0
  #retry: TimerHandle | undefined
  #unbindSignal: (() => void) | undefined

  /** @internal Use {@link MemoryTransport.connect}. */
  constructor(
    transport: MemoryTransport,
    address: string,
    identity: string,
    handlers: NodeHandlers,
    backoff: Backoff,
  ) {
    this.#transport = transport
    this.address = address
    this.identity = identity
    this.handlers = handlers
    this.#backoff = backoff
  }

  /** True while a link to the hub is up (`linkUp` may not have been delivered yet). */
  get connected(): boolean {
    return this.link?.up === true
  }

  /** The topics subscribed to (granted or pending). */
  subscriptions(): string[] {
    return [...this.#subscriptions.keys()]
  }

  /**
   * Queues a copy of `frame` to the hub. False when closed, the link is down, the frame is over
   * `maxFrameSize` (the hub's `refused` handler then gets a `TooLargeError`) or the queue is full.
   */
  send(frame: Uint8Array): boolean {
    const link = this.link
    if (this.#closed || link === undefined || !link.up) return false
    if (frame.byteLength > link.maxFrameSize) {
      this.#transport.stats.droppedFrames(link.stats, 'toHub', 'tooLarge')
      const error = new TooLargeError(
        `frame of ${frame.byteLength} bytes from ${link.peer.id} exceeds maxFrameSize ${link.maxFrameSize}`,
      )
      setImmediate(() => {
        if (link.up && link.hub.alive) link.hub.handlers.refused(link.peer, error)
      })
      return false
    }
    return link.enqueue('toHub', 'unicast', undefined, frame.slice())
  }

  /**
   * Subscribes to broadcasts on topics starting with `topic` (raw prefix). Resolves once granted
   * on a live link; rejects with `ForbiddenError` (and keeps no subscription) when refused,
   * `ClosedError` when the endpoint closes or `unsubscribe(topic)` is called first.
   */
  subscribe(topic: string): Promise<void> {
    if (typeof topic !== 'string') return Promise.reject(new TypeError('topic must be a string'))
    if (this.#closed) return Promise.reject(new ClosedError('node endpoint is closed'))
    let entry = this.#subscriptions.get(topic)
    if (entry === undefined) {
      entry = { topic, waiters: [] }
      this.#subscriptions.set(topic, entry)
    }
    const subscription = entry
    const promise = new Promise<void>((resolve, reject) => subscription.waiters.push({ resolve, reject }))
    const link = this.link
    if (link?.up) {
      setImmediate(() => {
        if (this.link !== link || !link.up || this.#subscriptions.get(topic) !== subscription) return
        if (subscription.waiters.length === 0) return
        this.settle(subscription, link, link.hub.handlers.authorizeSubscription(link.peer, topic))
      })
    }
    return promise
  }

  /** Stops a subscription, rejecting its pending `subscribe` calls with `ClosedError`. Idempotent. */
  unsubscribe(topic: string): void {
    const entry = this.#subscriptions.get(topic)
    if (entry === undefined) return
    this.#subscriptions.delete(topic)
    this.link?.authorized.delete(topic)
    const waiters = entry.waiters
    entry.waiters = []
    for (const w of waiters) w.reject(new ClosedError(`unsubscribed from '${topic}'`))
  }

  /** Drops the current link (reason `reconnect requested`) and reconnects per the backoff. No-op while down. */
  reconnect(): void {
    if (!this.#closed) this.link?.drop('reconnect requested')
  }

  /**
   * Closes for good: the hub sees `peerLeft(peer, 'closed')`, pending subscribes reject with
   * `ClosedError`, retries stop, and no handler of this node is called again. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#closed = true
    if (this.#retry !== undefined) this.#transport.clock.clearTimeout(this.#retry)
    this.#retry = undefined
    this.#unbindSignal?.()
    this.#unbindSignal = undefined
    this.#transport.network.nodes.delete(this)
    this.link?.drop('closed')
    for (const entry of this.#subscriptions.values()) {
      for (const w of entry.waiters) w.reject(new ClosedError('node endpoint closed'))
    }
    this.#subscriptions.clear()
    return Promise.resolve()
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** @internal Closes the endpoint when `signal` aborts. */
  bindSignal(signal: AbortSignal | undefined): void {
    this.#unbindSignal = onAbort(signal, () => void this.close())
  }

  /** @internal */
  start(): void {
    setImmediate(() => this.attempt())
  }

  /** @internal */
  dropLink(reason: string): boolean {
    const link = this.link
    if (link === undefined || !link.up) return false
    link.drop(reason)
    return true
  }

  /** @internal */
  resumeDelivery(): void {
    this.link?.toNode.schedule()
  }

  /** @internal True when fault injection paused this node's reading. */
  paused(): boolean {
    return this.#transport.network.faults.isPaused(this.identity, this)
  }

  /** @internal Called (asynchronously) once a link of this node went down. */
  afterLinkDown(link: Link, reason: string): void {
    if (this.#closed) return
    try {
      if (link.nodeSawUp) this.handlers.linkDown(reason)
    } finally {
      if (!this.#closed && this.link === undefined && this.#retry === undefined) this.scheduleRetry()
    }
  }

  private scheduleRetry(): void {
    this.#attempts++
    const delay = this.#backoff(this.#attempts)
    this.#retry = this.#transport.clock.setTimeout(() => {
      this.#retry = undefined
      this.attempt()
    }, delay)
  }

  /** One link attempt. Handlers run here, never inside a caller's method. */
  private attempt(): void {
    if (this.#closed || this.link !== undefined) return
    const network = this.#transport.network
    const hub = network.hubs.get(this.address)
    if (
      !(hub instanceof MemoryHubEndpoint) ||
      !hub.listening ||
      network.faults.isPartitioned(this.identity, this)
    ) {
      this.scheduleRetry()
      return
    }
    if (!hub.transport.admits(this.identity)) {
      network.stats.linkRefused()
      this.scheduleRetry()
      return
    }
    const peer: PeerInfo = Object.freeze({ id: network.nextPeerId(), identity: this.identity })
    const link = new Link(hub, this, peer, this.#transport, network.stats.openPeer(peer))
    hub.links.set(peer.id, link)
    this.link = link
    this.#attempts = 0
    link.hubSawJoin = true
    hub.handlers.peerJoined(peer)
    // Any handler below may drop the link (disconnect, close); stop at once if it does.
    for (const entry of [...this.#subscriptions.values()]) {
      if (!link.up) return
      if (this.#subscriptions.get(entry.topic) !== entry) continue
      this.settle(entry, link, hub.handlers.authorizeSubscription(peer, entry.topic))
    }
    if (!link.up) return
    link.nodeSawUp = true
    this.handlers.linkUp()
  }

  private settle(entry: Subscription, link: Link, granted: boolean): void {
    const waiters = entry.waiters
    entry.waiters = []
    if (granted) {
      link.authorized.add(entry.topic)
      for (const w of waiters) w.resolve()
      return
    }
    link.authorized.delete(entry.topic)
    if (waiters.length === 0) return
    this.#subscriptions.delete(entry.topic)
    const error = new ForbiddenError(
      `subscription to '${entry.topic}' refused for identity '${this.identity}'`,
    )
    for (const w of waiters) w.reject(error)
  }
}

interface QueuedFrame {
  readonly kind: FrameKind
  readonly topic: string | undefined
  readonly bytes: Uint8Array
  /** Clock time before which it must not be delivered (fault delay); 0 for none. */
  readonly readyAt: number
}

/**
 * One link between a node and a hub: two bounded FIFO queues. A link never comes back up;
 * a reconnect makes a new one with a new peer id.
 */
class Link {
  up = true
  /** The hub got `peerJoined`, so it gets `peerLeft`. */
  hubSawJoin = false
  /** The node got `linkUp`, so it gets `linkDown`. */
  nodeSawUp = false
  /** Subscriptions the hub granted on this link. */
  readonly authorized = new Set<string>()
  readonly maxFrameSize: number
  readonly toHub: FrameQueue
  readonly toNode: FrameQueue

  constructor(
    readonly hub: MemoryHubEndpoint,
    readonly node: MemoryNodeEndpoint,
    readonly peer: PeerInfo,
    nodeTransport: MemoryTransport,
    readonly stats: MutablePeerStats,
  ) {
    const hubTransport = hub.transport
    this.maxFrameSize = Math.min(
      hubTransport.capabilities.maxFrameSize,
      nodeTransport.capabilities.maxFrameSize,
    )
    const clock = nodeTransport.network.clock
    // Each sender bounds its own outbound queue.
    this.toHub = new FrameQueue(this, 'toHub', nodeTransport.peerQueueLimit, clock)
    this.toNode = new FrameQueue(this, 'toNode', hubTransport.peerQueueLimit, clock)
  }

  /** True when a granted subscription is a raw prefix of `topic`. */
  wants(topic: string): boolean {
    for (const prefix of this.authorized) if (topic.startsWith(prefix)) return true
    return false
  }

  /** Queues a frame, applying faults and the bound. False when the queue was full. */
  enqueue(direction: Direction, kind: FrameKind, topic: string | undefined, bytes: Uint8Array): boolean {
    const queue = direction === 'toHub' ? this.toHub : this.toNode
    const network = this.hub.transport.network
    const stats = network.stats
    if (queue.length >= queue.limit) {
      stats.droppedFrames(this.stats, direction, 'queueFull')
      return false
    }
    stats.sentFrame(this.stats, direction, bytes.byteLength)
    const plan = network.faults.plan({ direction, kind, identity: this.node.identity, endpoint: this.node })
    if (plan.drop) {
      stats.droppedFrames(this.stats, direction, 'fault')
      return true
    }
    if (plan.delay > 0) stats.fault('delayed')
    const frame: QueuedFrame = {
      kind,
      topic,
      bytes,
      readyAt: plan.delay > 0 ? queue.clock.now() + plan.delay : 0,
    }
    if (queue.push(frame, plan.reorder)) stats.fault('reordered')
    if (plan.duplicate && queue.length < queue.limit) {
      queue.push(frame, false)
      stats.fault('duplicated')
    }
    return true
  }

  /** Hands one frame to its receiver's handler. */
  deliver(direction: Direction, frame: QueuedFrame): void {
    this.hub.transport.network.stats.deliveredFrame(this.stats, direction, frame.bytes.byteLength)
    if (direction === 'toHub') this.hub.handlers.frame(this.peer, frame.bytes)
    else if (frame.kind === 'broadcast') this.node.handlers.broadcast(frame.topic!, frame.bytes)
    else this.node.handlers.frame(frame.bytes)
  }

  /**
   * Takes the link down now: queued frames are discarded, sends fail at once. Both sides are
   * told on the next `setImmediate` (the hub only while alive, each side only if it saw the
   * link come up), then the node schedules its reconnect.
   */
  drop(reason: string): void {
    if (!this.up) return
    this.up = false
    const stats = this.hub.transport.network.stats
    const lostToHub = this.toHub.discard()
    const lostToNode = this.toNode.discard()
    if (lostToHub > 0) stats.droppedFrames(this.stats, 'toHub', 'linkDown', lostToHub)
    if (lostToNode > 0) stats.droppedFrames(this.stats, 'toNode', 'linkDown', lostToNode)
    stats.linkDropped()
    if (this.hub.links.get(this.peer.id) === this) this.hub.links.delete(this.peer.id)
    if (this.node.link === this) this.node.link = undefined
    setImmediate(() => {
      try {
        if (this.hubSawJoin && this.hub.alive) this.hub.handlers.peerLeft(this.peer, reason)
      } finally {
        this.node.afterLinkDown(this, reason)
      }
    })
  }
}

/** One direction of a link: a bounded FIFO drained on `setImmediate`. */
class FrameQueue {
  /** Frames from index #head on are queued; earlier slots are spent. */
  #items: Array<QueuedFrame | undefined> = []
  #head = 0
  #scheduled = false
  #timer: TimerHandle | undefined

  constructor(
    private readonly link: Link,
    private readonly direction: Direction,
    readonly limit: number,
    readonly clock: Clock,
  ) {}

  get length(): number {
    return this.#items.length - this.#head
  }

  /** Appends `frame`, or with `reorder` slips it before the last queued frame. True when it did swap. */
  push(frame: QueuedFrame, reorder: boolean): boolean {
    const swap = reorder && this.length > 0
    if (swap) this.#items.splice(this.#items.length - 1, 0, frame)
    else this.#items.push(frame)
    this.schedule()
    return swap
  }

  /** Empties the queue; returns how many frames were lost. */
  discard(): number {
    const lost = this.length
    this.#items = []
    this.#head = 0
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer)
    this.#timer = undefined
    return lost
  }

  /** Arranges a drain when there is something deliverable (now, or when a held frame is due). */
  schedule(): void {
    if (this.#scheduled || this.length === 0 || !this.link.up) return
    if (this.direction === 'toNode' && this.link.node.paused()) return
    const wait = this.#items[this.#head]!.readyAt - this.clock.now()
    if (wait > 0) {
      this.#timer ??= this.clock.setTimeout(() => {
        this.#timer = undefined
        this.schedule()
      }, wait)
      return
    }
    this.#scheduled = true
    setImmediate(() => this.drain())
  }

  /** Delivers, in order, the frames queued when it began, stopping early if the link drops, pauses or a frame is held. */
  private drain(): void {
    this.#scheduled = false
    let budget = this.length
    try {
      while (budget-- > 0 && this.deliverable()) {
        const frame = this.#items[this.#head]!
        this.#items[this.#head++] = undefined
        this.link.deliver(this.direction, frame)
      }
    } finally {
      this.compact()
      this.schedule()
    }
  }

  private deliverable(): boolean {
    if (!this.link.up || this.length === 0) return false
    if (this.direction === 'toNode' && this.link.node.paused()) return false
    return this.#items[this.#head]!.readyAt <= this.clock.now()
  }

  private compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
  }
}

/** Runs `action` once when `signal` aborts; returns a function removing the listener. */
function onAbort(signal: AbortSignal | undefined, action: () => void): (() => void) | undefined {
  if (signal === undefined) return undefined
  signal.addEventListener('abort', action, { once: true })
  return () => signal.removeEventListener('abort', action)
}

/** The name of a `memory://name` address, or undefined when malformed. */
function parseAddress(address: unknown): string | undefined {
  if (typeof address !== 'string' || !address.startsWith(ADDRESS_PREFIX)) return undefined
  const name = address.slice(ADDRESS_PREFIX.length)
  return name === '' || /\s/.test(name) ? undefined : name
}
