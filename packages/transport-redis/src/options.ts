import type { Backoff, Clock } from '@concord/core'
import type { ConnectionSettings } from './connection.js'

/** Counters of one transport object, over all its endpoints. Read them; do not write them. */
export interface RedisTransportStats {
  /** Frames handed to Redis: node → hub, and hub → node (one per receiving peer of a broadcast). */
  readonly sent: { toHub: number; toNode: number }
  /** Frames delivered to core: at a hub (`toHub`) and at nodes (`toNode`, unicast and broadcast). */
  readonly received: { toHub: number; toNode: number }
  /** Frames not sent: over `maxFrameSize`, or the link's bounded queue was full. */
  readonly dropped: { tooLarge: number; queueFull: number }
  /** Links that came up, and links that went down after coming up. */
  readonly links: { established: number; dropped: number }
}

/** @internal The normalised options every endpoint of a transport shares. */
export interface ResolvedOptions {
  readonly settings: ConnectionSettings
  readonly prefix: string
  readonly maxFrameSize: number
  readonly peerQueueLimit: number
  readonly peerQueueBytes: number
  readonly handshakeTimeout: number
  readonly probeInterval: number
  readonly closeTimeout: number
  readonly backoff: Backoff
  readonly clock: Clock
  readonly stats: MutableStats
}

/** @internal */
export interface MutableStats {
  sent: { toHub: number; toNode: number }
  received: { toHub: number; toNode: number }
  dropped: { tooLarge: number; queueFull: number }
  links: { established: number; dropped: number }
}

/** @internal */
export function newStats(): MutableStats {
  return {
    sent: { toHub: 0, toNode: 0 },
    received: { toHub: 0, toNode: 0 },
    dropped: { tooLarge: 0, queueFull: 0 },
    links: { established: 0, dropped: 0 },
  }
}
