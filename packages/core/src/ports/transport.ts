import type { ConcordError } from '../errors.js'
import type { Backoff } from './backoff.js'

/**
 * How a peer authenticated: `none` (anonymous, loopback only), `named` (a name the transport
 * vouches for, as the in-memory transport does), `curve` (a ZeroMQ CURVE public key), `acl`
 * (a Redis ACL user), or an adapter's own kind.
 */
export type AuthenticationKind = 'none' | 'named' | 'curve' | 'acl' | (string & {})

/** What a transport can do. The conformance suite picks its tests from this, never from flags. */
export interface TransportCapabilities {
  /** Short name, e.g. `memory`, `zmq`, `redis`. */
  readonly name: string
  /** The largest frame `send`/`broadcast` accept, in bytes. Core never builds a larger one. */
  readonly maxFrameSize: number
  /**
   * True when the transport filters broadcasts by topic prefix itself. False means a node
   * may receive a superset of its subscriptions; core filters exactly either way.
   */
  readonly nativePrefixFilter: boolean
  /** The authentication kinds this transport offers. */
  readonly authentication: readonly AuthenticationKind[]
  /**
   * True when the transport may drop frames silently while a link is up (ZeroMQ at its
   * high-water mark). Core detects loss by sequence numbers either way.
   */
  readonly lossy: boolean
  /** True when the hub side bounds each peer's outbound queue (S6.5). */
  readonly boundedPeerQueues: boolean
}

/** A connected peer as the hub sees it. */
export interface PeerInfo {
  /** Unique per connection, chosen by the transport. A reconnect gets a new id. */
  readonly id: string
  /** The authenticated identity (S8.1): a name, a public key, an ACL user; `anonymous` when none. */
  readonly identity: string
}

/**
 * Callbacks a hub endpoint delivers to. Called synchronously from the transport's I/O;
 * a handler must not throw (core's never do). Frames from one peer arrive in the order sent.
 */
export interface HubHandlers {
  /** A peer connected and authenticated. Precedes its first `frame`. */
  peerJoined(peer: PeerInfo): void
  /** A peer went away (closed, timed out, was disconnected). No `frame` from it follows. */
  peerLeft(peer: PeerInfo, reason: string): void
  /**
   * A frame from a peer. The frame is the receiver's to keep: the transport never reuses or
   * changes its memory afterwards (core may keep views into it until it has copied what it keeps).
   */
  frame(peer: PeerInfo, frame: Uint8Array): void
  /**
   * Whether `peer` may receive broadcasts on topics that start with `topic`. The transport
   * must ask before delivering any broadcast of that subscription, and deliver none on refusal.
   */
  authorizeSubscription(peer: PeerInfo, topic: string): boolean
  /** Something the transport refused by itself (oversized or malformed frame), for counting (S9.1). */
  refused(peer: PeerInfo | undefined, error: ConcordError): void
}

/** Options for {@link Transport.listen}. */
export interface ListenOptions {
  readonly signal?: AbortSignal
}

/** The hub's side of a transport. */
export interface HubEndpoint {
  /** The address nodes connect to (a requested port 0 resolved to the real one). */
  readonly address: string
  /**
   * Queues a frame to one peer. Returns false when it was not queued: the peer is gone or
   * its bounded queue is full (the frame is dropped and counted by the caller).
   * Frames to one peer arrive in the order sent, without duplicates, while the link is up.
   * The frame is handed over: the caller never changes it afterwards, so the transport may
   * send it without copying.
   */
  send(peerId: string, frame: Uint8Array): boolean
  /**
   * Sends one frame to every peer whose authorized subscription is a prefix of `topic`.
   * The frame is encoded once by core and must not be re-serialized per receiver. A slow
   * peer loses frames (its queue is bounded) rather than slowing the others.
   *
   * Returns how many of those peers miss the frame: their bounded queue is full, or the frame
   * is over their size limit. The hub counts them in `metrics.skippedBroadcasts` (a
   * non-negative integer; anything else is not counted). A transport
   * that does not tell may return nothing; either way a clone finds the gap by sequence
   * number and resyncs (S6.3), a subscriber counts the event as lost (S7.6).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a transport whose broadcast returns void stays valid
  broadcast(topic: string, frame: Uint8Array): number | void
  /** Drops a peer's link (e.g. a slow consumer); it may reconnect. */
  disconnect(peerId: string, reason: string): void
  /** Stops listening and drops every peer. Idempotent. */
  close(): Promise<void>
}

/** Callbacks a node endpoint delivers to. Same rules as {@link HubHandlers}. */
export interface NodeHandlers {
  /** The link to the hub is (re)established and authenticated; send HELLO now. */
  linkUp(): void
  /** The link is down; the transport is reconnecting with the backoff it was given. */
  linkDown(reason: string): void
  /** A frame sent to this node alone. The node may keep it (see {@link HubHandlers.frame}). */
  frame(frame: Uint8Array): void
  /** A broadcast frame on `topic` (possibly a superset of the subscriptions; core filters). */
  broadcast(topic: string, frame: Uint8Array): void
}

/** Options for {@link Transport.connect}. */
export interface ConnectOptions {
  /** When to try again after the link drops or fails: delay in ms for attempt n (1-based). */
  readonly backoff: Backoff
  /** The identity to present, for transports with `named` authentication. */
  readonly identity?: string
  readonly signal?: AbortSignal
}

/** A node's side of a transport: one link to one hub. */
export interface NodeEndpoint {
  /**
   * Queues a frame to the hub. Returns false when the link is down or its bounded queue is
   * full (nothing is queued). Frames arrive in the order sent while the link is up. The frame
   * is handed over (the caller never changes it afterwards).
   */
  send(frame: Uint8Array): boolean
  /**
   * Subscribes to broadcasts on topics starting with `topic`. Resolves once broadcasts
   * published after that moment will be delivered; rejects with `ForbiddenError` when the
   * hub refuses. Subscriptions survive reconnects (the transport re-establishes them).
   */
  subscribe(topic: string): Promise<void>
  /** Stops a subscription. Idempotent. */
  unsubscribe(topic: string): void
  /** Drops the current link and reconnects with the backoff (core calls this on heartbeat silence). */
  reconnect(): void
  /** Closes the link for good. Idempotent; no handler is called afterwards. */
  close(): Promise<void>
}

/**
 * A transport: dumb, ordered pipes between nodes and a hub, nothing store-specific.
 * Constructing one does no I/O. See docs/custom-transport.md for the full contract.
 */
export interface Transport {
  readonly capabilities: TransportCapabilities
  /** Binds `address` and serves peers. Rejects when the address cannot be bound. */
  listen(address: string, handlers: HubHandlers, options?: ListenOptions): Promise<HubEndpoint>
  /**
   * Starts a link to the hub at `address`. Resolves with the endpoint at once; `linkUp`
   * reports when frames can flow. Rejects only for an invalid address or options.
   */
  connect(address: string, handlers: NodeHandlers, options: ConnectOptions): Promise<NodeEndpoint>
}
