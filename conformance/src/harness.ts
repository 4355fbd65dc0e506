import {
  type ConcordNode,
  type CreateHubOptions,
  type CreateNodeOptions,
  constantBackoff,
  createHub,
  createNode,
  type Hub,
  type HubEndpoint,
  type HubHandlers,
  type NodeEndpoint,
  type NodeHandlers,
  type Persistence,
  type PersistenceCapabilities,
  type Transport,
  type TransportCapabilities,
} from '@concord/core'
import { afterEach, beforeEach, expect } from 'vitest'
import type { ConformanceEnv, SuiteOptions } from './env.js'
import { eventually, type LinkGate, type LinkGateOptions, linkGate } from './helpers.js'

/** The hub heartbeat the suites use unless a test needs another: short, so silence is noticed fast (S6.2). */
export const HEARTBEAT = 100
/**
 * A hub heartbeat for tests whose own work may stall a busy machine for a few hundred ms
 * (frame-sized payloads, bursts): silence is then noticed after 3 s, not 300 ms.
 */
export const STALL_PROOF_HEARTBEAT = 1_000

/** Options of {@link Harness.hub}: `createHub`'s, with the transport, address and persistence filled in. */
export type HubOptions = Omit<CreateHubOptions, 'transport' | 'listen'> & { readonly listen?: string }

/** Options of {@link Harness.node}: `createNode`'s, with the transport and hub address filled in. */
export type NodeOptions = Omit<CreateNodeOptions, 'transport' | 'hub'>

/**
 * One test's resources: hubs, nodes, persistence instances and raw endpoints made through it
 * are closed after the test, whatever happened, so tests stay independent.
 */
export class Harness<E extends Partial<ConformanceEnv> = ConformanceEnv> {
  readonly #hubs = new Set<Hub>()
  readonly #nodes = new Set<ConcordNode>()
  readonly #persistences = new Set<Persistence>()
  readonly #closers: (() => Promise<unknown>)[] = []

  constructor(readonly env: E) {}

  /** A persistence instance over this test's data (closed after the test). */
  persistence(): Persistence {
    if (this.env.persistence === undefined) throw new TypeError('this environment has no persistence')
    const persistence = this.env.persistence()
    this.#persistences.add(persistence)
    return persistence
  }

  /**
   * Starts a hub on the test's transport, on a fresh address unless `listen` names one, with
   * a new persistence instance over the test's data unless `persistence` is given.
   */
  async hub(options: HubOptions = {}): Promise<Hub> {
    const { listen = this.address(), ...rest } = options
    const persistence =
      rest.persistence ?? (this.env.persistence === undefined ? undefined : this.persistence())
    const hub = await createHub({
      heartbeat: HEARTBEAT,
      ...rest,
      ...(persistence === undefined ? {} : { persistence }),
      transport: this.#transport(),
      listen,
    })
    this.#hubs.add(hub)
    return hub
  }

  /** Closes `hub` gracefully and closes its persistence instance, as a clean shutdown does. */
  async stopHub(hub: Hub): Promise<void> {
    await hub.close()
    const persistence = hub.config.persistence
    if (persistence !== undefined) {
      await persistence.close()
      this.#persistences.delete(persistence)
    }
  }

  /**
   * Restarts `hub` on the same address over the same data: a graceful close, or with
   * `crash` an abrupt stop (the hub aborts, the fault injector kills its endpoint and the
   * persistence loses what it had not committed).
   */
  async restart(hub: Hub, options: HubOptions, { crash = false } = {}): Promise<Hub> {
    const address = hub.address
    if (crash) {
      const faults = this.env.faults
      if (faults === undefined) throw new TypeError('a crash restart needs env.faults')
      hub.abort()
      faults.killHub(address)
      this.env.crash?.()
    } else {
      await this.stopHub(hub)
    }
    return this.hub({ ...options, listen: address })
  }

  /**
   * A node linked to `hub` (or an address), reconnecting fast. With `identity`, it presents
   * it: through `env.transportFor(identity)` when the transport has one, and in its config.
   */
  async node(hub: Hub | string, options: NodeOptions = {}): Promise<ConcordNode> {
    const transport = this.transportFor(options.identity)
    const node = await createNode({
      backoff: constantBackoff(20),
      ...options,
      transport,
      hub: typeof hub === 'string' ? hub : hub.address,
    })
    this.#nodes.add(node)
    return node
  }

  /**
   * A node like {@link node}'s whose frames, broadcasts and transport subscriptions can be
   * held back, and that may announce a smaller frame limit (see {@link linkGate}).
   */
  async gatedNode(
    hub: Hub,
    options: NodeOptions = {},
    gateOptions: LinkGateOptions = {},
  ): Promise<{ node: ConcordNode; gate: LinkGate }> {
    const gate = linkGate(this.transportFor(options.identity), gateOptions)
    const node = await createNode({
      backoff: constantBackoff(20),
      ...options,
      transport: gate.transport,
      hub: hub.address,
    })
    this.#nodes.add(node)
    return { node, gate }
  }

  /** The transport a node presenting `identity` uses. */
  transportFor(identity: string | undefined): Transport {
    return identity !== undefined && this.env.transportFor !== undefined
      ? this.env.transportFor(identity)
      : this.#transport()
  }

  /** A fresh listen address from the environment. */
  address(): string {
    if (this.env.address === undefined) throw new TypeError('this environment has no transport')
    return this.env.address()
  }

  #transport(): Transport {
    if (this.env.transport === undefined) throw new TypeError('this environment has no transport')
    return this.env.transport
  }

  /** Listens with raw handlers on the transport (transport suite; closed after the test). */
  async listen(handlers: HubHandlers, address = this.address()): Promise<HubEndpoint> {
    const endpoint = await this.#transport().listen(address, handlers)
    this.#closers.push(() => endpoint.close())
    return endpoint
  }

  /** Connects with raw handlers (transport suite, S9.1; closed after the test). */
  async connect(address: string, handlers: NodeHandlers, identity?: string): Promise<NodeEndpoint> {
    const endpoint = await this.transportFor(identity).connect(address, handlers, {
      backoff: constantBackoff(20),
      ...(identity === undefined ? {} : { identity }),
    })
    this.#closers.push(() => endpoint.close())
    return endpoint
  }

  /** A raw link to a hub, driven by hand, once up: it records the frames the hub sends back. */
  async rawLink(
    address: string,
  ): Promise<{ endpoint: NodeEndpoint; frames: Uint8Array[]; isUp: () => boolean }> {
    const frames: Uint8Array[] = []
    let up = false
    const endpoint = await this.connect(address, {
      linkUp: () => {
        up = true
      },
      linkDown: () => {
        up = false
      },
      frame: (frame) => frames.push(frame.slice()),
      broadcast: () => {},
    })
    await eventually(() => expect(up).toBe(true))
    return { endpoint, frames, isUp: () => up }
  }

  /** Runs `close` after the test, before the harness closes its own resources. */
  defer(close: () => Promise<unknown>): void {
    this.#closers.push(close)
  }

  /** Closes everything, newest first; reports the first failure after trying all. */
  async dispose(): Promise<void> {
    const steps: (() => Promise<unknown>)[] = [
      ...this.#closers.reverse(),
      ...[...this.#nodes].reverse().map((node) => () => node.close()),
      ...[...this.#hubs].reverse().map((hub) => () => hub.close()),
      ...[...this.#persistences].reverse().map((p) => () => p.close()),
    ]
    const results = await Promise.allSettled(steps.map((step) => Promise.resolve().then(step)))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }
}

/** What a suite learned about its adapters while it was collected. */
export interface Probe {
  readonly transport?: TransportCapabilities
  readonly persistence?: PersistenceCapabilities
  /** Which optional env members exist. */
  readonly has: {
    readonly transportFor: boolean
    readonly faults: boolean
    readonly crash: boolean
    readonly failCommits: boolean
    readonly failReads: boolean
    readonly corrupt: boolean
  }
}

/** Builds one environment to read its capabilities and optional members, then tears it down. */
export async function probe<E extends Partial<ConformanceEnv>>(options: SuiteOptions<E>): Promise<Probe> {
  const env = await options.setup()
  try {
    const persistence = env.persistence?.()
    const probed: Probe = {
      ...(env.transport === undefined ? {} : { transport: env.transport.capabilities }),
      ...(persistence === undefined ? {} : { persistence: persistence.capabilities }),
      has: {
        transportFor: typeof env.transportFor === 'function',
        faults: env.faults !== undefined,
        crash: typeof env.crash === 'function',
        failCommits: typeof env.failCommits === 'function',
        failReads: typeof env.failReads === 'function',
        corrupt: typeof env.corrupt === 'function',
      },
    }
    await persistence?.close()
    return probed
  } finally {
    await options.teardown(env)
  }
}

/**
 * Registers the hooks that give every test of the enclosing `describe` a fresh harness over a
 * fresh environment, and closes it all afterwards. Returns the current harness.
 */
export function useHarness<E extends Partial<ConformanceEnv>>(options: SuiteOptions<E>): () => Harness<E> {
  let current: Harness<E> | undefined
  beforeEach(async () => {
    current = new Harness(await options.setup())
  })
  afterEach(async () => {
    const harness = current
    current = undefined
    if (harness === undefined) return
    try {
      await harness.dispose()
    } finally {
      await options.teardown(harness.env)
    }
  })
  return () => {
    if (current === undefined) throw new Error('no harness: use it inside a test')
    return current
  }
}

/** Asserts a transport's capabilities object is well-formed (S2.7, S8.1). */
export function expectTransportCapabilities(caps: TransportCapabilities): void {
  expect(typeof caps.name).toBe('string')
  expect(caps.name.length).toBeGreaterThan(0)
  expect(Number.isSafeInteger(caps.maxFrameSize) && caps.maxFrameSize > 0).toBe(true)
  expect(typeof caps.nativePrefixFilter).toBe('boolean')
  expect(Array.isArray(caps.authentication)).toBe(true)
  expect(caps.authentication.length).toBeGreaterThan(0)
  for (const kind of caps.authentication) expect(typeof kind === 'string' && kind.length > 0).toBe(true)
  expect(typeof caps.lossy).toBe('boolean')
  expect(typeof caps.boundedPeerQueues).toBe('boolean')
}

/** Asserts a persistence's capabilities object is well-formed (S6.4, S9.2). */
export function expectPersistenceCapabilities(caps: PersistenceCapabilities): void {
  expect(typeof caps.name).toBe('string')
  expect(caps.name.length).toBeGreaterThan(0)
  expect(typeof caps.durable).toBe('boolean')
  expect(typeof caps.crashable).toBe('boolean')
  expect(typeof caps.largerThanMemory).toBe('boolean')
}

/** Waits until every given store handle is live. */
export async function allLive(...stores: { readonly status: string }[]): Promise<void> {
  await eventually(() => {
    for (const store of stores) expect(store.status).toBe('live')
  })
}

/** What each group of tests in a suite gets: the current test's harness and the probe. */
export interface SuiteContext<E extends Partial<ConformanceEnv> = ConformanceEnv> {
  readonly h: () => Harness<E>
  readonly probe: Probe
}
