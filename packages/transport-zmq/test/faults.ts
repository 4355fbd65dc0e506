/**
 * Fault injection over real ZeroMQ links, for the conformance suites (`ConformanceFaults`).
 * Transports made by {@link ZmqFaults.wrap} record their hub endpoints and wrap their node
 * endpoints; faults act there:
 * - `drop`/`duplicate`/`reorder` on frames a node sends (toHub) and receives (toNode);
 * - `partition` drops the links of the nodes presenting an identity and keeps new ones from
 *   coming up (each is dropped again at once) until `heal`;
 * - `kill` drops links (`reconnect()`), `killHub` aborts a hub endpoint as a crash would;
 * - `pause` makes the node transport stop reading (`ZmqNodeEndpoint.setReading`), so frames
 *   really pile up in the link's window at the hub.
 */
import type { ConformanceFaults, FaultDirection, FaultFilter, RemoveFault } from '@concord/conformance'
import type { NodeEndpoint, NodeHandlers, Transport } from '@concord/core'
import { seededRandom } from '@concord/core/testing'
import type { ZmqHubEndpoint, ZmqNodeEndpoint } from '../src/index.js'

interface Rule {
  readonly kind: 'drop' | 'duplicate' | 'reorder'
  readonly p: number
  readonly filter: FaultFilter
}

interface Plan {
  drop: boolean
  duplicate: boolean
  reorder: boolean
}

export class ZmqFaults implements ConformanceFaults {
  readonly #rules = new Set<Rule>()
  readonly #partitioned = new Set<string>()
  readonly #paused = new Set<string>()
  readonly #hubs = new Map<string, ZmqHubEndpoint>()
  readonly #nodes = new Set<FaultyNode>()
  readonly #random = seededRandom(7)

  /** `inner` with its endpoints under this fault injector; nodes present `identity` (or the one they pass). */
  wrap(inner: Transport, identity?: string): Transport {
    return {
      capabilities: inner.capabilities,
      listen: async (address, handlers, options) => {
        const hub = (await inner.listen(address, handlers, options)) as ZmqHubEndpoint
        this.#hubs.set(hub.address, hub)
        return hub
      },
      connect: async (address, handlers, options) => {
        const name = identity ?? options.identity ?? 'anonymous'
        const node = new FaultyNode(this, name, handlers)
        node.inner = (await inner.connect(address, node.handlers, options)) as ZmqNodeEndpoint
        this.#nodes.add(node)
        if (this.#paused.has(name)) node.inner.setReading(false)
        return node
      },
    }
  }

  drop(p: number, filter: FaultFilter = {}): RemoveFault {
    return this.#add({ kind: 'drop', p, filter })
  }

  duplicate(p: number, filter: FaultFilter = {}): RemoveFault {
    return this.#add({ kind: 'duplicate', p, filter })
  }

  reorder(p: number, filter: FaultFilter = {}): RemoveFault {
    return this.#add({ kind: 'reorder', p, filter })
  }

  partition(identity: string): number {
    this.#partitioned.add(identity)
    let dropped = 0
    for (const node of this.#of(identity)) if (node.cut('partitioned')) dropped++
    return dropped
  }

  heal(identity?: string): void {
    if (identity === undefined) this.#partitioned.clear()
    else this.#partitioned.delete(identity)
  }

  kill(identity: string): number {
    let dropped = 0
    for (const node of this.#of(identity)) if (node.cut('killed')) dropped++
    return dropped
  }

  killHub(address: string): boolean {
    const hub = this.#hubs.get(address)
    if (hub === undefined) return false
    this.#hubs.delete(address)
    void hub.abort()
    return true
  }

  pause(identity: string): void {
    this.#paused.add(identity)
    for (const node of this.#of(identity)) node.inner?.setReading(false)
  }

  resume(identity?: string): void {
    for (const name of identity === undefined ? [...this.#paused] : [identity]) {
      this.#paused.delete(name)
      for (const node of this.#of(name)) node.inner?.setReading(true)
    }
  }

  clear(): void {
    this.#rules.clear()
    this.heal()
    this.resume()
  }

  /** @internal */
  isPartitioned(identity: string): boolean {
    return this.#partitioned.has(identity)
  }

  /** @internal What happens to one frame. */
  plan(direction: Exclude<FaultDirection, 'both'>, kind: 'unicast' | 'broadcast', identity: string): Plan {
    const plan: Plan = { drop: false, duplicate: false, reorder: false }
    for (const rule of this.#rules) {
      const { direction: d = 'both', kind: k, node } = rule.filter
      if (d !== 'both' && d !== direction) continue
      if (k !== undefined && k !== kind) continue
      if (node !== undefined && node !== identity) continue
      if (this.#random() < rule.p) plan[rule.kind] = true
    }
    return plan
  }

  /** @internal */
  forget(node: FaultyNode): void {
    this.#nodes.delete(node)
  }

  #of(identity: string): FaultyNode[] {
    return [...this.#nodes].filter((node) => node.identity === identity)
  }

  #add(rule: Rule): RemoveFault {
    this.#rules.add(rule)
    return () => {
      this.#rules.delete(rule)
    }
  }
}

type Delivery = () => void

/** A node endpoint with the faults applied around it. */
class FaultyNode implements NodeEndpoint {
  inner: ZmqNodeEndpoint | undefined
  readonly handlers: NodeHandlers
  /** Whether core saw `linkUp` for the current link (so it gets `linkDown`). */
  #linked = false
  #heldToHub: Uint8Array | undefined
  #heldToNode: Delivery | undefined

  constructor(
    readonly faults: ZmqFaults,
    readonly identity: string,
    readonly outer: NodeHandlers,
  ) {
    this.handlers = {
      linkUp: () => {
        if (faults.isPartitioned(identity)) {
          // Cut off: this link must not come up. Drop it; the transport tries again later.
          this.inner?.reconnect()
          return
        }
        this.#linked = true
        outer.linkUp()
      },
      linkDown: (reason) => {
        if (!this.#linked) return
        this.#linked = false
        outer.linkDown(reason)
      },
      frame: (frame) => this.#deliver('unicast', () => outer.frame(frame)),
      broadcast: (topic, frame) => this.#deliver('broadcast', () => outer.broadcast(topic, frame)),
    }
  }

  /** Drops the current link (core hears `reason`); true when there was one. */
  cut(reason: string): boolean {
    if (!this.#linked) return false
    this.#linked = false
    this.outer.linkDown(reason)
    this.inner?.reconnect()
    return true
  }

  send(frame: Uint8Array): boolean {
    const inner = this.inner
    if (inner === undefined || !this.#linked || this.faults.isPartitioned(this.identity)) return false
    const plan = this.faults.plan('toHub', 'unicast', this.identity)
    if (plan.drop) return true
    if (plan.reorder && this.#heldToHub === undefined) {
      const held = frame.slice()
      this.#heldToHub = held
      setImmediate(() => {
        if (this.#heldToHub === held) {
          this.#heldToHub = undefined
          inner.send(held)
        }
      })
      return true
    }
    const ok = inner.send(frame)
    const held = this.#heldToHub
    this.#heldToHub = undefined
    if (held !== undefined) inner.send(held)
    if (plan.duplicate) inner.send(frame)
    return ok
  }

  subscribe(topic: string): Promise<void> {
    return this.inner!.subscribe(topic)
  }

  unsubscribe(topic: string): void {
    this.inner?.unsubscribe(topic)
  }

  reconnect(): void {
    this.inner?.reconnect()
  }

  close(): Promise<void> {
    this.faults.forget(this)
    return this.inner?.close() ?? Promise.resolve()
  }

  #deliver(kind: 'unicast' | 'broadcast', deliver: Delivery): void {
    if (!this.#linked || this.faults.isPartitioned(this.identity)) return
    const plan = this.faults.plan('toNode', kind, this.identity)
    if (plan.drop) return
    if (plan.reorder && this.#heldToNode === undefined) {
      this.#heldToNode = deliver
      setImmediate(() => {
        if (this.#heldToNode === deliver) {
          this.#heldToNode = undefined
          if (this.#linked) deliver()
        }
      })
      return
    }
    deliver()
    const held = this.#heldToNode
    this.#heldToNode = undefined
    held?.()
    if (plan.duplicate) deliver()
  }
}
