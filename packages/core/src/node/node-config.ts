import type { AnySchema } from '@concord/schema/contract'
import type { Backoff } from '../ports/backoff.js'
import type { Clock } from '../ports/clock.js'
import type { Transport } from '../ports/transport.js'
import type { Duration } from '../util/duration.js'

/** Everything `createNode` needs. */
export interface NodeConfig {
  readonly transport: Transport
  /** The hub's address. */
  readonly hub: string
  /** The identity to present, on transports with named identities (S8.1). */
  readonly identity?: string
  /** Groups this node belongs to (S7.5). */
  readonly groups?: readonly string[]
  /** Payload schemas by topic prefix (S7.4). */
  readonly topics?: Readonly<Record<string, { readonly schema: AnySchema }>>
  readonly clock?: Clock
  /** Reconnect policy. Default: exponential from 50 ms to 5 s with jitter. */
  readonly backoff?: Backoff
  /** Silence from the hub after which the link counts as lost (S6.2). Default 3 heartbeats. */
  readonly staleAfter?: Duration
  /** Writes, publishes and one-key reads outstanding at once before new ones reject with `UnavailableError` (S3.7). Default 100 000. */
  readonly maxPendingWrites?: number
  /** How long a write may wait for the master before it rejects with `UnavailableError` (S3.7). Default 30 s. */
  readonly writeTimeout?: Duration
  readonly limits?: NodeLimits
  /**
   * Whether the node keeps its process alive until `close()`, as an open socket does, linked
   * to its hub or not. Default true; false lets the process exit once nothing else holds it.
   */
  readonly keepAlive?: boolean
}

/** Bounds a node keeps (all optional). */
export interface NodeLimits {
  /**
   * Broadcast mutations a clone buffers while it syncs (S2.1, S6.3), per store. Past it, or past
   * {@link syncBufferBytes}, the sync starts over from a snapshot rather than buffer more.
   * Default 1 000 000.
   */
  readonly syncBufferMutations?: number
  /**
   * Bytes of broadcast mutations (keys and values, as on the wire) a clone buffers while it
   * syncs, per store; see {@link syncBufferMutations}. Keep it well above the largest value.
   * Default 64 MiB.
   */
  readonly syncBufferBytes?: number
}
