/**
 * The transport x persistence matrix: every pair runs the store and events suites under the
 * title `<transport> x <persistence>`, every transport the transport suite, every persistence
 * the persistence suite. An adapter joins with one line in `transports` or `persistences`.
 *
 * Transports use small frames and queues, so chunking (S2.7) and slow consumers (S6.5) show
 * quickly. The Redis entry starts a real redis-server on a free loopback port for this file.
 */
import { describe } from 'vitest'
import { lmdbEnv } from '../../packages/persist-lmdb/test/conformance-env.js'
import { sqlitePersistenceEnv } from '../../packages/persist-sqlite/test/conformance-env.js'
import { redisEnv } from '../../packages/transport-redis/test/conformance-env.js'
import { zmqEnv } from '../../packages/transport-zmq/test/conformance-env.js'
import {
  type Disposable,
  eventsSuite,
  memoryPersistenceEnv,
  memoryTransportEnv,
  type PersistenceEnv,
  persistenceSuite,
  storeSuite,
  type TransportEnv,
  transportSuite,
} from '../src/index.js'

interface Adapter<E> {
  readonly name: string
  readonly make: () => Promise<Disposable<E>>
}

const transports: Adapter<TransportEnv>[] = [
  { name: 'memory', make: async () => memoryTransportEnv({ maxFrameSize: 1 << 20, peerQueueLimit: 1024 }) },
  { name: 'zmq', make: zmqEnv },
  { name: 'redis', make: async () => redisEnv() },
]

const persistences: Adapter<PersistenceEnv>[] = [
  { name: 'memory', make: async () => memoryPersistenceEnv() },
  { name: 'sqlite', make: async () => sqlitePersistenceEnv() },
  { name: 'lmdb', make: () => lmdbEnv('sync') },
]

for (const transport of transports) {
  transportSuite({
    name: `transport ${transport.name}`,
    setup: transport.make,
    teardown: (env) => env.dispose(),
  })
}

for (const persistence of persistences) {
  persistenceSuite({
    name: `persistence ${persistence.name}`,
    setup: persistence.make,
    teardown: (env) => env.dispose(),
  })
}

for (const transport of transports) {
  for (const persistence of persistences) {
    const parts = new WeakMap<object, (() => Promise<void>)[]>()
    const options = {
      setup: async () => {
        const t = await transport.make()
        const p = await persistence.make()
        const env = { ...t, ...p }
        parts.set(env, [t.dispose, p.dispose])
        return env
      },
      teardown: async (env: object) => {
        for (const dispose of parts.get(env) ?? []) await dispose()
      },
    }
    describe(`${transport.name} x ${persistence.name}`, () => {
      storeSuite({ name: 'store', ...options })
      eventsSuite({ name: 'events', ...options })
    })
  }
}
