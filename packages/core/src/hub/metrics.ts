/** Counters a hub keeps. Monotonic; read them any time (`hub.metrics`). */
export interface HubMetrics {
  /** Frames received from peers. */
  framesIn: number
  /** Frames sent to single peers. */
  framesOut: number
  /** Broadcast frames (each encoded once, whatever the number of receivers). */
  broadcasts: number
  /** Frames refused as malformed, oversized, of another version or out of order (S9.1), by error code. */
  refused: Record<string, number>
  /** Writes refused, by error code (S3.3). */
  writeErrors: Record<string, number>
  /** Write-only handles the hub checked and accepted (`node.writer`), each time a link checks one. */
  writers: number
  /** Write-only handles refused when checked (unknown store, no `write` permission, another schema), by error code. */
  writersRefused: Record<string, number>
  /** One-key reads answered (`node.read`), the key present or not. */
  reads: number
  /** One-key reads refused (unknown store, no `read` permission, another schema, a failed read, an entry over the node's frame), by error code. */
  readsRefused: Record<string, number>
  /** Mutations committed. */
  mutations: number
  /** Commits (group-committed batches). */
  commits: number
  /** Writes answered from the duplicate table after a node resent them. */
  duplicateWrites: number
  /** Outcome tables of departed nodes dropped to stay within `limits.departedWriteResults`. */
  forgottenWriteTables: number
  /** Frames a peer's full queue refused; each such peer is disconnected and resyncs (S6.5). */
  peerQueueOverflows: number
  /**
   * Broadcast frames a subscribed peer missed, as the transport reports them (see
   * `HubEndpoint.broadcast`): its bounded queue was full, or the frame over its size limit.
   * The peer stays linked: a clone finds the gap by seq and resyncs (S6.3, S6.5), a
   * subscriber counts the events as lost (S7.6).
   */
  skippedBroadcasts: number
  /**
   * Peers dropped after heartbeat silence: nothing from them for three heartbeats of the hub
   * while the hub ran (a stall of its own is not their silence, see {@link stalls}).
   */
  peerTimeouts: number
  /**
   * Heartbeats that ran more than a period late: the hub's event loop was held up (recovery,
   * a long task, a paused process), with what peers sent meanwhile still unread. Their
   * silence leaves out the time the heartbeat was late by, so the stall drops no link.
   */
  stalls: number
  /**
   * Opens refused, by the error code the clone's `open` rejected with: an unknown store,
   * another schema, a snapshot the persistence failed to read, and no `read` permission
   * (`ERR_FORBIDDEN`, counted when the hub refuses the clone's subscription to the store,
   * on each link that asks).
   */
  opensRefused: Record<string, number>
  /** Snapshots and log resumes served. */
  snapshots: number
  resumes: number
  /** Events routed, and refused (permission, schema). */
  events: number
  eventsRefused: number
}

export function newHubMetrics(): HubMetrics {
  return {
    framesIn: 0,
    framesOut: 0,
    broadcasts: 0,
    refused: {},
    writeErrors: {},
    writers: 0,
    writersRefused: {},
    reads: 0,
    readsRefused: {},
    mutations: 0,
    commits: 0,
    duplicateWrites: 0,
    forgottenWriteTables: 0,
    peerQueueOverflows: 0,
    skippedBroadcasts: 0,
    peerTimeouts: 0,
    stalls: 0,
    opensRefused: {},
    snapshots: 0,
    resumes: 0,
    events: 0,
    eventsRefused: 0,
  }
}
