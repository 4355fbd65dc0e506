import type { HubEndpoint, NodeEndpoint } from '../ports/transport.js'
import type { SeededRandom } from '../util/random.js'

/** Which way a frame travels: to the hub, to a node, or either (`both`). */
export type FaultDirection = 'toHub' | 'toNode' | 'both'

/** A frame sent to one peer (every node→hub frame is one), or one copy of a hub broadcast. */
export type FrameKind = 'unicast' | 'broadcast'

/** Names nodes: an identity (every node presenting it) or one node endpoint returned by `connect`. */
export type NodeSelector = string | NodeEndpoint

/** Which frames a fault applies to. Every field given must match; an empty filter matches all. */
export interface FaultFilter {
  /** Default `both`. */
  readonly direction?: FaultDirection
  readonly kind?: FrameKind
  /** Only frames on links of this node (by identity or endpoint). */
  readonly node?: NodeSelector
}

/** Removes the fault rule it was returned for. Idempotent. */
export type RemoveFault = () => void

/** @internal What the transport knows about a frame when it asks for a plan. */
export interface FrameFacts {
  readonly direction: 'toHub' | 'toNode'
  readonly kind: FrameKind
  readonly identity: string
  readonly endpoint: NodeEndpoint
}

/** @internal What happens to one frame. */
export interface FramePlan {
  readonly drop: boolean
  /** Extra ms before it may be delivered (0: none). */
  readonly delay: number
  readonly duplicate: boolean
  /** Swap with the frame queued just before it, when that one is still queued. */
  readonly reorder: boolean
}

/** @internal The network operations faults need; implemented by `MemoryNetwork`. */
export interface FaultTarget {
  /** Drops the live links of the nodes `matches` selects; returns how many. */
  dropNodeLinks(matches: (identity: string, endpoint: NodeEndpoint) => boolean, reason: string): number
  /** Kills the hub listening at `address` (or that endpoint); false when none. */
  killHub(hub: string | HubEndpoint): boolean
  /** Restarts delivery to nodes that may have been paused. */
  resumeDelivery(): void
}

type Rule =
  | { readonly type: 'drop' | 'duplicate' | 'reorder'; readonly p: number; readonly filter: FaultFilter }
  | { readonly type: 'delay'; readonly min: number; readonly max: number; readonly filter: FaultFilter }

const NONE: FramePlan = Object.freeze({ drop: false, delay: 0, duplicate: false, reorder: false })

/**
 * Fault injection for a memory network: lossy, duplicating, reordering and slow links,
 * partitions, killed nodes and hubs, and nodes that stop reading. Randomness comes from the
 * network's seeded generator, drawn only when a rule matches a frame, so a run is
 * deterministic given the seed and the order of calls.
 *
 * The memory transport declares `lossy: false`; `drop`, `duplicate`, `reorder` and `delay`
 * deliberately break that contract (and FIFO, for `reorder`) to test how core copes.
 * Lifecycle faults (`partition`, `kill`, `killHub`, `pause`) stay within it.
 */
export class MemoryFaults {
  readonly #rules: Rule[] = []
  readonly #partitions: NodeSelector[] = []
  readonly #pauses: NodeSelector[] = []

  /** @internal Use `memoryNetwork().faults` or `memoryTransport().faults`. */
  constructor(
    private readonly random: SeededRandom,
    private readonly target: FaultTarget,
  ) {}

  /** Drops each matching frame with probability `p`; the sender is not told (`send` returns true). */
  drop(p: number, filter: FaultFilter = {}): RemoveFault {
    return this.add({ type: 'drop', p: probability(p), filter })
  }

  /** Delivers each matching frame twice (back to back) with probability `p`. */
  duplicate(p: number, filter: FaultFilter = {}): RemoveFault {
    return this.add({ type: 'duplicate', p: probability(p), filter })
  }

  /**
   * With probability `p`, a matching frame swaps places with the frame queued just before it
   * on the same link and direction, when that frame has not been delivered yet (frames sent in
   * the same event-loop turn always qualify).
   */
  reorder(p: number, filter: FaultFilter = {}): RemoveFault {
    return this.add({ type: 'reorder', p: probability(p), filter })
  }

  /**
   * Holds each matching frame for a uniform random time in [minMs, maxMs] on the network's
   * clock. Links stay FIFO: frames queued behind a held frame wait for it.
   */
  delay(minMs: number, maxMs: number, filter: FaultFilter = {}): RemoveFault {
    if (!(Number.isFinite(minMs) && Number.isFinite(maxMs) && minMs >= 0 && minMs <= maxMs)) {
      throw new RangeError(`delay(minMs, maxMs) needs 0 <= minMs <= maxMs, got ${minMs}, ${maxMs}`)
    }
    return this.add({ type: 'delay', min: minMs, max: maxMs, filter })
  }

  /**
   * Cuts the selected nodes off: their links go down now (both sides are told, reason
   * `partitioned`) and every reconnect attempt fails until {@link heal}. Returns the number
   * of links dropped.
   */
  partition(node: NodeSelector): number {
    this.#partitions.push(node)
    return this.target.dropNodeLinks((identity, endpoint) => selects(node, identity, endpoint), 'partitioned')
  }

  /**
   * Lifts the partition made with exactly this selector (the same identity string or endpoint
   * object), or every partition when called without one. Nodes come back at their next
   * backoff attempt.
   */
  heal(node?: NodeSelector): void {
    remove(this.#partitions, node)
  }

  /**
   * Drops the selected nodes' current links (reason `killed`), as if the connection broke;
   * both sides are told and the nodes reconnect per their backoff. Returns the number dropped.
   */
  kill(node: NodeSelector): number {
    return this.target.dropNodeLinks((identity, endpoint) => selects(node, identity, endpoint), 'killed')
  }

  /**
   * Kills the hub at `address` abruptly: none of its handlers is called again (no `peerLeft`),
   * the address is free at once, and its nodes see `linkDown('hub killed')` and keep retrying.
   * Returns false when nothing listens there.
   */
  killHub(address: string | HubEndpoint): boolean {
    return this.target.killHub(address)
  }

  /**
   * Makes the selected nodes stop reading: frames to them pile up in their bounded queue, then
   * drop as `queueFull` (the hub's `send` returns false): the slow consumer of S6.5.
   */
  pause(node: NodeSelector): void {
    this.#pauses.push(node)
  }

  /** Undoes {@link pause} for exactly this selector, or every pause without one; queued frames flow again. */
  resume(node?: NodeSelector): void {
    remove(this.#pauses, node)
    this.target.resumeDelivery()
  }

  /** Removes every rule, partition and pause. Killed hubs stay dead. */
  clear(): void {
    this.#rules.length = 0
    this.#partitions.length = 0
    this.#pauses.length = 0
    this.target.resumeDelivery()
  }

  /** @internal True when a partition covers this node. */
  isPartitioned(identity: string, endpoint: NodeEndpoint): boolean {
    return this.#partitions.some((s) => selects(s, identity, endpoint))
  }

  /** @internal True when this node has stopped reading. */
  isPaused(identity: string, endpoint: NodeEndpoint): boolean {
    return this.#pauses.length > 0 && this.#pauses.some((s) => selects(s, identity, endpoint))
  }

  /** @internal Decides the fate of one frame, drawing randomness only for matching rules. */
  plan(frame: FrameFacts): FramePlan {
    if (this.#rules.length === 0) return NONE
    let drop = false
    let delay = 0
    let duplicate = false
    let reorder = false
    for (const rule of this.#rules) {
      if (!matches(rule.filter, frame)) continue
      switch (rule.type) {
        case 'drop':
          if (this.random.chance(rule.p)) drop = true
          break
        case 'duplicate':
          if (this.random.chance(rule.p)) duplicate = true
          break
        case 'reorder':
          if (this.random.chance(rule.p)) reorder = true
          break
        case 'delay':
          delay = Math.max(delay, this.random.between(rule.min, rule.max))
          break
      }
    }
    return { drop, delay, duplicate, reorder }
  }

  private add(rule: Rule): RemoveFault {
    this.#rules.push(rule)
    return () => {
      const i = this.#rules.indexOf(rule)
      if (i >= 0) this.#rules.splice(i, 1)
    }
  }
}

function probability(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`a probability must be in [0, 1], got ${p}`)
  return p
}

function selects(selector: NodeSelector, identity: string, endpoint: NodeEndpoint): boolean {
  return typeof selector === 'string' ? selector === identity : selector === endpoint
}

function matches(filter: FaultFilter, frame: FrameFacts): boolean {
  if (filter.direction !== undefined && filter.direction !== 'both' && filter.direction !== frame.direction) {
    return false
  }
  if (filter.kind !== undefined && filter.kind !== frame.kind) return false
  return filter.node === undefined || selects(filter.node, frame.identity, frame.endpoint)
}

function remove(list: NodeSelector[], selector: NodeSelector | undefined): void {
  if (selector === undefined) {
    list.length = 0
    return
  }
  for (let i = list.length - 1; i >= 0; i--) if (list[i] === selector) list.splice(i, 1)
}
