export type {
  FaultDirection,
  FaultFilter,
  FrameKind,
  NodeSelector,
  RemoveFault,
} from './fault-injector.js'
export { MemoryFaults } from './fault-injector.js'
export type {
  DirectionStats,
  DropCounts,
  FrameCount,
  MemoryNetworkInit,
  PeerStats,
} from './memory-network.js'
export { MemoryNetwork, MemoryStats, memoryNetwork } from './memory-network.js'
export type {
  CommitFailurePredicate,
  MemoryPersistenceInit,
  MemoryStoreDump,
  ReadFailurePredicate,
} from './memory-persistence.js'
export { MemoryPersistence, MemoryStoreBackend, memoryPersistence } from './memory-persistence.js'
export type { MemoryTransportInit } from './memory-transport.js'
export {
  MemoryHubEndpoint,
  MemoryNodeEndpoint,
  MemoryTransport,
  memoryTransport,
} from './memory-transport.js'
