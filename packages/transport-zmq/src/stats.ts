/** Frames and their bytes. */
export interface FrameCount {
  frames: number
  bytes: number
}

/** Why frames were not sent. */
export interface ZmqDropCounts {
  /** The receiver's credit window (the peer's bounded queue, `highWaterMark`) was full. */
  queueFull: number
  /** Over `maxFrameSize`. */
  tooLarge: number
  /**
   * Refused by ZeroMQ itself after the transport had queued it: the peer was gone
   * (`EHOSTUNREACH`) or ZeroMQ's own high-water mark was hit (`EAGAIN`). Never silent: the link
   * is dropped, so core resyncs.
   */
  zmq: number
}

/** What the hub refused from nodes by itself (each also reported to `HubHandlers.refused`). */
export interface ZmqRefusedCounts {
  /** Wrong part count, unknown kind, empty frame, data before HELLO, bad HELLO. */
  malformed: number
  /** Frames over `maxFrameSize` (received, or reported by the node that would not send one). */
  tooLarge: number
  /** CURVE keys the ZAP handler refused, and HELLOs whose key proof failed. */
  unauthenticated: number
}

/** Counters of one peer link as the hub sees it. */
export interface ZmqPeerStats {
  /** Data frames queued to ZeroMQ for this peer (unicast and broadcast copies). */
  readonly sent: FrameCount
  /** Data frames received from this peer. */
  readonly received: FrameCount
  readonly dropped: ZmqDropCounts
  /** Frames in this peer's window now: sent but not yet consumed by the node. */
  readonly queued: FrameCount
}

/** Counters of a hub endpoint (totals over every peer it had). */
export interface ZmqHubStats {
  /** Peers linked now. */
  readonly peers: number
  readonly sent: FrameCount
  readonly received: FrameCount
  readonly dropped: ZmqDropCounts
  readonly refused: ZmqRefusedCounts
  /**
   * Messages that arrived on a link after it ended, sent before it did: the hub dropped it (a
   * heartbeat timeout, a full queue, `disconnect`) and the node had not read the notice yet,
   * or its connection went (libzmq reported it, or refused a send to it) with what the node
   * sent still unread. Not a protocol error (not in `refused`, not reported to
   * `HubHandlers.refused`): each is answered with a drop notice and discarded; the node
   * resends its writes on its next link.
   */
  readonly late: number
  /** Links established and ended since listening. */
  readonly links: { readonly joined: number; readonly left: number }
}

/** Counters of a node endpoint (over every link it made). */
export interface ZmqNodeStats {
  readonly sent: FrameCount
  readonly received: FrameCount
  readonly dropped: ZmqDropCounts
  /** Messages from the hub that were malformed and ignored. */
  readonly malformed: number
  /** Link attempts: `established` (WELCOME), `failed` (before it), `lost` (after it). */
  readonly links: { readonly established: number; readonly failed: number; readonly lost: number }
}

export function frameCount(): FrameCount {
  return { frames: 0, bytes: 0 }
}

export function dropCounts(): ZmqDropCounts {
  return { queueFull: 0, tooLarge: 0, zmq: 0 }
}
