import {
  ClosedError,
  type MemoryTransportInit,
  memoryNetwork,
  memoryPersistence,
  memoryTransport,
  type Persistence,
  type StoreBackend,
  type Transport,
} from '@concord/core'
import type { PersistenceEnv, TransportEnv } from './env.js'

/** An environment the caller releases when the test is over. */
export type Disposable<E> = E & { dispose(): Promise<void> }

/**
 * The in-memory transport as a {@link TransportEnv}: a network of its own per call, named
 * identities (`transportFor`) and fault injection. Pair it with your persistence to run the
 * store suite without a network; `init` tunes the transport (frame size, queue bounds).
 */
export function memoryTransportEnv(
  init: Omit<MemoryTransportInit, 'network' | 'seed'> = {},
): Disposable<TransportEnv> {
  const network = memoryNetwork()
  const transport = memoryTransport({ ...init, network })
  let addresses = 0
  return {
    transport,
    address: () => `memory://conformance-${++addresses}`,
    transportFor: (identity) => withIdentity(transport, identity),
    faults: network.faults,
    dispose: async () => {
      network.faults.clear()
    },
  }
}

/** A transport that presents `identity` on every link it makes (the memory transport's named identities). */
function withIdentity(transport: Transport, identity: string): Transport {
  return {
    capabilities: transport.capabilities,
    listen: (address, handlers, options) => transport.listen(address, handlers, options),
    connect: (address, handlers, options) => transport.connect(address, handlers, { ...options, identity }),
  }
}

/**
 * In-memory persistence as a {@link PersistenceEnv}. The data lives in one
 * `memoryPersistence()`; each `persistence()` call returns a handle on it whose `close()`
 * closes only the backends that handle opened, so a "restarted" hub finds the data again.
 * Pair it with your transport to run the store and events suites without files.
 */
export function memoryPersistenceEnv(): Disposable<PersistenceEnv> {
  const data = memoryPersistence()
  return {
    persistence: () => handle(data),
    crash: () => data.crash(),
    failCommits: (count) => data.failCommits(count),
    failReads: (count) => data.failReads(count),
    corrupt: (store) => data.corrupt(store),
    dispose: () => data.close(),
  }
}

function handle(data: Persistence): Persistence {
  const backends = new Set<StoreBackend>()
  let closed = false
  return {
    capabilities: data.capabilities,
    async open(store, options) {
      if (closed) throw new ClosedError('this persistence handle is closed')
      const backend = await data.open(store, options)
      backends.add(backend)
      return backend
    },
    async close() {
      closed = true
      await Promise.all([...backends].map((backend) => backend.close()))
    },
  }
}
