import type { Clock } from '../ports/clock.js'
import { systemClock } from '../ports/clock.js'
import type { HubEndpoint, NodeEndpoint, PeerInfo } from '../ports/transport.js'
import { seededRandom } from '../util/random.js'
import { MemoryFaults } from './fault-injector.js'

/** Frames and their total bytes. */
export interface FrameCount {
  readonly frames: number
  readonly bytes: number
}

/**
 * Frames lost, by cause: the bounded queue was full (`queueFull`, the sender saw false), fault
 * injection dropped it (`fault`), it was over `maxFrameSize` (`tooLarge`), or it was still
 * queued when its link went down (`linkDown`).
 */
export interface DropCounts {
  readonly queueFull: number
  readonly fault: number
  readonly tooLarge: number
  readonly linkDown: number
}

/**
 * Counters for one direction. `sent` counts frames accepted onto a link (`send` returned
 * true; one per receiver for a broadcast), including those a fault later drops; refused
 * frames (`queueFull`, `tooLarge`) are only in `dropped`. `delivered` counts handler calls.
 */
export interface DirectionStats {
  readonly sent: FrameCount
  readonly delivered: FrameCount
  readonly dropped: DropCounts
}

/** Counters of one link (one peer id). */
export interface PeerStats {
  readonly peerId: string
  readonly identity: string
  readonly toHub: DirectionStats
  readonly toNode: DirectionStats
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] }
type MutableDirection = Mutable<DirectionStats>
/** @internal */
export type MutablePeerStats = Mutable<PeerStats>

/** @internal A frame direction. */
export type Direction = 'toHub' | 'toNode'

/** @internal */
export type DropReason = keyof DropCounts

const newDirection = (): MutableDirection => ({
  sent: { frames: 0, bytes: 0 },
  delivered: { frames: 0, bytes: 0 },
  dropped: { queueFull: 0, fault: 0, tooLarge: 0, linkDown: 0 },
})

function zero(d: MutableDirection): void {
  d.sent.frames = d.sent.bytes = d.delivered.frames = d.delivered.bytes = 0
  d.dropped.queueFull = d.dropped.fault = d.dropped.tooLarge = d.dropped.linkDown = 0
}

/**
 * Live counters of a memory network. The objects update in place; read them whenever you
 * like. Per-peer counters are kept after the peer leaves, until {@link reset}.
 */
export class MemoryStats {
  readonly #toHub = newDirection()
  readonly #toNode = newDirection()
  readonly #links = { established: 0, refused: 0, dropped: 0 }
  readonly #faults = { duplicated: 0, reordered: 0, delayed: 0 }
  readonly #peers = new Map<string, MutablePeerStats>()

  /** Node→hub totals. */
  get toHub(): DirectionStats {
    return this.#toHub
  }

  /** Hub→node totals (unicast and broadcast). */
  get toNode(): DirectionStats {
    return this.#toNode
  }

  /** Links that came up, link attempts refused for their identity, links that went down. */
  get links(): { readonly established: number; readonly refused: number; readonly dropped: number } {
    return this.#links
  }

  /** Frames a fault duplicated, reordered or delayed. */
  get faults(): { readonly duplicated: number; readonly reordered: number; readonly delayed: number } {
    return this.#faults
  }

  /** Frames accepted, both directions (a fresh object). */
  get sent(): FrameCount {
    return add(this.#toHub.sent, this.#toNode.sent)
  }

  /** Frames delivered, both directions (a fresh object). */
  get delivered(): FrameCount {
    return add(this.#toHub.delivered, this.#toNode.delivered)
  }

  /** Frames dropped, both directions (a fresh object). */
  get dropped(): DropCounts {
    const a = this.#toHub.dropped
    const b = this.#toNode.dropped
    return {
      queueFull: a.queueFull + b.queueFull,
      fault: a.fault + b.fault,
      tooLarge: a.tooLarge + b.tooLarge,
      linkDown: a.linkDown + b.linkDown,
    }
  }

  /** The counters of the link with this peer id. */
  peer(peerId: string): PeerStats | undefined {
    return this.#peers.get(peerId)
  }

  /** The counters of every link seen since the last reset, oldest first. */
  peers(): PeerStats[] {
    return [...this.#peers.values()]
  }

  /** Zeroes every counter (in place) and forgets per-peer counters. */
  reset(): void {
    zero(this.#toHub)
    zero(this.#toNode)
    this.#links.established = this.#links.refused = this.#links.dropped = 0
    this.#faults.duplicated = this.#faults.reordered = this.#faults.delayed = 0
    this.#peers.clear()
  }

  /** @internal Counters for a new link. */
  openPeer(peer: PeerInfo): MutablePeerStats {
    const stats: MutablePeerStats = {
      peerId: peer.id,
      identity: peer.identity,
      toHub: newDirection(),
      toNode: newDirection(),
    }
    this.#peers.set(peer.id, stats)
    this.#links.established++
    return stats
  }

  /** @internal */
  linkRefused(): void {
    this.#links.refused++
  }

  /** @internal */
  linkDropped(): void {
    this.#links.dropped++
  }

  /** @internal */
  fault(kind: 'duplicated' | 'reordered' | 'delayed'): void {
    this.#faults[kind]++
  }

  /** @internal */
  sentFrame(peer: MutablePeerStats, direction: Direction, bytes: number): void {
    for (const d of [this.total(direction), peer[direction]]) {
      d.sent.frames++
      d.sent.bytes += bytes
    }
  }

  /** @internal */
  deliveredFrame(peer: MutablePeerStats, direction: Direction, bytes: number): void {
    for (const d of [this.total(direction), peer[direction]]) {
      d.delivered.frames++
      d.delivered.bytes += bytes
    }
  }

  /** @internal */
  droppedFrames(peer: MutablePeerStats, direction: Direction, reason: DropReason, count = 1): void {
    this.total(direction).dropped[reason] += count
    peer[direction].dropped[reason] += count
  }

  private total(direction: Direction): MutableDirection {
    return direction === 'toHub' ? this.#toHub : this.#toNode
  }
}

function add(a: FrameCount, b: FrameCount): FrameCount {
  return { frames: a.frames + b.frames, bytes: a.bytes + b.bytes }
}

/** @internal What the network needs from a listening hub endpoint. */
export interface NetworkHub extends HubEndpoint {
  /** Dies abruptly: see `faults.killHub`. */
  kill(): void
}

/** @internal What the network needs from a node endpoint. */
export interface NetworkNode extends NodeEndpoint {
  readonly identity: string
  /** Drops the node's live link, if any, with `reason`; true when there was one. */
  dropLink(reason: string): boolean
  /** Restarts delivery to it (after a pause ends). */
  resumeDelivery(): void
}

/** Options of {@link memoryNetwork}. */
export interface MemoryNetworkInit {
  /**
   * The clock fault delays run on, and the default clock of the transports on this network
   * (their reconnect backoff). Default {@link systemClock}.
   */
  readonly clock?: Clock
  /** Seed of the fault-injection randomness. Default 1: runs are deterministic unless you vary it. */
  readonly seed?: number
}

/**
 * The simulated medium memory transports meet on: it holds the listening addresses (there is
 * no module-global registry), the fault injector and the counters. Transports created on the
 * same network reach each other's hubs; each `memoryTransport()` without one gets its own.
 */
export class MemoryNetwork {
  /** The clock fault delays run on. */
  readonly clock: Clock
  /** The seed of {@link faults}' randomness, for reproducing a run. */
  readonly seed: number
  /** Fault injection for every link on this network. */
  readonly faults: MemoryFaults
  /** Counters for every link on this network. */
  readonly stats = new MemoryStats()
  /** @internal Listening hubs by address. */
  readonly hubs = new Map<string, NetworkHub>()
  /** @internal Open node endpoints. */
  readonly nodes = new Set<NetworkNode>()
  #peerIds = 0
  #autoNames = 0

  constructor(init: MemoryNetworkInit = {}) {
    this.clock = init.clock ?? systemClock
    this.seed = init.seed ?? 1
    this.faults = new MemoryFaults(seededRandom(this.seed), {
      dropNodeLinks: (matches, reason) => {
        let dropped = 0
        for (const node of this.nodes) if (matches(node.identity, node) && node.dropLink(reason)) dropped++
        return dropped
      },
      killHub: (hub) => {
        const target = typeof hub === 'string' ? this.hubs.get(hub) : this.hubs.get(hub.address)
        if (target === undefined || (typeof hub !== 'string' && target !== hub)) return false
        target.kill()
        return true
      },
      resumeDelivery: () => {
        for (const node of this.nodes) node.resumeDelivery()
      },
    })
  }

  /** The addresses listened on now. */
  addresses(): string[] {
    return [...this.hubs.keys()]
  }

  /** @internal A peer id unique on this network. */
  nextPeerId(): string {
    return `peer-${++this.#peerIds}`
  }

  /** @internal A fresh address for `memory://*`. */
  nextAutoAddress(): string {
    let address: string
    do address = `memory://auto-${++this.#autoNames}`
    while (this.hubs.has(address))
    return address
  }
}

/**
 * A new, empty memory network. Pass it to several `memoryTransport({ network })` calls when
 * hub and nodes use different transport objects (e.g. each with its own options).
 */
export function memoryNetwork(init?: MemoryNetworkInit): MemoryNetwork {
  return new MemoryNetwork(init)
}
