import { randomBytes } from 'node:crypto'
import type { ConnectionOptions as TlsOptions } from 'node:tls'
import {
  AbortedError,
  type Backoff,
  type Clock,
  type ConnectOptions,
  exponentialBackoff,
  type HubEndpoint,
  type HubHandlers,
  type ListenOptions,
  type NodeEndpoint,
  type NodeHandlers,
  systemClock,
  type Transport,
  type TransportCapabilities,
} from '@concord/core'
import type { RedisOptions } from 'ioredis'
import { parseAddress } from './address.js'
import { isChannelPrefix } from './channels.js'
import { RedisHubEndpoint } from './hub-endpoint.js'
import { RedisNodeEndpoint } from './node-endpoint.js'
import { newStats, type RedisTransportStats, type ResolvedOptions } from './options.js'

/** Options of {@link redisTransport}. Every one is optional. */
export interface RedisTransportInit {
  /**
   * The Redis ACL user every connection of this transport authenticates as. For a node it is
   * its identity (S8.1): what the hub's authorizer sees. Default: the `default` user.
   */
  readonly username?: string
  /** The password of {@link username} (or of the `default` user). */
  readonly password?: string
  /** TLS options for node's `tls.connect` (implied, empty, by a `rediss://` address). */
  readonly tls?: TlsOptions
  /**
   * More ioredis options (`connectTimeout`, `keepAlive`, `sentinelPassword`, `natMap`…). The
   * host, port, `sentinels` and `name` come from the address; the options the transport
   * relies on (`lazyConnect`, `enableOfflineQueue`, `enableAutoPipelining`, `autoResubscribe`,
   * `autoResendUnfulfilledCommands`, `retryStrategy`, `sentinelRetryStrategy`) are always set
   * by it. Behind Sentinels, `failoverDetector: true` moves connections at `+switch-master`
   * even when the old master stays up (see the README).
   */
  readonly redis?: RedisOptions
  /** The first segment of every channel name. Default `concord`. */
  readonly prefix?: string
  /**
   * The largest frame accepted, in bytes. Default 16 MiB; at most 512 MiB minus 1 KiB
   * (Redis' default `proto-max-bulk-len` is 512 MB). A link uses the smaller of its two ends'.
   */
  readonly maxFrameSize?: number
  /**
   * Frames queued per link and direction before further frames are refused (`send` returns
   * false; a broadcast skips that peer). Hub → node: frames published to the node that it has
   * not acknowledged yet (nodes acknowledge as they read, every quarter of the bound), so a
   * node that stops reading fills it, core drops the peer and it resyncs (S6.5). Node → hub:
   * requests Redis has not answered yet. Default 10 000.
   */
  readonly peerQueueLimit?: number
  /**
   * The same bound in bytes (a frame is always admitted to an empty queue). Default 8 MiB:
   * under Redis' default soft limit for Pub/Sub clients (`client-output-buffer-limit pubsub
   * 32mb 8mb 60`), so the hub refuses frames to a slow node before Redis drops it.
   */
  readonly peerQueueBytes?: number
  /**
   * How long a node waits for the hub's WELCOME before trying again, and a starting hub for the
   * other hubs' answers to its claim on the name (see the README), in ms. Default 5000.
   */
  readonly handshakeTimeout?: number
  /**
   * A node whose link is up but that sent nothing for this long, in ms, publishes a probe: if
   * no hub hears it (the hub died without a word), the link ends and the node links again.
   * Default 2000.
   */
  readonly probeInterval?: number
  /**
   * How long `close()` waits for QUIT before dropping a connection, in ms. Default 2000. A
   * `listen` aborted by its signal drops its connections at once.
   */
  readonly closeTimeout?: number
  /**
   * The reconnect policy of a hub's Redis connections (nodes use `ConnectOptions.backoff`).
   * Default: exponential from 50 ms to 5 s.
   */
  readonly backoff?: Backoff
  /** The clock link retries and handshake timeouts run on. Default {@link systemClock}. */
  readonly clock?: Clock
}

const MiB = 1024 * 1024
const DEFAULT_MAX_FRAME_SIZE = 16 * MiB
const MAX_MAX_FRAME_SIZE = 512 * MiB - 1024

/**
 * A {@link Transport} over Redis Pub/Sub: nodes and hubs on any machines meet through one
 * Redis (standalone or Sentinel-managed). See the package README for the address form, the
 * design, the identity model and what `capabilities` mean here.
 *
 * Rules:
 * - Addresses: `redis://host:port/<hub>`, `rediss://…` (TLS),
 *   `redis+sentinel://host:port,…/<master>/<hub>`; `listen` takes `*` as the hub name for a
 *   fresh one (read `hub.address`). Listening on a name a live hub holds rejects with
 *   `UnavailableError`, so does an unreachable Redis or a refused login.
 * - Delivery is asynchronous and FIFO per link: node → hub on the link's request channel,
 *   hub → node (unicast and broadcast together) on its reply channel.
 * - Broadcasts are filtered by byte prefix on the hub and published to each receiving peer's
 *   channel: the same encoded bytes for every peer.
 * - Frames over `maxFrameSize` are not sent: `send` returns false; from a node, the hub's
 *   `refused(peer, TooLargeError)` is called as well. A message over the limit that reaches a
 *   hub anyway (a foreign client) is refused and counted the same way.
 * - Identity: the Redis ACL user of the node's connections (`username`); without one, the
 *   name given as `ConnectOptions.identity` (unverified) or `anonymous`.
 */
export class RedisTransport implements Transport {
  /** `redis`, byte-prefix filtering on the hub, `none`/`acl` authentication, lossy, bounded peer queues. */
  readonly capabilities: TransportCapabilities
  /** Counters over every endpoint of this transport. */
  readonly stats: RedisTransportStats
  readonly #options: ResolvedOptions
  readonly #hubs = new Set<RedisHubEndpoint>()
  readonly #nodes = new Set<RedisNodeEndpoint>()

  constructor(init: RedisTransportInit = {}) {
    if (typeof init !== 'object' || init === null)
      throw new TypeError('redisTransport(init): init must be an object')
    const maxFrameSize = init.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
    if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < 1 || maxFrameSize > MAX_MAX_FRAME_SIZE) {
      throw new RangeError(
        `maxFrameSize must be an integer in [1, ${MAX_MAX_FRAME_SIZE}], got ${maxFrameSize}`,
      )
    }
    const positive = (name: string, value: number) => {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`${name} must be a positive integer, got ${value}`)
      }
      return value
    }
    const prefix = init.prefix ?? 'concord'
    if (!isChannelPrefix(prefix)) {
      throw new TypeError(
        `prefix must match [A-Za-z0-9][A-Za-z0-9._-]* (at most 64 characters), got '${prefix}'`,
      )
    }
    const username = init.username ?? init.redis?.username
    if (username !== undefined && (typeof username !== 'string' || username === '')) {
      throw new TypeError('username must be a non-empty string')
    }
    if (init.backoff !== undefined && typeof init.backoff !== 'function') {
      throw new TypeError('backoff must be a function')
    }
    const stats = newStats()
    this.stats = stats
    this.#options = {
      settings: {
        username,
        password: init.password ?? init.redis?.password,
        tls: init.tls,
        redis: { ...(init.redis ?? {}) },
      },
      prefix,
      maxFrameSize,
      peerQueueLimit: positive('peerQueueLimit', init.peerQueueLimit ?? 10_000),
      peerQueueBytes: positive('peerQueueBytes', init.peerQueueBytes ?? 8 * MiB),
      handshakeTimeout: positive('handshakeTimeout', init.handshakeTimeout ?? 5000),
      probeInterval: positive('probeInterval', init.probeInterval ?? 2000),
      closeTimeout: positive('closeTimeout', init.closeTimeout ?? 2000),
      backoff: init.backoff ?? exponentialBackoff(),
      clock: init.clock ?? systemClock,
      stats,
    }
    this.capabilities = Object.freeze({
      name: 'redis',
      maxFrameSize,
      nativePrefixFilter: true,
      authentication: Object.freeze(['none', 'acl']),
      // Pub/Sub keeps nothing for a subscriber that is away: frames in flight when a connection
      // drops are lost (the link then goes down and core resyncs).
      lossy: true,
      boundedPeerQueues: true,
    })
  }

  /** The ACL user this transport's connections log in as, or undefined for the `default` user. */
  get username(): string | undefined {
    return this.#options.settings.username
  }

  /** The hub endpoints of this transport that are listening. */
  hubs(): RedisHubEndpoint[] {
    return [...this.#hubs]
  }

  /** The node endpoints of this transport not closed yet. */
  nodes(): RedisNodeEndpoint[] {
    return [...this.#nodes]
  }

  /**
   * Connects to the Redis of `address`, checks that no live hub holds its hub name, and
   * subscribes to the hub's request channels. Rejects with `TypeError` for a malformed address,
   * `UnavailableError` when Redis is unreachable, refuses the login or the name is in use,
   * `AbortedError` as soon as `signal` fires first (without waiting for Redis); aborting later
   * closes the hub.
   */
  async listen(address: string, handlers: HubHandlers, options: ListenOptions = {}): Promise<HubEndpoint> {
    const parsed = parseAddress(address)
    if (typeof handlers !== 'object' || handlers === null) throw new TypeError('listen() needs hub handlers')
    if (options.signal?.aborted) throw new AbortedError('listen aborted', { cause: options.signal.reason })
    const hub = parsed.hub === '*' ? `hub-${randomBytes(6).toString('hex')}` : parsed.hub
    const endpoint = new RedisHubEndpoint(this.#options, { ...parsed, hub }, handlers, (h) =>
      this.#hubs.delete(h),
    )
    await endpoint.start(options.signal)
    this.#hubs.add(endpoint)
    return endpoint
  }

  /**
   * Starts a link to the hub at `address` and resolves at once (no I/O happens before).
   * Redis connections are retried with `options.backoff` (as ioredis' `retryStrategy`), link
   * attempts likewise on the transport's clock, forever, until `close()`. Rejects with
   * `TypeError` for a malformed address or options (also when `options.identity` differs from
   * the ACL user), `AbortedError` when `signal` is already aborted; aborting later closes it.
   */
  async connect(address: string, handlers: NodeHandlers, options: ConnectOptions): Promise<NodeEndpoint> {
    const parsed = parseAddress(address)
    if (parsed.hub === '*') throw new TypeError(`cannot connect to '${address}': name the hub`)
    if (typeof handlers !== 'object' || handlers === null)
      throw new TypeError('connect() needs node handlers')
    if (typeof options?.backoff !== 'function') throw new TypeError('connect() needs options.backoff')
    const claimed = options.identity
    if (claimed !== undefined && (typeof claimed !== 'string' || claimed === '')) {
      throw new TypeError('identity must be a non-empty string')
    }
    const user = this.#options.settings.username
    let identity: string
    if (user !== undefined && user !== 'default') {
      if (claimed !== undefined && claimed !== user) {
        throw new TypeError(
          `identity '${claimed}' differs from the Redis ACL user '${user}': on Redis the ACL user is the identity`,
        )
      }
      identity = user
    } else {
      identity = claimed ?? 'anonymous'
    }
    if (options.signal?.aborted) throw new AbortedError('connect aborted', { cause: options.signal.reason })
    const node = new RedisNodeEndpoint(this.#options, parsed, identity, handlers, options.backoff, (n) =>
      this.#nodes.delete(n),
    )
    this.#nodes.add(node)
    node.start(options.signal)
    return node
  }
}

/**
 * A Redis transport: see {@link RedisTransport} for the rules and the package README for
 * the design. Creating one does no I/O.
 *
 * @example
 * const transport = redisTransport({ username: 'node-1', password: process.env.REDIS_PASSWORD })
 * const node = await createNode({ transport, hub: 'redis://10.0.0.5:6379/concord-hub-1' })
 */
export function redisTransport(init?: RedisTransportInit): RedisTransport {
  return new RedisTransport(init)
}
