import { UnavailableError } from '../errors.js'
import type { NodeMessage } from '../protocol/messages.js'
import type { NodeMetrics } from './node-metrics.js'

/**
 * What a node's requests to the hub (publishes and subscriptions in `NodeEvents`, one-key
 * reads in `KeyReads`) need from the node: its link, its clock, its ids and its limits.
 */
export interface RequestHost {
  readonly metrics: NodeMetrics
  /** How many writes, publishes and reads may be pending together (`maxPendingWrites`). */
  readonly maxPending: number
  /** Everything pending on the node now (writes, publishes, reads), counted against {@link maxPending}. */
  pending(): number
  /** The node's monotonic time in ms. */
  now(): number
  closed(): boolean
  /** True while the link is ready: what is sent now reaches this hub. */
  ready(): boolean
  /** A new id for a request to the hub, unique on the node. */
  nextRequestId(): number
  send(message: NodeMessage): void
  /** Takes `message` back out of the outbox, if it has not left yet. */
  unsend(message: NodeMessage): void
  /** What a key, or an event (topic, group and payload), may take: a quarter of a frame. */
  maxValueSize(): number
}

/**
 * The refusal of a write, publish or one-key read made while `maxPending` of them are
 * outstanding (S3.7): nothing was sent or queued.
 */
export function overPendingBound(maxPending: number): UnavailableError {
  return new UnavailableError(
    `${maxPending} writes, publishes and reads are pending: the master is unreachable or slow (S3.7)`,
  )
}
