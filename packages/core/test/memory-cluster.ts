/**
 * A hub (by default with one string store `kv`) on the in-memory transport and persistence,
 * and nodes linked to it; everything is closed after each test of the file that uses it.
 */
import { t } from '@concord/schema'
import { afterEach } from 'vitest'
import {
  type Clock,
  type ConcordNode,
  constantBackoff,
  createHub,
  createNode,
  type Duration,
  type Hub,
  type HubConfig,
  type MemoryTransport,
  memoryPersistence,
  memoryTransport,
  type NodeConfig,
  type Persistence,
  type Schema,
} from '../src/index.js'

export interface ClusterOptions {
  /** The hub's clock; its heartbeats are then 20 days apart, so only expiry moves with it. */
  readonly clock?: Clock
  /** The hub's persistence (a new memory persistence by default): pass one to restart over it. */
  readonly persistence?: Persistence
  /** The hub's stores, instead of the one string store `kv`. */
  readonly stores?: HubConfig['stores']
  /** The hub's limits. */
  readonly limits?: HubConfig['limits']
  /** The hub's heartbeat period. Default 50 ms. */
  readonly heartbeat?: Duration
  /** Frames the transport queues per link per direction (`memoryTransport`'s `peerQueueLimit`). */
  readonly peerQueueLimit?: number
}

export interface MemoryCluster {
  readonly transport: MemoryTransport
  readonly hub: Hub
  /** A node linked to the hub, presenting `identity`, with the rest of its config from `config`. */
  node(identity?: string, config?: Omit<NodeConfig, 'transport' | 'hub' | 'identity'>): Promise<ConcordNode>
}

/** Registers the cleanup of the file's clusters; call it once at the top of a test file. */
export function useMemoryClusters(): (options?: ClusterOptions) => Promise<MemoryCluster> {
  const closers: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close()
  })
  return async ({
    clock,
    persistence = memoryPersistence(),
    stores = { kv: { schema: t.string() } },
    limits,
    heartbeat = 50,
    peerQueueLimit,
  } = {}) => {
    const transport = memoryTransport(peerQueueLimit === undefined ? {} : { peerQueueLimit })
    const hub = await createHub({
      ...(clock === undefined ? {} : { clock, heartbeat: '20d' }),
      transport,
      listen: 'memory://*',
      persistence,
      heartbeat,
      stores,
      ...(limits === undefined ? {} : { limits }),
    })
    closers.push(() => hub.close())
    return {
      transport,
      hub,
      async node(identity, config = {}) {
        const node = await createNode({
          ...config,
          transport,
          hub: hub.address,
          ...(identity === undefined ? {} : { identity }),
        })
        closers.push(() => node.close())
        return node
      },
    }
  }
}

/** A hub that can be restarted in place: see {@link restartableHub}. */
export interface RestartableHub {
  readonly transport: MemoryTransport
  /** The hub running now. */
  readonly hub: Hub
  /** A node presenting `identity`, reconnecting within 10 ms. */
  node(identity: string): Promise<ConcordNode>
  /**
   * The hub stops as in a crash (answering nothing more), or closes cleanly (`crash: false`);
   * a new one, a new epoch, starts in its place, its store `kv` of `schema` (by default the
   * one it had), on `persistence` (by default the hub's: see {@link restartableHub}).
   */
  restart(options?: { schema?: Schema; crash?: boolean; persistence?: Persistence }): Promise<void>
}

/**
 * A hub on `memory://restartable` with one store `kv` (a string by default), which a test
 * restarts on the same address: on `persistence`, its data kept, or without it on empty
 * storage each time. It and its nodes are closed by the `closers` the file runs after each test.
 */
export async function restartableHub(
  closers: Array<() => Promise<unknown>>,
  {
    heartbeat,
    schema = t.string(),
    persistence,
  }: { heartbeat?: HubConfig['heartbeat']; schema?: Schema; persistence?: Persistence } = {},
): Promise<RestartableHub> {
  const transport = memoryTransport()
  const address = 'memory://restartable'
  let current = schema
  const start = (on = persistence ?? memoryPersistence()) =>
    createHub({
      transport,
      listen: address,
      persistence: on,
      ...(heartbeat === undefined ? {} : { heartbeat }),
      stores: { kv: { schema: current } },
    })
  let hub: Hub = await start()
  closers.push(() => hub.close())
  return {
    transport,
    get hub(): Hub {
      return hub
    },
    async node(identity) {
      const node = await createNode({ transport, hub: address, identity, backoff: constantBackoff(10) })
      closers.push(() => node.close())
      return node
    },
    async restart({ schema: next = current, crash = true, persistence: on } = {}) {
      if (crash) {
        hub.abort()
        transport.faults.killHub(address)
      } else await hub.close()
      current = next
      hub = await start(on)
    },
  }
}
