/**
 * `@concord/conformance`: the suites every Concord transport and persistence must pass.
 * Each is a function of `{ name, setup, teardown }` that registers vitest tests; see the
 * README for how to run them against your own adapters.
 *
 * @module
 */

export type {
  ConformanceEnv,
  ConformanceFaults,
  FaultDirection,
  FaultFilter,
  PersistenceEnv,
  RemoveFault,
  SuiteOptions,
  TransportEnv,
} from './env.js'
export { eventsSuite } from './events-suite.js'
export { type Disposable, memoryPersistenceEnv, memoryTransportEnv } from './memory-env.js'
export { persistenceSuite } from './persistence-suite.js'
export { storeSuite } from './store-suite.js'
export { transportSuite } from './transport-suite.js'
