/**
 * This transport as a conformance environment, for the matrix (conformance/test/matrix.test.ts).
 *
 * The environment: one redis-server for the file (started while the file is collected, since
 * the suites read the adapters' capabilities then), hubs on fresh names, and
 * `transportFor(identity)` through real ACL users confined by `redisAclRules`, so the S8 tests
 * run against Redis' own access control. `faults` ({@link RedisFaults}) does with Redis what
 * Redis can do (kill, partition, pause, killHub) and injects loss, duplication and reordering
 * at the receiving side, as a bad network would.
 */
import type {
  ConformanceFaults,
  Disposable,
  FaultFilter,
  RemoveFault,
  TransportEnv,
} from '@concord/conformance'
import { constantBackoff, type HubHandlers, type NodeHandlers, type Transport } from '@concord/core'
import { seededRandom } from '@concord/core/testing'
import { afterAll } from 'vitest'
import { type RedisTransport, type RedisTransportInit, redisAclRules, redisTransport } from '../src/index.js'
import { startRedisServer } from './redis-server.js'

const server = await startRedisServer()
afterAll(() => server.stop())

const init: RedisTransportInit = {
  // Small frames and queues, as the matrix runs the memory transport.
  maxFrameSize: 1 << 20,
  peerQueueLimit: 1024,
  backoff: constantBackoff(20),
  handshakeTimeout: 2000,
  probeInterval: 200,
}

let addresses = 0

/** ACL users created so far on this server. */
const users = new Map<string, Promise<void>>()

function ensureUser(identity: string): Promise<void> {
  let created = users.get(identity)
  if (created === undefined) {
    created = server.createUser(identity, `${identity}-pw`, redisAclRules('node', identity))
    users.set(identity, created)
  }
  return created
}

type Kind = 'unicast' | 'broadcast'
type Direction = 'toHub' | 'toNode'
interface Rule {
  readonly type: 'drop' | 'duplicate' | 'reorder'
  readonly p: number
  readonly filter: FaultFilter
}

/**
 * Faults on a real Redis. Links die for real: `kill` is `CLIENT KILL USER`, `partition` turns
 * the ACL user off as well (its reconnects fail to log in until `heal`), `killHub` aborts the
 * hub endpoint. `pause` holds the node's frames unread and unacknowledged, so the hub's bounded
 * queue for it fills (S6.5), while control messages still flow, as the in-memory transport's
 * pause does — some suite tests subscribe while paused; pausing the socket itself (Redis then
 * drops the subscriber) is tested in resilience.test.ts and e2e.test.ts. Loss, duplication and
 * reordering are applied where frames are received (a reordered frame is held back until the
 * next one), since Redis never does that by itself.
 */
class RedisFaults implements ConformanceFaults {
  readonly #rules: Rule[] = []
  readonly #partitioned = new Set<string>()
  readonly #paused = new Set<string>()
  readonly #random = seededRandom(7)

  constructor(private readonly transports: () => RedisTransport[]) {}

  drop(p: number, filter: FaultFilter = {}): RemoveFault {
    return this.#add({ type: 'drop', p, filter })
  }

  duplicate(p: number, filter: FaultFilter = {}): RemoveFault {
    return this.#add({ type: 'duplicate', p, filter })
  }

  reorder(p: number, filter: FaultFilter = {}): RemoveFault {
    return this.#add({ type: 'reorder', p, filter })
  }

  partition(identity: string): number {
    this.#partitioned.add(identity)
    void server.admin.call('ACL', 'SETUSER', identity, 'off').catch(() => {})
    return this.kill(identity)
  }

  heal(identity?: string): void {
    for (const name of identity === undefined ? [...this.#partitioned] : [identity]) {
      if (!this.#partitioned.delete(name)) continue
      void server.admin.call('ACL', 'SETUSER', name, 'on').catch(() => {})
    }
  }

  kill(identity: string): number {
    const linked = this.#nodes(identity).filter((node) => node.connected).length
    void server.admin.call('CLIENT', 'KILL', 'USER', identity).catch(() => {})
    return linked
  }

  killHub(address: string): boolean {
    const hubs = this.transports().flatMap((t) => t.hubs().filter((hub) => hub.address === address))
    for (const hub of hubs) hub.abort()
    return hubs.length > 0
  }

  pause(identity: string): void {
    this.#paused.add(identity)
    for (const node of this.#nodes(identity)) node.holdFrames(true)
  }

  resume(identity?: string): void {
    for (const name of identity === undefined ? [...this.#paused] : [identity]) {
      this.#paused.delete(name)
      for (const node of this.#nodes(name)) node.holdFrames(false)
    }
  }

  clear(): void {
    this.#rules.length = 0
    this.heal()
    this.resume()
  }

  /** What happens to one received frame. */
  plan(
    direction: Direction,
    kind: Kind,
    identity: string,
  ): { drop: boolean; duplicate: boolean; reorder: boolean } {
    const plan = { drop: false, duplicate: false, reorder: false }
    for (const rule of this.#rules) {
      const { filter } = rule
      if (filter.direction !== undefined && filter.direction !== 'both' && filter.direction !== direction)
        continue
      if (filter.kind !== undefined && filter.kind !== kind) continue
      if (filter.node !== undefined && filter.node !== identity) continue
      if (this.#random() < rule.p) plan[rule.type] = true
    }
    return plan
  }

  #nodes(identity: string) {
    return this.transports().flatMap((t) => t.nodes().filter((node) => node.identity === identity))
  }

  #add(rule: Rule): RemoveFault {
    this.#rules.push(rule)
    return () => {
      const i = this.#rules.indexOf(rule)
      if (i >= 0) this.#rules.splice(i, 1)
    }
  }
}

/** Delivers through the fault plan: drops, duplicates, or holds a frame back behind the next. */
class Receiver {
  #held: (() => void) | undefined
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly faults: RedisFaults,
    private readonly direction: Direction,
  ) {}

  deliver(kind: Kind, identity: string, call: () => void): void {
    const plan = this.faults.plan(this.direction, kind, identity)
    if (plan.drop) return
    const run = plan.duplicate
      ? () => {
          call()
          call()
        }
      : call
    if (plan.reorder && this.#held === undefined) {
      this.#held = run
      this.#timer = setTimeout(() => this.flush(), 5)
      return
    }
    run()
    this.flush()
  }

  flush(): void {
    clearTimeout(this.#timer)
    const held = this.#held
    this.#held = undefined
    held?.()
  }

  discard(): void {
    clearTimeout(this.#timer)
    this.#held = undefined
  }
}

/**
 * The transport the suites see: faults applied where frames are received, and node endpoints
 * whose `close()` resolves at once while the Redis connections finish closing in the
 * background (awaited by the env's `dispose`).
 *
 * Why the latter: two tests ("closing a node rejects its pending writes…", "closing a node
 * ends its subscriptions and rejects pending publishes…") keep the promises `node.close()`
 * rejects and attach handlers only after `await node.close()`. Our close waits for QUIT to be
 * answered, so those rejections sit unhandled across that round trip and vitest fails the run.
 * The suites should collect them first (e.g. with `settle`); reported to their author.
 */
function envTransport(
  inner: Transport,
  faults: RedisFaults,
  closing: Set<Promise<void>>,
  beforeConnect: () => Promise<void> = async () => {},
): Transport {
  return {
    capabilities: inner.capabilities,
    listen: (address, handlers, options) => {
      const receivers = new Map<string, Receiver>()
      const wrapped: HubHandlers = {
        peerJoined: (peer) => handlers.peerJoined(peer),
        peerLeft: (peer, reason) => {
          receivers.get(peer.id)?.discard()
          receivers.delete(peer.id)
          handlers.peerLeft(peer, reason)
        },
        frame: (peer, frame) => {
          let receiver = receivers.get(peer.id)
          if (receiver === undefined) receivers.set(peer.id, (receiver = new Receiver(faults, 'toHub')))
          receiver.deliver('unicast', peer.identity, () => handlers.frame(peer, frame))
        },
        authorizeSubscription: (peer, topic) => handlers.authorizeSubscription(peer, topic),
        refused: (peer, error) => handlers.refused(peer, error),
      }
      return inner.listen(address, wrapped, options)
    },
    connect: async (address, handlers, options) => {
      await beforeConnect()
      const receiver = new Receiver(faults, 'toNode')
      let identity = options.identity ?? 'anonymous'
      const wrapped: NodeHandlers = {
        linkUp: () => handlers.linkUp(),
        linkDown: (reason) => {
          receiver.discard()
          handlers.linkDown(reason)
        },
        frame: (frame) => receiver.deliver('unicast', identity, () => handlers.frame(frame)),
        broadcast: (topic, frame) =>
          receiver.deliver('broadcast', identity, () => handlers.broadcast(topic, frame)),
      }
      const endpoint = await inner.connect(address, wrapped, options)
      identity = (endpoint as unknown as { identity: string }).identity
      return {
        send: (frame) => endpoint.send(frame),
        subscribe: (topic) => endpoint.subscribe(topic),
        unsubscribe: (topic) => endpoint.unsubscribe(topic),
        reconnect: () => endpoint.reconnect(),
        close: () => {
          closing.add(endpoint.close())
          return Promise.resolve()
        },
      }
    },
  }
}

export function redisEnv(): Disposable<TransportEnv> {
  const base = redisTransport(init)
  const byIdentity = new Map<string, { redis: RedisTransport; wrapped: Transport }>()
  const faults = new RedisFaults(() => [base, ...[...byIdentity.values()].map((t) => t.redis)])
  const closing = new Set<Promise<void>>()
  return {
    transport: envTransport(base, faults, closing),
    // A concrete fresh name rather than '*': some tests reuse the address they were given.
    address: () => server.address(`conformance-${++addresses}`),
    transportFor: (identity) => {
      let entry = byIdentity.get(identity)
      if (entry === undefined) {
        const redis = redisTransport({ ...init, username: identity, password: `${identity}-pw` })
        entry = { redis, wrapped: envTransport(redis, faults, closing, () => ensureUser(identity)) }
        byIdentity.set(identity, entry)
      }
      return entry.wrapped
    },
    faults,
    dispose: async () => {
      faults.clear()
      // The admin connection runs commands in order: once this answers, the users are back on.
      await server.admin.ping()
      await Promise.all(closing)
    },
  }
}
