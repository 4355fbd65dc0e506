import type { AnySchema } from '@concord/schema/contract'
import type { AccessRule, Authorizer } from '../ports/authorizer.js'
import type { Clock } from '../ports/clock.js'
import type { Persistence } from '../ports/persistence.js'
import type { Transport } from '../ports/transport.js'
import type { UpdateOp } from '../ports/update-registry.js'
import type { Duration } from '../util/duration.js'

/** One store a hub hosts. */
export interface StoreConfig {
  /** The schema of the store's values. */
  readonly schema: AnySchema
  /** Default expiry of every write that carries none (S4.1). */
  readonly expiry?: Duration
  /** How late an expiry may fire (S4.3). Default 100 ms. */
  readonly expiryTolerance?: Duration
  /** User update operations, beside the built-in ones (S3.5). */
  readonly ops?: Readonly<Record<string, UpdateOp>>
  /** Where this store lives, if not in the hub's default persistence. */
  readonly persistence?: Persistence
  /** Largest encoded value in bytes. Default 1 MiB (and at most a quarter of the transport's frame limit). */
  readonly maxValueSize?: number
  /**
   * Bounds of the mutation log kept for resuming clones (S6.3). Defaults: 100 000 mutations,
   * 64 MiB. A replay under way keeps the batches it has still to send when the log drops them.
   */
  readonly log?: { readonly maxMutations?: number; readonly maxBytes?: number }
}

/** A topic prefix whose events carry a typed payload (S7.4). */
export interface TopicConfig {
  readonly schema: AnySchema
}

/** Everything `createHub` needs. */
export interface HubConfig {
  readonly transport: Transport
  /** The address to listen on, in the transport's form (`memory://hub`, `tcp://127.0.0.1:7420`). */
  readonly listen: string
  /** Where masters persist. Default: in memory (lost when the process ends). */
  readonly persistence?: Persistence
  /** The stores this hub is master of, by name. */
  readonly stores?: Readonly<Record<string, StoreConfig>>
  /** Payload schemas by topic prefix. */
  readonly topics?: Readonly<Record<string, TopicConfig>>
  /** Who may do what (S8.2). Default: everyone everything. */
  readonly authorizer?: Authorizer
  /** Access rules, a shorthand for `authorizer: rulesAuthorizer(access)`. */
  readonly access?: readonly AccessRule[]
  readonly clock?: Clock
  /** Heartbeat period (S6.2). Default 1 s. Peers silent for 3 periods are dropped. */
  readonly heartbeat?: Duration
  readonly limits?: HubLimits
}

/** Bounds a hub keeps (all optional). */
export interface HubLimits {
  /** Largest chunk of a snapshot (in value bytes) or log replay (keys and values). Default 256 KiB, and at most half the node's frame. */
  readonly snapshotChunkBytes?: number
  /** Most entries (mutations) in one chunk of a snapshot or log replay. Default 4096. */
  readonly snapshotChunkEntries?: number
  /** Chunks of a snapshot or log replay in flight to one clone (S2.7, S6.3). Default 4. */
  readonly snapshotWindow?: number
  /** Write outcomes remembered per node, to answer resent writes. Default 65 536. */
  readonly writeResultsPerNode?: number
  /** Nodes remembered after they left. Default 4096. */
  readonly rememberedNodes?: number
  /**
   * Write outcomes kept for all the nodes that left, together (each table holds up to
   * `writeResultsPerNode`). Past it, the nodes that left first keep only their last write id:
   * a write they resend is answered "may or may not have been applied". Default 1 048 576
   * (18 bytes each: 18 MiB, outside the JavaScript heap, plus the last 16 refusals of each
   * departed node kept whole, about 3 KiB a node; older refusals keep only their code and
   * `actualSeq`).
   */
  readonly departedWriteResults?: number
  /** Distinct event topics numbered for loss detection. Default 65 536. */
  readonly eventTopics?: number
}
