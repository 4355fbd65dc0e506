/**
 * Wire protocol v3: the messages. docs/PROTOCOL.md is the prose version of this file; keep
 * them in step. A frame is a msgpack array `[PROTOCOL_VERSION, message, message, …]`; a
 * message is an array whose first element is its type.
 */

/** The protocol version this build speaks. A frame of another version is refused (S9.1). */
export const PROTOCOL_VERSION = 3

/** Message type numbers. Stable API: never renumber, only add. */
export const MessageType = {
  // node -> hub
  HELLO: 1,
  OPEN: 2,
  SNAPSHOT_CREDIT: 3,
  CLOSE_STORE: 4,
  WRITE: 5,
  PUBLISH: 6,
  SUBSCRIBE: 7,
  PING: 8,
  BYE: 9,
  WRITER: 10,
  READ: 11,
  // hub -> node, unicast
  WELCOME: 20,
  OPENED: 21,
  SNAPSHOT_CHUNK: 22,
  SYNC_END: 23,
  WRITE_ACK: 24,
  WRITE_ERR: 25,
  ERROR: 26,
  PUBLISH_ACK: 27,
  SUBSCRIBED: 28,
  PONG: 29,
  WRITE_ACKS: 30,
  WRITER_READY: 31,
  READ_VALUE: 32,
  // hub -> nodes, broadcast (MUTATIONS is also sent unicast, in credited chunks, to replay the log on resume)
  MUTATIONS: 40,
  HEARTBEAT: 41,
  EVENT: 42,
  HUB_BEAT: 43,
} as const

/** The kind of a write a node asks for. */
export const WriteKind = { PUT: 0, REMOVE: 1, UPDATE: 2, CAS: 3, CLEAR: 4 } as const
export type WriteKind = (typeof WriteKind)[keyof typeof WriteKind]

/** The kind of a mutation the master applied. */
export const MutationKind = { PUT: 0, REMOVE: 1, EXPIRE: 2, CLEAR: 3 } as const
export type MutationKind = (typeof MutationKind)[keyof typeof MutationKind]

/**
 * `[HELLO, protocolVersion, nodeId, groups, maxFrameSize]`: the first message on every new
 * link. `maxFrameSize` is the largest frame the node accepts (0: the hub's own).
 */
export type Hello = {
  readonly type: typeof MessageType.HELLO
  readonly version: number
  readonly nodeId: string
  readonly groups: readonly string[]
  readonly maxFrameSize: number
}
/** Opens (or resumes) a clone. `resumeEpoch` null asks for a snapshot. */
export type Open = {
  readonly type: typeof MessageType.OPEN
  readonly openId: number
  readonly store: string
  readonly fingerprint: string
  readonly prefix: string
  readonly resumeEpoch: string | null
  readonly resumeSeq: number
}
/**
 * Lets the hub send `credits` more chunks for `openId`: snapshot chunks, or the MUTATIONS of
 * a log replay (flow control, S2.7, S6.3).
 */
export type SnapshotCredit = {
  readonly type: typeof MessageType.SNAPSHOT_CREDIT
  readonly openId: number
  readonly credits: number
}
/** The node closed the clone opened as `openId`. */
export type CloseStore = { readonly type: typeof MessageType.CLOSE_STORE; readonly openId: number }
/** A write. Fields not used by the kind are null. */
export type Write = {
  readonly type: typeof MessageType.WRITE
  readonly store: string
  readonly writeId: number
  readonly kind: WriteKind
  readonly key: string
  readonly value: Uint8Array | null
  /** Expiry in ms relative to the master's clock at apply time; null = store default; -1 = none. */
  readonly expiry: number | null
  readonly op: string | null
  readonly expectedSeq: number | null
}
/** An event to route. */
export type Publish = {
  readonly type: typeof MessageType.PUBLISH
  readonly pubId: number
  readonly topic: string
  readonly group: string | null
  readonly payload: Uint8Array
  /**
   * The fingerprint of the schema the payload was encoded with (null: raw bytes). Appended
   * in version 3: absent (null) from older nodes. The hub refuses another schema than its
   * own with `SchemaMismatchError` before decoding.
   */
  readonly fingerprint?: string | null
}
/** Asks the hub to check a subscription (permission and payload schema) before the transport subscribes. */
export type Subscribe = {
  readonly type: typeof MessageType.SUBSCRIBE
  readonly reqId: number
  readonly prefix: string
  readonly group: string | null
  readonly fingerprint: string | null
}
/**
 * Asks the hub to check a write-only handle (the store exists, the identity may write it,
 * the schema's fingerprint matches the master's); no snapshot and no broadcasts follow.
 */
export type Writer = {
  readonly type: typeof MessageType.WRITER
  readonly reqId: number
  readonly store: string
  readonly fingerprint: string
}
/**
 * Reads one key from the master (checked like an OPEN: the store, the `read` permission, the
 * schema's fingerprint). Answered with READ_VALUE, or ERROR (`reqKind` 11).
 */
export type Read = {
  readonly type: typeof MessageType.READ
  readonly reqId: number
  readonly store: string
  readonly fingerprint: string
  readonly key: string
}
export type Ping = { readonly type: typeof MessageType.PING; readonly nonce: number }
export type Bye = { readonly type: typeof MessageType.BYE }

export type Welcome = {
  readonly type: typeof MessageType.WELCOME
  readonly version: number
  /** Random per hub start: a change tells nodes the hub restarted. */
  readonly hubInstance: string
  readonly heartbeatMs: number
  readonly maxFrameSize: number
}
/**
 * The answer to OPEN: a snapshot (mode 0) or a log replay (mode 1, unicast MUTATIONS, one
 * credited chunk each) follows, starting after `fromSeq`.
 */
export type Opened = {
  readonly type: typeof MessageType.OPENED
  readonly openId: number
  readonly epoch: string
  readonly mode: 0 | 1
  readonly fromSeq: number
  readonly fingerprint: string
}
/** Snapshot entries, flat: key, value, seq, key, value, seq, … */
export type SnapshotChunk = {
  readonly type: typeof MessageType.SNAPSHOT_CHUNK
  readonly openId: number
  readonly entries: readonly (string | Uint8Array | number)[]
}
/**
 * The snapshot or log replay for `openId` is complete. `seq`: after a snapshot, what the
 * master had committed by then; after a replay, where it ends (the log's end when the OPEN
 * was answered). The clone is live once it applied up to `seq`.
 */
export type SyncEnd = {
  readonly type: typeof MessageType.SYNC_END
  readonly openId: number
  readonly seq: number
}
/** Write `writeId` was applied at `seq`; `applied` false when it changed nothing (then `seq` is the state it saw). */
export type WriteAck = {
  readonly type: typeof MessageType.WRITE_ACK
  readonly writeId: number
  readonly seq: number
  readonly applied: boolean
}
/** Write `writeId` was refused. `details` carries issues or the actual seq of a conflict. */
export type WriteErr = {
  readonly type: typeof MessageType.WRITE_ERR
  readonly writeId: number
  readonly code: string
  readonly message: string
  readonly details: unknown
}
/** A request (OPEN, SUBSCRIBE, PUBLISH, WRITER, READ: `reqKind` says which) failed, or a frame was refused (`reqId` null). */
export type ErrorMessage = {
  readonly type: typeof MessageType.ERROR
  readonly reqKind: number
  readonly reqId: number | null
  readonly code: string
  readonly message: string
  readonly details: unknown
}
/** Writes `firstWriteId … +count-1` were applied at seqs `firstSeq … +count-1` (a pipelined writer's batch). */
export type WriteAcks = {
  readonly type: typeof MessageType.WRITE_ACKS
  readonly firstWriteId: number
  readonly firstSeq: number
  readonly count: number
}
export type PublishAck = { readonly type: typeof MessageType.PUBLISH_ACK; readonly pubId: number }
export type Subscribed = { readonly type: typeof MessageType.SUBSCRIBED; readonly reqId: number }
/** The write-only handle of request `reqId` may write (the answer to WRITER). */
export type WriterReady = { readonly type: typeof MessageType.WRITER_READY; readonly reqId: number }
/**
 * The answer to READ `reqId`: the key's committed value (null: absent) and the seq it was
 * last written at (0 when absent).
 */
export type ReadValue = {
  readonly type: typeof MessageType.READ_VALUE
  readonly reqId: number
  readonly seq: number
  readonly value: Uint8Array | null
}
export type Pong = { readonly type: typeof MessageType.PONG; readonly nonce: number }

/**
 * Mutations `from < seq <= to` of a store (all of them on the store topic; those in the view
 * on a view topic). Flat: seq, kind, key, value (null unless put), …
 */
export type Mutations = {
  readonly type: typeof MessageType.MUTATIONS
  readonly store: string
  readonly epoch: string
  readonly from: number
  readonly to: number
  readonly muts: readonly (number | string | Uint8Array | null)[]
}
/** The master is alive at `(epoch, seq)`: a clone behind it lost a broadcast and resyncs. */
export type Heartbeat = {
  readonly type: typeof MessageType.HEARTBEAT
  readonly store: string
  readonly epoch: string
  readonly seq: number
}
/** An event. `stream`/`seq` number the events of one topic so receivers can count losses. */
export type EventMessage = {
  readonly type: typeof MessageType.EVENT
  readonly topic: string
  readonly group: string | null
  readonly stream: number
  readonly seq: number
  readonly payload: Uint8Array
}
export type HubBeat = { readonly type: typeof MessageType.HUB_BEAT; readonly hubInstance: string }

export type NodeMessage =
  | Hello
  | Open
  | SnapshotCredit
  | CloseStore
  | Write
  | Publish
  | Subscribe
  | Ping
  | Bye
  | Writer
  | Read
export type HubMessage =
  | Welcome
  | Opened
  | SnapshotChunk
  | SyncEnd
  | WriteAck
  | WriteAcks
  | WriteErr
  | ErrorMessage
  | PublishAck
  | Subscribed
  | WriterReady
  | ReadValue
  | Pong
  | Mutations
  | Heartbeat
  | EventMessage
  | HubBeat
export type Message = NodeMessage | HubMessage
