import {
  AbortedError,
  type ConcordError,
  ForbiddenError,
  type HubEndpoint,
  type HubHandlers,
  type PeerInfo,
  ProtocolError,
  TooLargeError,
  UnavailableError,
} from '@concord/core'
import { Context, Router } from 'zeromq'
import { endpointOf, type ZmqAddress } from './address.js'
import { AckCounter, CreditWindow } from './credit.js'
import { curveKeyBytes, helloProof, proofMatches } from './curve.js'
import { closeEvents } from './sockets.js'
import {
  dropCounts,
  type FrameCount,
  frameCount,
  type ZmqDropCounts,
  type ZmqHubStats,
  type ZmqPeerStats,
  type ZmqRefusedCounts,
} from './stats.js'
import {
  BUNDLE_MAX_MESSAGES,
  bundleParts,
  frameParts,
  joinParts,
  kindOf,
  parseCount,
  parseJson,
  parseWindow,
  partsSize,
  TAG,
  ToHub,
  ToNode,
  view,
  WIRE_VERSION,
} from './wire.js'
import { ZapHandler } from './zap-handler.js'
import type { ZmqConfig } from './zmq-transport.js'

/** How long consumed frames may wait before their credit goes back (a quarter of the window goes back at once). */
const ACK_DELAY_MS = 50

/** libzmq's ZMQ_ROUTER_NOTIFY (draft): an empty message from a peer on connect and disconnect. */
const ZMQ_ROUTER_NOTIFY = 97
const NOTIFY_CONNECT_AND_DISCONNECT = 3
/** Subscriptions one peer may hold; more are refused (a bound on what a node can make the hub keep). */
const MAX_SUBSCRIPTIONS = 65_536
const MAX_NAME = 256
/** Links gone (not by the node's farewell) whose connection may still deliver what was sent on it, remembered. */
const MAX_GONE_LINKS = 4096

/** One linked node, as the hub endpoint keeps it. */
class HubPeer {
  /** Raw topic prefixes granted by `authorizeSubscription`. */
  readonly subs = new Set<string>()
  readonly credit: CreditWindow
  readonly acks: AckCounter
  /** True while HELLO is being handled: frames queue in `early`, behind the WELCOME. */
  joining = true
  early: Buffer[][] = []
  /** Messages of this turn not yet handed to ZeroMQ (each without the routing id): they leave as one. */
  pending: Buffer[][] = []
  pendingBytes = 0
  readonly sent = frameCount()
  readonly received = frameCount()
  readonly dropped = dropCounts()
  /** Called when ZeroMQ refuses a message already counted as sent (set by the endpoint). */
  onSendError: (error: unknown) => void = () => {}

  constructor(
    readonly info: PeerInfo,
    readonly rid: Buffer,
    readonly ridKey: string,
    /** The largest frame both sides accept. */
    readonly maxFrameSize: number,
    config: ZmqConfig,
    nodeWindow: readonly [number, number],
  ) {
    this.credit = new CreditWindow(config.highWaterMark, config.highWaterMarkBytes)
    this.acks = new AckCounter(nodeWindow)
  }

  /** True when a granted subscription is a raw prefix of `topic`. */
  wants(topic: string): boolean {
    for (const prefix of this.subs) if (topic.startsWith(prefix)) return true
    return false
  }
}

/**
 * The hub side of the ZeroMQ transport: one ROUTER socket (ROUTER_MANDATORY, send timeout 0)
 * for every peer, plus a ZAP handler when CURVE is on. Returned by `ZmqTransport.listen`.
 *
 * - A peer joins when its HELLO checks out (CURVE key proof, or a presented name); it gets
 *   `peerJoined`, then every subscription in the HELLO is asked of `authorizeSubscription`,
 *   then the node gets WELCOME and only then `linkUp`.
 * - A peer leaves on BYE (`closed`), when its connection drops (`disconnected`, from
 *   ZMQ_ROUTER_NOTIFY), when ZeroMQ cannot route to it (`unreachable`), or on `disconnect`.
 * - Messages that are malformed, of an unknown kind, empty or too large are refused and
 *   reported to `HubHandlers.refused`; the peer stays linked and other peers never notice.
 */
export class ZmqHubEndpoint implements HubEndpoint {
  /** The address bound, with a requested port 0 resolved to the real one. */
  address = ''
  readonly #config: ZmqConfig
  readonly #handlers: HubHandlers
  readonly #peers = new Map<string, HubPeer>()
  readonly #byRid = new Map<string, HubPeer>()
  readonly #ackDirty = new Set<HubPeer>()
  #ackScheduled = false
  /** Peers with messages pending (see {@link #post}), flushed at the end of the turn. */
  #outgoing: HubPeer[] = []
  #router: Router | undefined
  #zap: ZapHandler | undefined
  #loop: Promise<void> | undefined
  #state: 'new' | 'open' | 'closing' | 'closed' = 'new'
  #closing: Promise<void> | undefined
  #unbindSignal: (() => void) | undefined
  #listenerClosed: (() => void) | undefined
  #nextPeer = 0
  readonly #idPrefix = `zmq-${Math.random().toString(36).slice(2, 8)}-`
  readonly #sent = frameCount()
  readonly #received = frameCount()
  readonly #dropped = dropCounts()
  readonly #refused: ZmqRefusedCounts = { malformed: 0, tooLarge: 0, unauthenticated: 0 }
  /**
   * Routing ids of the last links that ended other than by the node's farewell, oldest first:
   * the hub dropped them (the node had not read the notice yet), or their connection did
   * (libzmq reports that, or refuses a send to it, while what the node sent before is still
   * unread). What they still deliver is late, not malformed.
   */
  readonly #goneLinks = new Set<string>()
  #late = 0
  readonly #links = { joined: 0, left: 0 }
  readonly #shared = new Map<string, Buffer>()

  /** @internal Use `ZmqTransport.listen`. */
  constructor(config: ZmqConfig, handlers: HubHandlers) {
    this.#config = config
    this.#handlers = handlers
  }

  /** @internal Binds the socket(s); rejects with `UnavailableError` or `AbortedError`. */
  async bind(address: ZmqAddress, requested: string, signal: AbortSignal | undefined): Promise<void> {
    const config = this.#config
    const server = config.server
    // A CURVE hub gets a context of its own, so its ZAP handler answers for it alone.
    const context = server === undefined ? undefined : new Context({ blocky: false })
    try {
      if (context !== undefined) {
        this.#zap = new ZapHandler(context, config.admit, (key) => {
          this.#refused.unauthenticated++
          this.#report(undefined, new ForbiddenError(`CURVE key ${key} is not admitted`))
        })
        await this.#zap.start()
      }
      const router = new Router({
        ...(context === undefined ? {} : { context }),
        linger: 0,
        mandatory: true,
        sendTimeout: 0,
        sendHighWaterMark: config.zmqHighWaterMark,
        receiveHighWaterMark: config.zmqHighWaterMark,
        maxMessageSize: config.zmqMaxMessageSize,
        handshakeInterval: config.connectTimeout,
        ...(address.kind === 'tcp' && address.ipv6 ? { ipv6: true } : {}),
        ...(config.heartbeat === false
          ? {}
          : {
              heartbeatInterval: config.heartbeat.interval,
              heartbeatTimeout: config.heartbeat.timeout,
              heartbeatTimeToLive: config.heartbeat.timeout,
            }),
        ...(server === undefined
          ? {}
          : { curveServer: true, curveSecretKey: server.secretKey, zapDomain: 'concord' }),
      })
      this.#router = router
      try {
        ;(router as unknown as { setInt32Option(option: number, value: number): void }).setInt32Option(
          ZMQ_ROUTER_NOTIFY,
          NOTIFY_CONNECT_AND_DISCONNECT,
        )
      } catch {
        // A libzmq without draft options: dead peers are then found by send errors and core's timeouts.
      }
      await bindRetrying(router, endpointOf(address), requested)
      if (signal?.aborted) throw new AbortedError('listen aborted', { cause: signal.reason })
      this.address = router.lastEndpoint ?? requested
      // The listener's 'close' event tells when the port is free again (see #shutdown).
      router.events.on('close', (event) => {
        if (event.address === this.address) this.#listenerClosed?.()
      })
    } catch (error) {
      this.#router?.close()
      await this.#zap?.close()
      this.#state = 'closed'
      throw error
    }
    this.#state = 'open'
    this.#loop = this.#receive(this.#router)
    if (signal !== undefined) {
      const onAbort = () => void this.close()
      signal.addEventListener('abort', onAbort, { once: true })
      this.#unbindSignal = () => signal.removeEventListener('abort', onAbort)
    }
  }

  /** Counters, totals since listening. */
  get stats(): ZmqHubStats {
    return {
      peers: this.#peers.size,
      sent: { ...this.#sent },
      received: { ...this.#received },
      dropped: { ...this.#dropped },
      refused: { ...this.#refused },
      late: this.#late,
      links: { ...this.#links },
    }
  }

  /** Counters of one linked peer, or undefined when it is not linked. */
  peerStats(peerId: string): ZmqPeerStats | undefined {
    const peer = this.#peers.get(peerId)
    if (peer === undefined) return undefined
    return {
      sent: { ...peer.sent },
      received: { ...peer.received },
      dropped: { ...peer.dropped },
      queued: { frames: peer.credit.frames, bytes: peer.credit.bytes },
    }
  }

  /** The peers linked now. */
  peers(): PeerInfo[] {
    return [...this.#peers.values()].map((peer) => peer.info)
  }

  /**
   * Queues a copy of `frame` to one peer. False when the endpoint is closed, the peer is not
   * linked, the frame is over the size limit or the peer's window (`highWaterMark`) is full.
   */
  send(peerId: string, frame: Uint8Array): boolean {
    if (this.#state !== 'open') return false
    const peer = this.#peers.get(peerId)
    if (peer === undefined) return false
    const size = frame.byteLength
    if (!this.#admitFrame(peer, size)) return false
    this.#transmit(peer, [TAG[ToNode.DATA]!, ...frameParts(frame)], size)
    return true
  }

  /**
   * Queues `frame` (copied once, the same bytes for every receiver) to each linked peer holding
   * a granted subscription that is a raw prefix of `topic`. A peer whose window is full, or
   * whose size limit the frame exceeds, misses it (counted in `stats.dropped`). Returns how
   * many peers missed it.
   */
  broadcast(topic: string, frame: Uint8Array): number {
    if (this.#state !== 'open') return 0
    const size = frame.byteLength
    let topicPart: Buffer | undefined
    let frameAsParts: Buffer[] | undefined
    let skipped = 0
    for (const peer of this.#peers.values()) {
      if (!peer.wants(topic)) continue
      if (!this.#admitFrame(peer, size)) {
        skipped++
        continue
      }
      topicPart ??= Buffer.from(topic, 'utf8')
      frameAsParts ??= frameParts(frame)
      this.#transmit(peer, [TAG[ToNode.BROADCAST]!, topicPart, ...frameAsParts], size)
    }
    return skipped
  }

  /**
   * Drops a peer's link: the node is told (`linkDown(reason)`, then it reconnects per its
   * backoff), this endpoint reports `peerLeft(peer, reason)` on the next turn, and whatever the
   * old link still sends is answered with a drop notice, never delivered.
   */
  disconnect(peerId: string, reason: string): void {
    const peer = this.#peers.get(peerId)
    if (peer === undefined || this.#state !== 'open') return
    this.#remove(peer, reason, { tell: true, defer: true })
  }

  /**
   * Stops listening: every node is told (`linkDown('hub closed')`), `peerLeft` is reported
   * for every peer before the promise resolves, the sockets close (lingering `linger` ms for
   * the farewells), and no handler is called afterwards. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    if (this.#state !== 'open') return Promise.resolve()
    this.#state = 'closing'
    this.#unbindSignal?.()
    const left: HubPeer[] = [...this.#peers.values()]
    for (const peer of left) this.#remove(peer, 'hub closed', { tell: true, defer: false, report: false })
    this.#closing = new Promise<void>((resolve) => {
      setImmediate(() => {
        for (const peer of left) this.#safely(() => this.#handlers.peerLeft(peer.info, 'hub closed'))
        this.#state = 'closed'
        void this.#shutdown(this.#config.linger).then(resolve)
      })
    })
    return this.#closing
  }

  /**
   * Stops at once, as a crashed process would: no farewell to nodes (they see their
   * connection drop), no handler is called again, the sockets close without lingering. The
   * promise resolves once the address is free. For tests and fault injection; `close()`
   * afterwards resolves with it.
   */
  abort(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'new') return this.#closing ?? Promise.resolve()
    this.#state = 'closed'
    this.#unbindSignal?.()
    this.#peers.clear()
    this.#byRid.clear()
    this.#closing = this.#shutdown(0)
    return this.#closing
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /**
   * Releases the sockets. The listener is unbound first and its closing awaited: libzmq closes
   * sockets in the background, and a hub restarted on the same port must not find it taken.
   */
  async #shutdown(linger: number): Promise<void> {
    const router = this.#router
    if (router !== undefined && !router.closed) {
      router.linger = linger
      const released = new Promise<void>((resolve) => {
        this.#listenerClosed = resolve
        setTimeout(resolve, 1000).unref()
      })
      try {
        // Synchronously, on this thread: zeromq.js runs the async `unbind` on a worker thread,
        // racing the receive loop's poller on the same (not thread-safe) libzmq socket.
        router.unbindSync(this.address)
        await released
      } catch {
        // Not bound (any more): nothing to wait for.
      }
      router.close()
    }
    await this.#loop
    // The socket monitor behind `router.events` closes itself when it reads that the socket
    // stopped; closed here, a lost or late notice cannot keep the process alive.
    if (router !== undefined) closeEvents(router)
    await this.#zap?.close()
  }

  // ---- out ---------------------------------------------------------------------------------

  /** Size and credit checks before a data frame goes to `peer`; counts the refusals. */
  #admitFrame(peer: HubPeer, size: number): boolean {
    if (size > peer.maxFrameSize) {
      peer.dropped.tooLarge++
      this.#dropped.tooLarge++
      return false
    }
    if (!peer.credit.take(size)) {
      peer.dropped.queueFull++
      this.#dropped.queueFull++
      return false
    }
    return true
  }

  #transmit(peer: HubPeer, parts: Buffer[], size: number): void {
    peer.sent.frames++
    peer.sent.bytes += size
    this.#sent.frames++
    this.#sent.bytes += size
    this.#post(peer, parts, size)
  }

  /**
   * Queues a data message (its parts without the routing id) for `peer` (behind the WELCOME
   * while the peer is joining). What a peer gets in one turn of the event loop leaves at its
   * end as one ZeroMQ message: a write's acknowledgement and the broadcast of its mutation cost
   * the hub one send and the writer one receive.
   */
  #post(peer: HubPeer, parts: Buffer[], size: number): void {
    if (peer.joining) {
      peer.early.push(parts)
      return
    }
    if (peer.pending.length === 0) {
      if (this.#outgoing.length === 0) queueMicrotask(() => this.#flushOutgoing())
      this.#outgoing.push(peer)
    }
    peer.pending.push(parts)
    peer.pendingBytes += size
    if (peer.pending.length >= BUNDLE_MAX_MESSAGES || peer.pendingBytes >= peer.maxFrameSize)
      this.#flushPeer(peer)
  }

  #flushOutgoing(): void {
    const peers = this.#outgoing
    this.#outgoing = []
    for (const peer of peers) {
      if (this.#state === 'closed') peer.pending = []
      else this.#flushPeer(peer)
    }
  }

  /** Hands `peer`'s pending messages to ZeroMQ, as one message. */
  #flushPeer(peer: HubPeer): void {
    const messages = peer.pending
    if (messages.length === 0) return
    peer.pending = []
    peer.pendingBytes = 0
    if (this.#router === undefined || this.#router.closed) return
    this.#router.send(bundleParts(peer.rid, messages)).catch(peer.onSendError)
  }

  /**
   * A control message outside any peer's window (answers, acks, farewells), after the data
   * pending for that peer; failures are ignored.
   */
  #control(rid: Buffer, kind: number, ...rest: (Buffer | string)[]): void {
    if (this.#router === undefined || this.#router.closed) return
    const peer = this.#byRid.get(rid.toString('latin1'))
    if (peer !== undefined) this.#flushPeer(peer)
    this.#router.send([rid, TAG[kind]!, ...rest]).catch(() => {})
  }

  /** ZeroMQ refused a message counted as sent: never silent, the link goes. */
  #sendFailed(peer: HubPeer, error: unknown): void {
    if (this.#state !== 'open' || this.#peers.get(peer.info.id) !== peer) return
    peer.dropped.zmq++
    this.#dropped.zmq++
    const code = (error as { code?: string }).code
    if (code === 'EHOSTUNREACH') this.#remove(peer, 'unreachable', { tell: false, defer: false })
    else this.#remove(peer, 'queue overflow', { tell: true, defer: false })
  }

  #scheduleAck(peer: HubPeer): void {
    this.#ackDirty.add(peer)
    if (this.#ackScheduled) return
    this.#ackScheduled = true
    // Credit goes back a little later, in one message for many frames: an ack per frame
    // would double the messages on the latency path (1 in flight).
    setTimeout(() => {
      this.#ackScheduled = false
      for (const p of this.#ackDirty) this.#flushAck(p)
      this.#ackDirty.clear()
    }, ACK_DELAY_MS).unref()
  }

  #flushAck(peer: HubPeer): void {
    const count = peer.acks.take()
    if (count > 0 && this.#peers.get(peer.info.id) === peer)
      this.#control(peer.rid, ToNode.ACK, String(count))
  }

  // ---- in ----------------------------------------------------------------------------------

  async #receive(router: Router): Promise<void> {
    try {
      for await (const parts of router) {
        if (this.#state !== 'open') continue
        try {
          this.#onMessage(parts)
        } catch {
          // A handler threw (they must not); the next message is handled as usual.
        }
      }
    } catch {
      // The socket closed under a pending receive.
    }
  }

  #onMessage(parts: Buffer[]): void {
    const rid = parts[0]!
    const ridKey = rid.toString('latin1')
    const peer = this.#byRid.get(ridKey)
    if (parts.length === 2 && parts[1]!.length === 0) {
      // ZMQ_ROUTER_NOTIFY: the connection of `rid` was made (ignored: HELLO follows) or lost.
      if (peer !== undefined) this.#remove(peer, 'disconnected', { tell: false, defer: false })
      return
    }
    const kind = kindOf(parts, 1)
    if (peer === undefined) return this.#fromStranger(rid, ridKey, kind, parts)
    switch (kind) {
      case ToHub.DATA: {
        if (parts.length < 3) return this.#malformed(peer, 'DATA needs a frame')
        const size = partsSize(parts, 2)
        if (peer.acks.consumed(size)) this.#flushAck(peer)
        else this.#scheduleAck(peer)
        if (size === 0) return this.#malformed(peer, 'empty frame')
        if (size > this.#config.maxFrameSize) {
          this.#refused.tooLarge++
          return this.#report(
            peer.info,
            new TooLargeError(
              `frame of ${size} bytes from ${peer.info.id} exceeds maxFrameSize ${this.#config.maxFrameSize}`,
            ),
          )
        }
        peer.received.frames++
        peer.received.bytes += size
        this.#received.frames++
        this.#received.bytes += size
        this.#handlers.frame(peer.info, view(joinParts(parts, 2)!))
        return
      }
      case ToHub.SUBSCRIBE: {
        const reqId = parseCount(parts[2])
        if (parts.length !== 4 || reqId === undefined) return this.#malformed(peer, 'bad SUBSCRIBE')
        const topic = parts[3]!.toString('utf8')
        const granted = this.#authorize(peer, topic)
        if (this.#peers.get(peer.info.id) === peer)
          this.#control(peer.rid, ToNode.SUBSCRIBED, String(reqId), granted ? '1' : '0')
        return
      }
      case ToHub.UNSUBSCRIBE:
        if (parts.length !== 3) return this.#malformed(peer, 'bad UNSUBSCRIBE')
        peer.subs.delete(parts[2]!.toString('utf8'))
        return
      case ToHub.ACK: {
        const count = parseCount(parts[2])
        if (parts.length !== 3 || count === undefined || !peer.credit.release(count)) {
          return this.#malformed(peer, 'bad ACK')
        }
        return
      }
      case ToHub.TOO_LARGE: {
        const size = parseCount(parts[2])
        if (parts.length !== 3 || size === undefined) return this.#malformed(peer, 'bad TOO_LARGE')
        this.#refused.tooLarge++
        return this.#report(
          peer.info,
          new TooLargeError(
            `${peer.info.id} refused to send a frame of ${size} bytes (over its maxFrameSize)`,
          ),
        )
      }
      case ToHub.BYE: {
        if (parts.length > 3) return this.#malformed(peer, 'bad BYE')
        const reason = parts.length === 3 ? parts[2]!.toString('utf8').slice(0, 200) : 'closed'
        return this.#remove(peer, reason, { tell: false, defer: false, farewell: true })
      }
      default:
        return this.#malformed(
          peer,
          kind === ToHub.HELLO ? 'HELLO on a linked connection' : 'unknown message kind',
        )
    }
  }

  /** A message from a connection without a link: HELLO, or something to refuse or answer with a drop notice. */
  #fromStranger(rid: Buffer, ridKey: string, kind: number, parts: Buffer[]): void {
    if (kind === ToHub.HELLO && parts.length === 3) return this.#hello(rid, ridKey, parts[2]!)
    if (kind === ToHub.BYE || kind === ToHub.ACK) return
    if (this.#goneLinks.has(ridKey)) {
      // Sent on a link before it ended (before the node read the drop notice, or before its
      // connection went): no protocol error, nothing for core (the node resends its writes on
      // its next link). Told, in case the node still listens there.
      this.#late++
      this.#control(rid, ToNode.DROP, 'unknown link')
      return
    }
    this.#refused.malformed++
    if (
      kind === ToHub.DATA ||
      kind === ToHub.SUBSCRIBE ||
      kind === ToHub.UNSUBSCRIBE ||
      kind === ToHub.TOO_LARGE
    ) {
      // A link this hub dropped (or knew before it restarted), or a node skipping HELLO: tell it.
      this.#control(rid, ToNode.DROP, 'unknown link')
      this.#report(undefined, new ProtocolError('a message on a connection without a link (HELLO first)'))
      return
    }
    this.#report(undefined, new ProtocolError('malformed message from a connection without a link'))
  }

  #hello(rid: Buffer, ridKey: string, body: Buffer): void {
    const hello = parseJson(body)
    const window = parseWindow(hello?.window)
    const subs = hello?.subs
    const max = hello?.max
    const name = hello?.name
    if (
      hello === undefined ||
      hello.v !== WIRE_VERSION ||
      window === undefined ||
      !Array.isArray(subs) ||
      subs.length > MAX_SUBSCRIPTIONS ||
      !subs.every((s) => typeof s === 'string') ||
      !(max === undefined || (Number.isSafeInteger(max) && (max as number) > 0)) ||
      !(name === undefined || (typeof name === 'string' && name.length > 0 && name.length <= MAX_NAME))
    ) {
      this.#refused.malformed++
      this.#report(undefined, new ProtocolError('malformed HELLO'))
      this.#control(rid, ToNode.REFUSED, 'malformed HELLO')
      return
    }
    const identity = this.#identify(rid, hello)
    if (identity === undefined) {
      this.#refused.unauthenticated++
      this.#report(undefined, new ForbiddenError('HELLO refused: the CURVE key proof does not check out'))
      this.#control(rid, ToNode.REFUSED, 'unauthenticated')
      return
    }
    const info: PeerInfo = Object.freeze({ id: `${this.#idPrefix}${++this.#nextPeer}`, identity })
    const maxFrameSize = Math.min(
      this.#config.maxFrameSize,
      (max as number | undefined) ?? Number.MAX_SAFE_INTEGER,
    )
    const peer = new HubPeer(info, rid, ridKey, maxFrameSize, this.#config, window)
    peer.onSendError = (error) => this.#sendFailed(peer, error)
    this.#peers.set(info.id, peer)
    this.#byRid.set(ridKey, peer)
    this.#goneLinks.delete(ridKey)
    this.#links.joined++
    this.#handlers.peerJoined(info)
    const granted: boolean[] = []
    for (const topic of subs as string[]) {
      if (this.#peers.get(info.id) !== peer) return
      granted.push(this.#authorize(peer, topic))
    }
    if (this.#peers.get(info.id) !== peer || this.#state !== 'open') return
    const welcome = {
      v: WIRE_VERSION,
      window: [this.#config.highWaterMark, this.#config.highWaterMarkBytes],
      max: maxFrameSize,
      granted,
    }
    peer.joining = false
    this.#control(rid, ToNode.WELCOME, JSON.stringify(welcome))
    const early = peer.early
    peer.early = []
    for (const message of early) this.#post(peer, message, partsSize(message, 1))
  }

  /** The identity a HELLO proves, or undefined when it proves none. */
  #identify(rid: Buffer, hello: Record<string, unknown>): string | undefined {
    const server = this.#config.server
    if (server === undefined) return (hello.name as string | undefined) ?? 'anonymous'
    const key = hello.key
    const keyBytes = curveKeyBytes(key)
    if (keyBytes === undefined) return undefined
    let shared = this.#shared.get(key as string)
    if (shared === undefined) {
      shared = server.sharedSecret(keyBytes)
      if (this.#shared.size >= 4096) this.#shared.clear()
      this.#shared.set(key as string, shared)
    }
    if (!proofMatches(helloProof(shared, rid.toString('latin1'), key as string), hello.proof))
      return undefined
    try {
      return this.#config.admit(key as string)
    } catch {
      return undefined
    }
  }

  #authorize(peer: HubPeer, topic: string): boolean {
    const granted =
      (peer.subs.has(topic) || peer.subs.size < MAX_SUBSCRIPTIONS) &&
      this.#handlers.authorizeSubscription(peer.info, topic) === true
    if (granted) peer.subs.add(topic)
    else peer.subs.delete(topic)
    return granted
  }

  #malformed(peer: HubPeer, what: string): void {
    this.#refused.malformed++
    this.#report(peer.info, new ProtocolError(`malformed message from ${peer.info.id}: ${what}`))
  }

  #report(peer: PeerInfo | undefined, error: ConcordError): void {
    if (this.#state === 'open') this.#safely(() => this.#handlers.refused(peer, error))
  }

  /**
   * Forgets `peer`: `tell` sends the node a drop notice, `defer` reports `peerLeft` on the next
   * turn (when called from a caller's method), `report: false` leaves the report to the caller,
   * `farewell` says the node ended the link (BYE): nothing of it can come late.
   */
  #remove(
    peer: HubPeer,
    reason: string,
    options: { tell: boolean; defer: boolean; report?: boolean; farewell?: boolean },
  ): void {
    if (this.#peers.get(peer.info.id) !== peer) return
    // What this turn queued for the peer leaves before the drop notice (a closing hub's last
    // acknowledgements); for a peer gone already it would go nowhere.
    if (options.tell) this.#flushPeer(peer)
    peer.pending = []
    this.#peers.delete(peer.info.id)
    if (this.#byRid.get(peer.ridKey) === peer) this.#byRid.delete(peer.ridKey)
    this.#ackDirty.delete(peer)
    peer.early = []
    this.#links.left++
    if (options.tell) this.#control(peer.rid, ToNode.DROP, reason)
    // After its farewell a node sends nothing more on the link: what would come is a stranger's.
    if (!options.farewell) this.#rememberGone(peer.ridKey)
    if (options.report === false) return
    const report = () => {
      if (this.#state === 'open' || this.#state === 'closing')
        this.#safely(() => this.#handlers.peerLeft(peer.info, reason))
    }
    if (options.defer) setImmediate(report)
    else report()
  }

  /** Remembers a link that ended, the oldest forgotten past {@link MAX_GONE_LINKS}. */
  #rememberGone(ridKey: string): void {
    this.#goneLinks.add(ridKey)
    if (this.#goneLinks.size <= MAX_GONE_LINKS) return
    const oldest = this.#goneLinks.values().next().value
    if (oldest !== undefined) this.#goneLinks.delete(oldest)
  }

  #safely(action: () => void): void {
    try {
      action()
    } catch {
      // Handlers must not throw; one that does cannot break the transport.
    }
  }
}

export type { FrameCount, ZmqDropCounts }

/**
 * Binds, trying again for a moment when the address is in use: libzmq frees a port in its I/O
 * thread after the socket that held it is closed, so a hub restarted in the same process right
 * after another stopped (or crashed) might otherwise find it still taken. A port really in
 * use still fails, after about 200 ms, with `UnavailableError`.
 */
async function bindRetrying(router: Router, endpoint: string, requested: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await router.bind(endpoint)
      return
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRINUSE' || attempt >= 8) {
        throw new UnavailableError(`cannot listen on ${requested}: ${(error as Error).message}`, {
          cause: error,
        })
      }
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
}
