/**
 * The transport x persistence matrix: every pair runs the store and events suites, every
 * transport the transport suite, every persistence the persistence suite. An adapter joins
 * with one line in `transports` or `persistences`.
 */
import { describe } from 'vitest'
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
  // Small frames and queues, so chunking (S2.7) and slow consumers (S6.5) show quickly.
  { name: 'memory', make: async () => memoryTransportEnv({ maxFrameSize: 1 << 20, peerQueueLimit: 1024 }) },
]

const persistences: Adapter<PersistenceEnv>[] = [{ name: 'memory', make: async () => memoryPersistenceEnv() }]

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
