/**
 * Concord core: distributed persistent key/value stores and topic events.
 * See the package README for the model and docs/ARCHITECTURE.md for the shape.
 * @module
 */

export type { AnySchema, Issue, IssueCode, Schema } from '@concord/schema/contract'
export { schemasCompatible } from '@concord/schema/contract'
export {
  bindingModule,
  type CreateHubOptions,
  type CreateNodeOptions,
  createHub,
  createNode,
  Tokens,
} from './compose.js'
export {
  AbortedError,
  ClosedError,
  ConcordError,
  type ConcordErrorOptions,
  ConflictError,
  DecodeError,
  type ErrorCode,
  ErrorCodes,
  ForbiddenError,
  isConcordError,
  OutOfViewError,
  OverflowError,
  PersistenceError,
  ProtocolError,
  SchemaMismatchError,
  TooLargeError,
  UnavailableError,
  UnknownOperationError,
  UnknownStoreError,
  UpdateError,
  ValidationError,
} from './errors.js'
export { Hub } from './hub/hub.js'
export type { HubConfig, HubLimits, StoreConfig, TopicConfig } from './hub/hub-config.js'
export type { HubMetrics } from './hub/metrics.js'
export * from './memory/index.js'
export type { ConcordEvent, EventOverflowPolicy, SubscribeOptions } from './node/event-subscription.js'
export { EventSubscription } from './node/event-subscription.js'
export type { ReadOptions, ReadResult } from './node/key-reads.js'
export { ConcordNode, type NodeStatus } from './node/node.js'
export type { NodeConfig, NodeLimits } from './node/node-config.js'
export type { PublishOptions } from './node/node-events.js'
export type { NodeMetrics, ResyncCause } from './node/node-metrics.js'
export { Store } from './node/store.js'
export { StoreWriter } from './node/store-writer.js'
export type {
  CallOptions,
  Change,
  ChangesOptions,
  OpenOptions,
  PutOptions,
  StatusChange,
  StoreStatus,
  UpdateOptions,
  WriterOptions,
} from './node/types.js'
export { builtinOps, updateOp, updateRegistry } from './ops.js'
export { makeDataFolder } from './persistence-folder.js'
export * from './ports/index.js'
export { PROTOCOL_VERSION } from './protocol/messages.js'
export type { Duration } from './util/duration.js'
export { toMillis } from './util/duration.js'
