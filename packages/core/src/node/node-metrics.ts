/**
 * Why a clone started its sync again while its link stayed up (a sync that starts because
 * the link came up is not one: see {@link NodeMetrics.linksUp}).
 *
 * - `gap`: a broadcast started past the clone's seq: broadcasts were lost or skipped (S6.3, S6.5).
 * - `behind`: a heartbeat showed the master past the clone's seq: the last broadcasts were
 *   lost and no later one showed the gap.
 * - `epoch`: a broadcast or heartbeat of another epoch: the master restarted (S6.4).
 * - `decode`: the clone's schema could not decode a value of a snapshot or broadcast; the
 *   clone forgets its epoch and takes a snapshot.
 * - `stalled`: a sync made no progress for `staleAfter` (a lost answer or chunk).
 * - `syncBuffer`: the broadcasts buffered during a sync passed `limits.syncBufferMutations`
 *   or `limits.syncBufferBytes`; the sync starts over from a snapshot.
 * - `protocol`: the hub answered a resume with a log replay that does not continue from the
 *   clone's `(epoch, seq)`; the clone asks for a snapshot.
 */
export type ResyncCause = 'gap' | 'behind' | 'epoch' | 'decode' | 'stalled' | 'syncBuffer' | 'protocol'

/**
 * Counters a node keeps, over all its stores and subscriptions. Monotonic; read them any time
 * (`node.metrics`). The node's side of what `hub.metrics` (`HubMetrics`) counts.
 */
export interface NodeMetrics {
  /**
   * Messages from the hub the node refused (S9.1), by error code: a frame that does not
   * decode, of another protocol version or over the frame limit (`ERR_PROTOCOL`; the whole
   * frame counts once), a message meant for hubs or one of the hub's answers broadcast
   * (`ERR_PROTOCOL`), an event payload its topic's schema cannot decode (that schema's code,
   * such as `ERR_DECODE`). Nothing else happens: the message is dropped.
   */
  refused: Record<string, number>
  /**
   * The hub's refusals of frames this node sent, by the code the hub gave, where no request
   * waits for the answer (an `ERROR` that is not about an open, a publish or a subscription):
   * the hub counted them in its `metrics.refused`. A correct node of the same protocol
   * version sees none.
   */
  refusedByHub: Record<string, number>
  /**
   * Syncs a clone started again while its link stayed up, by cause (see {@link ResyncCause}):
   * each is one more OPEN, answered by a snapshot or a log replay (S6.3).
   */
  resyncs: Record<ResyncCause, number>
  /**
   * Snapshots the hub began sending to this node's clones, counted when its answer arrives:
   * each first open, and every sync the hub could not answer from its log (another epoch,
   * a clone too far behind, a resync that asked for one). One abandoned before its end
   * (the link lost, the sync started over) counts too.
   */
  snapshots: number
  /** Log replays the hub began sending to this node's clones (resumes from `(epoch, seq)`, S6.3). */
  resumes: number
  /** Writes sent to the master, each once (a write queued while the link was down counts when it leaves). */
  writesSent: number
  /**
   * Writes sent again, with the same id, on a new link to the same hub because the one they
   * were sent on was lost before the master answered (S3.7). The hub answers a duplicate
   * from its table of outcomes (its `metrics.duplicateWrites`).
   */
  writesResent: number
  /** Writes that rejected with `UnavailableError` after `writeTimeout`, sent or not (S3.7). */
  writeTimeouts: number
  /**
   * Writes the master answered whose seq this clone could not apply, its link to the hub
   * down for `writeTimeout` in all since the answer (see the core README, *An acknowledged
   * write whose broadcast does not arrive*): an acknowledged one rejected with
   * `UnavailableError` carrying `ackedSeq` (it took effect), a compare-and-set refused at
   * that seq with its `ConflictError`.
   */
  ackedWriteTimeouts: number
  /**
   * Writes refused at once, with `UnavailableError`, because `maxPendingWrites` writes,
   * publishes and one-key reads were outstanding (S3.7): nothing was sent or queued.
   */
  writesOverLimit: number
  /** Writes the master refused, by error code (S3.3): its `metrics.writeErrors` for this node. */
  writeErrors: Record<string, number>
  /** One-key reads (`node.read`) the hub answered, the key found or absent: its `metrics.reads` for this node. */
  reads: number
  /**
   * One-key reads that rejected, by error code: refused by the hub (an unknown store, no `read`
   * permission, another schema, an entry over this node's frame: its `metrics.readsRefused`),
   * no answer within `writeTimeout` (`ERR_UNAVAILABLE`), a value the reader's schema cannot
   * decode, a key read while the link was down that proved over the hub's frame limit once it
   * came up (`ERR_TOO_LARGE`). Not those the caller aborted or the node's close ended.
   */
  readErrors: Record<string, number>
  /**
   * One-key reads refused at once, with `UnavailableError`, because `maxPendingWrites` writes,
   * publishes and one-key reads were outstanding (S3.7): nothing was sent or queued.
   */
  readsOverLimit: number
  /**
   * Writes sent, not acknowledged, when the hub restarted: they rejected with
   * `UnavailableError` ("may or may not have been applied"), as resending could apply them twice.
   */
  writesInDoubt: number
  /**
   * Writes the master acknowledged and then lost: a restarted master (a new epoch) that does
   * not hold them; they rejected with `PersistenceError` (S6.4, see the core README).
   */
  writesLost: number
  /**
   * Links to the hub established: `node.status` became `connected`. A hub that restarted
   * behind a transport that linked again without reporting the link down (ZeroMQ may) welcomes
   * the node without a change of status: neither counter moves; `resyncs.epoch` or
   * `snapshots` show the restart.
   */
  linksUp: number
  /** Links lost: `node.status` went from `connected` back to `connecting` (closing the node is not one). */
  linksLost: number
  /**
   * Heartbeat ticks that ran more than a period late: the node's event loop was held up, with
   * what the hub sent meanwhile still unread. The hub's silence (S6.2) and a sync's then count
   * without the time the tick was late by, so the stall drops no link and restarts no sync.
   */
  stalls: number
  /** Events received and handed to this node's subscriptions, each once however many take it (S7). */
  events: number
  /**
   * Events a subscription's `drop-oldest` overflow policy dropped from its buffer, the
   * reader having fallen behind (S7.6), summed over the subscriptions: each counts its own
   * in `subscription.dropped`.
   */
  eventsDropped: number
  /**
   * Subscriptions the `disconnect` overflow policy ended with `OverflowError`, their reader
   * having fallen behind a full buffer (S7.6).
   */
  subscriptionsOverflowed: number
  /**
   * Events lost on their way to this node (a full queue at the hub or on the link), found by
   * the per-topic numbering (S7.6), each once: every subscription that covers the topic
   * counts the same events in its own `lost`.
   */
  eventsLost: number
  /** Publishes that rejected with `UnavailableError` after `writeTimeout`, sent (no answer) or not (no link) (S3.7, S7.2). */
  publishTimeouts: number
  /**
   * Publishes sent on a link that dropped before the hub answered: rejected with
   * `UnavailableError` at once, not resent (events are not persisted, S7.3); they may or may
   * not have been delivered.
   */
  publishesInDoubt: number
  /**
   * Publishes the hub refused, by error code (`ERR_FORBIDDEN`, `ERR_SCHEMA_INVALID`, …; S7.4,
   * S8.2): the part of its `metrics.eventsRefused` this node caused.
   */
  publishErrors: Record<string, number>
  /**
   * Publishes refused at once, with `UnavailableError`, because `maxPendingWrites` writes,
   * publishes and one-key reads were outstanding (S3.7): nothing was sent or queued.
   */
  publishesOverLimit: number
}

export function newNodeMetrics(): NodeMetrics {
  return {
    refused: {},
    refusedByHub: {},
    resyncs: { gap: 0, behind: 0, epoch: 0, decode: 0, stalled: 0, syncBuffer: 0, protocol: 0 },
    snapshots: 0,
    resumes: 0,
    writesSent: 0,
    writesResent: 0,
    writeTimeouts: 0,
    ackedWriteTimeouts: 0,
    writesOverLimit: 0,
    writeErrors: {},
    reads: 0,
    readErrors: {},
    readsOverLimit: 0,
    writesInDoubt: 0,
    writesLost: 0,
    linksUp: 0,
    linksLost: 0,
    stalls: 0,
    events: 0,
    eventsDropped: 0,
    subscriptionsOverflowed: 0,
    eventsLost: 0,
    publishTimeouts: 0,
    publishesInDoubt: 0,
    publishErrors: {},
    publishesOverLimit: 0,
  }
}
