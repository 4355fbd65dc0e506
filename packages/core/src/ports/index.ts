export type { AccessRule, Action, Authorizer, Resource } from './authorizer.js'
export { allowAll, rulesAuthorizer, topicMatches } from './authorizer.js'
export type { Backoff, ExponentialBackoffOptions } from './backoff.js'
export { constantBackoff, exponentialBackoff } from './backoff.js'
export type { Clock, TimerHandle } from './clock.js'
export { systemClock } from './clock.js'
export type {
  CommitOp,
  EpochRecord,
  OpenBackendOptions,
  Persistence,
  PersistenceCapabilities,
  RecoveredState,
  SnapshotCursor,
  StoreBackend,
  StoredEntry,
} from './persistence.js'
export { checkEpochRecord } from './persistence.js'
export type {
  AuthenticationKind,
  ConnectOptions,
  HubEndpoint,
  HubHandlers,
  ListenOptions,
  NodeEndpoint,
  NodeHandlers,
  PeerInfo,
  Transport,
  TransportCapabilities,
} from './transport.js'
export type { UpdateContext, UpdateOp, UpdateRegistry } from './update-registry.js'
export { REMOVE, UNCHANGED } from './update-registry.js'
