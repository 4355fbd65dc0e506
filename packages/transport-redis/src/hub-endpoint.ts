import { randomBytes } from 'node:crypto'
import {
  AbortedError,
  type ConcordError,
  type HubEndpoint,
  type HubHandlers,
  isConcordError,
  type PeerInfo,
  ProtocolError,
  TooLargeError,
  UnavailableError,
} from '@concord/core'
import type { Redis } from 'ioredis'
import { formatAddress, type RedisAddress } from './address.js'
import { HubChannels } from './channels.js'
import { createRedis, describe, explain, loginWatch, noop, settle, shutdown } from './connection.js'
import { NameClaim } from './name-claim.js'
import type { ResolvedOptions } from './options.js'
import {
  copy,
  decodeAck,
  decodeHello,
  decodeOversize,
  decodeSub,
  decodeText,
  encodeBroadcast,
  encodeSubAck,
  encodeWelcome,
  Kind,
  kindAndText,
  MalformedMessage,
  WIRE_VERSION,
  withKind,
} from './wire.js'

/** Reply channels remembered to tell "unknown link" once, at most. */
const MAX_REMEMBERED_RESETS = 4096
/** What a node is told (DROP) when the hub dropped its link for a connection problem. */
const CONNECTION_LOST = 'the hub lost its connection to Redis'
/** Bytes a control message may exceed `maxFrameSize` by. */
const CONTROL_ALLOWANCE = 1024 * 1024

/** One node link as the hub sees it. */
class HubPeer {
  /** WELCOME has been published: frames may follow it. */
  welcomed = false
  /** Frames sent from inside the HELLO handling, before WELCOME went out. */
  early: Buffer[] = []
  /** Subscriptions `authorizeSubscription` granted on this link. */
  readonly authorized = new Set<string>()
  /** Messages published to the peer, and their bytes (flow control: see `#admits`). */
  sentFrames = 0
  sentBytes = 0
  /** What the peer acknowledged having received (ACK). */
  ackedFrames = 0
  ackedBytes = 0

  constructor(
    readonly info: PeerInfo,
    readonly request: string,
    readonly reply: string,
    readonly maxFrameSize: number,
  ) {}

  /** True when a granted subscription is a byte prefix of `topic`. */
  wants(topic: string): boolean {
    for (const prefix of this.authorized) if (topic.startsWith(prefix)) return true
    return false
  }
}

/**
 * The hub side of the Redis transport, as returned by `RedisTransport.listen`.
 *
 * It holds two connections: a subscriber PSUBSCRIBEd to every request channel of its hub name
 * (`<prefix>:<hub>:req:*`), and a publisher for replies and broadcasts. Of several hubs that
 * start on one name, one listens and the others reject (see {@link NameClaim}). Each broadcast is
 * encoded once and the same bytes are PUBLISHed to the reply channel of every peer whose
 * authorized subscription is a prefix of the topic (hub-side fan-out: a peer never receives
 * a broadcast `authorizeSubscription` did not grant, and a node needs no channel permission
 * beyond its own). A PUBLISH that reaches no subscriber means the peer is gone: it is
 * dropped (`peerLeft(peer, 'unreachable…')`).
 *
 * If either connection drops (Redis restarted, network), every peer is dropped, since frames
 * may have been lost; ioredis reconnects with the transport's backoff, the hub subscribes
 * again and tells the dropped links so (DROP), and the nodes link again.
 */
export class RedisHubEndpoint implements HubEndpoint {
  readonly address: string
  /** The publisher connection (diagnostics and tests only: do not issue commands on it). */
  readonly publisher: Redis
  /** The subscriber connection (diagnostics and tests only). */
  readonly subscriber: Redis
  readonly #options: ResolvedOptions
  readonly #handlers: HubHandlers
  readonly #channels: HubChannels
  /** The claims channel's name, to compare with received channel names without decoding them. */
  readonly #claimsChannel: Buffer
  /** This hub's claim on its name (kept after it won, to know its own CLAIM when it comes back). */
  #claim: NameClaim | undefined
  readonly #peers = new Map<string, HubPeer>()
  readonly #byId = new Map<string, HubPeer>()
  /**
   * Reply channels of links dropped for a connection problem, and the reason to tell: told
   * DROP once the publisher is back (see {@link #tellResets}).
   */
  readonly #resets = new Map<string, string>()
  /** Reply channels already told that their link is unknown. */
  readonly #told = new Set<string>()
  #state: 'starting' | 'open' | 'closing' | 'closed' = 'starting'
  #closing: Promise<void> | undefined
  #nextPeer = 0
  #early: Array<[channel: Buffer, message: Buffer]> = []
  #unbindSignal: (() => void) | undefined
  readonly #onClosed: (hub: RedisHubEndpoint) => void
  readonly #logins: ReadonlyArray<ReturnType<typeof loginWatch>>
  readonly #ackEvery: { readonly frames: number; readonly bytes: number }

  /** @internal Use `RedisTransport.listen`. */
  constructor(
    options: ResolvedOptions,
    address: RedisAddress,
    handlers: HubHandlers,
    onClosed: (hub: RedisHubEndpoint) => void,
  ) {
    this.#options = options
    this.#handlers = handlers
    this.#onClosed = onClosed
    this.address = formatAddress(address)
    this.#channels = new HubChannels(options.prefix, address.hub)
    this.#claimsChannel = Buffer.from(this.#channels.claims, 'latin1')
    // Nodes acknowledge every quarter of the window, so a reading node never fills it.
    this.#ackEvery = {
      frames: Math.max(1, Math.floor(options.peerQueueLimit / 4)),
      bytes: Math.max(1, Math.min(0xffffffff, Math.floor(options.peerQueueBytes / 4))),
    }
    // No retry while starting: an unreachable Redis fails `listen` instead.
    const retry = (attempt: number) => (this.#state === 'open' ? Math.max(0, options.backoff(attempt)) : null)
    this.publisher = createRedis(address, options.settings, retry)
    this.subscriber = createRedis(address, options.settings, retry)
    this.#logins = [loginWatch(this.publisher), loginWatch(this.subscriber)]
  }

  /** The peers linked now. */
  peers(): PeerInfo[] {
    return [...this.#peers.values()].map((peer) => peer.info)
  }

  /** @internal Connects, subscribes, claims the hub name. Rejects with `UnavailableError`/`AbortedError`. */
  async start(signal: AbortSignal | undefined): Promise<void> {
    let aborted: (error: AbortedError) => void = noop
    const abortion = new Promise<never>((_, reject) => {
      aborted = reject
    })
    abortion.catch(noop)
    const unbind = onAbort(signal, (error) => aborted(error))
    try {
      await Promise.race([this.#connect(), abortion])
    } catch (error) {
      this.#state = 'closed'
      this.#claim?.cancel()
      if (signal?.aborted === true) {
        // Settle now: a QUIT can wait behind a command Redis holds (CLIENT PAUSE) for closeTimeout.
        this.subscriber.disconnect()
        this.publisher.disconnect()
      } else {
        // The subscriber first: claims of other hubs that reach this one meanwhile still get their YIELD.
        await shutdown(this.subscriber, this.#options.closeTimeout)
        await shutdown(this.publisher, this.#options.closeTimeout)
      }
      if (isConcordError(error)) throw error
      // A refused login makes ioredis drop the connection, and so does a failed TLS handshake:
      // report the refusal or the TLS error, not the drop.
      const cause = explain(error, this.#logins)
      throw new UnavailableError(`cannot listen on ${this.address}: ${describe(cause)}`, { cause })
    } finally {
      unbind()
    }
    this.#state = 'open'
    this.#unbindSignal = onAbort(signal, () => void this.close())
    // Requests that came while the login was being checked.
    const early = this.#early
    this.#early = []
    for (const [channel, message] of early) this.#onMessage(channel, message)
    this.subscriber.on('close', () => this.#connectionLost())
    this.publisher.on('close', () => this.#connectionLost())
    this.subscriber.on('ready', () => {
      if (this.#state !== 'open') return
      this.subscriber.psubscribe(this.#channels.requestPattern).then(
        () => this.#tellResets(),
        // Refused (ACL changed?): reconnect and try again per the backoff.
        () => this.subscriber.disconnect(true),
      )
    })
    this.publisher.on('ready', () => this.#tellResets())
    // ioredis gives up only when a connector fails outright (e.g. no Sentinel answered).
    for (const redis of [this.publisher, this.subscriber]) {
      redis.on('end', () => {
        if (this.#state !== 'open') return
        this.#options.clock.setTimeout(
          () => {
            if (this.#state === 'open' && redis.status === 'end') redis.connect().catch(noop)
          },
          Math.max(0, this.#options.backoff(1)),
        )
      })
    }
  }

  async #connect(): Promise<void> {
    this.subscriber.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => {
      if (channel.equals(this.#claimsChannel)) this.#onClaims(message)
      else if (this.#state === 'starting') this.#early.push([channel, Buffer.from(message)])
      else this.#onMessage(channel, message)
    })
    await Promise.all([this.publisher.connect(), this.subscriber.connect()])
    // Subscribed before claiming: a hub that claims the name after this one is heard (NameClaim).
    await this.subscriber.psubscribe(this.#channels.requestPattern)
    const options = this.#options
    const claim = new NameClaim(
      randomBytes(12).toString('hex'),
      this.address,
      options.clock,
      options.handshakeTimeout,
    )
    this.#claim = claim
    // Also proves the credentials: with the ready check off, 'ready' precedes AUTH's answer.
    const receivers = await this.publisher.publish(
      this.#channels.claims,
      kindAndText(Kind.CLAIM, claim.nonce),
    )
    await settle()
    const refused = this.#logins.find((login) => login.refused !== undefined)?.refused
    if (refused !== undefined) throw refused
    claim.published(receivers)
    await claim.outcome
  }

  /**
   * A message on the claims channel: another hub claims this name (answered HELD when this hub
   * holds it or claimed it first, else YIELD: `NameClaim.holds`), or answers this hub's claim.
   */
  #onClaims(message: Buffer): void {
    const kind = message[0]
    // Anything else there (the PROBE of an older hub) is no claim.
    if (kind !== Kind.CLAIM && kind !== Kind.HELD && kind !== Kind.YIELD) return
    const nonce = message.toString('latin1', 1)
    const claim = this.#claim
    if (kind === Kind.CLAIM) {
      if (nonce === claim?.nonce) return claim.echo()
      if (this.publisher.status !== 'ready') return
      const answer = claim?.holds() === true ? Kind.HELD : Kind.YIELD
      this.publisher.publish(this.#channels.claims, withKind(answer, message.subarray(1))).catch(noop)
      return
    }
    if (nonce !== claim?.nonce) return
    if (kind === Kind.HELD) claim.held()
    else claim.yielded()
  }

  /**
   * Publishes a copy of `frame` to one peer. False when the hub is closed, the peer is not
   * linked, the frame is over the link's `maxFrameSize` or the peer's queue is full.
   */
  send(peerId: string, frame: Uint8Array): boolean {
    if (this.#state !== 'open') return false
    const peer = this.#byId.get(peerId)
    if (peer === undefined) return false
    const stats = this.#options.stats
    if (frame.byteLength > peer.maxFrameSize) {
      stats.dropped.tooLarge++
      return false
    }
    if (!this.#admits(peer, frame.byteLength + 1)) {
      stats.dropped.queueFull++
      return false
    }
    this.#publish(peer, withKind(Kind.TO_NODE_DATA, frame))
    stats.sent.toNode++
    return true
  }

  /**
   * Encodes `frame` once and publishes those bytes to every linked peer holding an authorized
   * subscription that is a byte prefix of `topic`. A peer whose queue is full, or whose size
   * limit the frame exceeds, misses it. Returns how many peers missed it.
   */
  broadcast(topic: string, frame: Uint8Array): number {
    if (this.#state !== 'open') return 0
    const stats = this.#options.stats
    let message: Buffer | undefined
    let skipped = 0
    for (const peer of this.#peers.values()) {
      if (!peer.wants(topic)) continue
      if (frame.byteLength > peer.maxFrameSize) {
        stats.dropped.tooLarge++
        skipped++
        continue
      }
      message ??= encodeBroadcast(topic, frame)
      if (!this.#admits(peer, message.length)) {
        stats.dropped.queueFull++
        skipped++
        continue
      }
      this.#publish(peer, message)
      stats.sent.toNode++
    }
    return skipped
  }

  /** Drops a peer's link: it is told (DROP, then `linkDown(reason)`), this hub gets `peerLeft(peer, reason)`. */
  disconnect(peerId: string, reason: string): void {
    if (this.#state !== 'open') return
    const peer = this.#byId.get(peerId)
    if (peer === undefined || !this.#remove(peer)) return
    this.publisher
      .publish(peer.reply, kindAndText(Kind.DROP, reason))
      .catch(() => this.#rememberReset(peer.reply, reason))
    setImmediate(() => {
      if (this.#state === 'open' || this.#state === 'closing') this.#handlers.peerLeft(peer.info, reason)
    })
  }

  /**
   * Stops listening and drops every link (nodes get `linkDown('hub closed')`); this hub gets
   * `peerLeft` for each before the promise resolves, then both connections are closed. No
   * handler is called afterwards. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /**
   * Dies abruptly, as a crashed process would: no handler is called again, nodes are not told
   * (they find out when Redis reports nobody listening), both connections are dropped at once.
   * For tests and fault injection; `close()` afterwards resolves at once.
   */
  abort(): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#closing ??= Promise.resolve()
    this.#unbindSignal?.()
    this.#peers.clear()
    this.#byId.clear()
    this.publisher.disconnect()
    this.subscriber.disconnect()
    this.#onClosed(this)
  }

  async #close(): Promise<void> {
    this.#state = 'closing'
    this.#unbindSignal?.()
    const peers = [...this.#peers.values()]
    this.#peers.clear()
    this.#byId.clear()
    if (this.publisher.status === 'ready') {
      for (const peer of peers)
        this.publisher.publish(peer.reply, kindAndText(Kind.DROP, 'hub closed')).catch(noop)
      this.subscriber.punsubscribe().catch(noop)
    }
    // After the caller's turn (no handler runs inside close), and after pending disconnects.
    await new Promise((resolve) => setImmediate(resolve))
    // Unless abort() came meanwhile: then no handler runs again.
    if (this.#state === 'closing') for (const peer of peers) this.#handlers.peerLeft(peer.info, 'hub closed')
    await Promise.all([
      shutdown(this.publisher, this.#options.closeTimeout),
      shutdown(this.subscriber, this.#options.closeTimeout),
    ])
    if (this.#state === 'closing') {
      this.#state = 'closed'
      this.#onClosed(this)
    }
  }

  // ---- inbound -------------------------------------------------------------------------------

  #onMessage(channelBytes: Buffer, message: Buffer): void {
    if (this.#state === 'closing') return this.#whileClosing(channelBytes, message)
    if (this.#state !== 'open') return
    const channel = channelBytes.toString('latin1')
    const peer = this.#peers.get(channel)
    if (message.length === 0) return this.#refuse(peer, new ProtocolError('empty transport message'))
    const kind = message[0]!
    if (kind === Kind.PROBE) return
    // Frames are held to the link's limit; control messages (HELLO lists subscriptions) get some room.
    const limit =
      kind === Kind.DATA
        ? (peer?.maxFrameSize ?? this.#options.maxFrameSize)
        : this.#options.maxFrameSize + CONTROL_ALLOWANCE
    if (message.length - 1 > limit) {
      this.#options.stats.dropped.tooLarge++
      return this.#refuse(
        peer,
        new TooLargeError(
          `message of ${message.length - 1} bytes on ${channel} exceeds the limit of ${limit}`,
        ),
      )
    }
    try {
      if (peer === undefined) this.#fromUnknownLink(channel, kind, message)
      else this.#fromPeer(peer, kind, message)
    } catch (error) {
      if (!(error instanceof MalformedMessage)) throw error
      this.#refuse(peer, new ProtocolError(`malformed transport message (kind ${kind}): ${error.message}`))
    }
  }

  /** A node that says HELLO to a closing hub is told at once, not left to its handshake timeout. */
  #whileClosing(channelBytes: Buffer, message: Buffer): void {
    if (message[0] !== Kind.HELLO || this.publisher.status !== 'ready') return
    const parsed = this.#channels.parseRequest(channelBytes.toString('latin1'))
    if (parsed !== undefined)
      this.publisher.publish(parsed.reply, kindAndText(Kind.DROP, 'hub closed')).catch(noop)
  }

  #fromPeer(peer: HubPeer, kind: number, message: Buffer): void {
    const handlers = this.#handlers
    switch (kind) {
      case Kind.DATA:
        this.#options.stats.received.toHub++
        handlers.frame(peer.info, copy(message.subarray(1)))
        return
      case Kind.SUB: {
        const { reqId, topic } = decodeSub(message)
        const granted = handlers.authorizeSubscription(peer.info, topic) === true
        if (!this.#isLinked(peer)) return
        if (granted) peer.authorized.add(topic)
        else peer.authorized.delete(topic)
        this.#publish(peer, encodeSubAck(reqId, granted))
        return
      }
      case Kind.UNSUB:
        peer.authorized.delete(decodeText(message))
        return
      case Kind.KEEPALIVE:
        return
      case Kind.ACK: {
        const { frames, bytes } = decodeAck(message)
        if (frames > peer.sentFrames || bytes > peer.sentBytes) {
          this.#refuse(peer, new ProtocolError('ACK of more than was sent'))
          return
        }
        peer.ackedFrames = Math.max(peer.ackedFrames, frames)
        peer.ackedBytes = Math.max(peer.ackedBytes, bytes)
        return
      }
      case Kind.BYE: {
        const reason = decodeText(message)
        if (this.#remove(peer)) handlers.peerLeft(peer.info, reason)
        return
      }
      case Kind.OVERSIZE: {
        const size = decodeOversize(message)
        this.#refuse(
          peer,
          new TooLargeError(
            `frame of ${size} bytes from ${peer.info.id} exceeds maxFrameSize ${peer.maxFrameSize}`,
          ),
        )
        return
      }
      case Kind.HELLO:
        this.#refuse(peer, new ProtocolError('HELLO on a link that is already up'))
        return
      default:
        this.#refuse(peer, new ProtocolError(`unknown transport message kind ${kind}`))
    }
  }

  #fromUnknownLink(channel: string, kind: number, message: Buffer): void {
    const parsed = this.#channels.parseRequest(channel)
    if (parsed === undefined) {
      this.#refuse(undefined, new ProtocolError(`message on a malformed request channel '${channel}'`))
      return
    }
    if (kind === Kind.HELLO) return this.#hello(channel, parsed, message)
    if (kind === Kind.BYE) return
    if (
      kind === Kind.DATA ||
      kind === Kind.SUB ||
      kind === Kind.UNSUB ||
      kind === Kind.OVERSIZE ||
      kind === Kind.ACK ||
      kind === Kind.KEEPALIVE
    ) {
      // A link this hub does not know: it restarted, or dropped the link while Redis was away.
      // Tell the node once, so it links again at once rather than after heartbeat silence.
      if (this.#told.has(parsed.reply)) return
      if (this.#told.size >= MAX_REMEMBERED_RESETS) this.#told.clear()
      this.#told.add(parsed.reply)
      this.publisher.publish(parsed.reply, kindAndText(Kind.DROP, 'unknown link')).catch(noop)
      return
    }
    this.#refuse(undefined, new ProtocolError(`unknown transport message kind ${kind}`))
  }

  #hello(channel: string, parsed: { identity: string; reply: string }, message: Buffer): void {
    let hello: ReturnType<typeof decodeHello>
    try {
      hello = decodeHello(message)
    } catch (error) {
      this.publisher.publish(parsed.reply, kindAndText(Kind.DROP, 'malformed HELLO')).catch(noop)
      throw error
    }
    if (hello.version !== WIRE_VERSION) {
      this.publisher
        .publish(parsed.reply, kindAndText(Kind.DROP, `unsupported transport version ${hello.version}`))
        .catch(noop)
      this.#refuse(
        undefined,
        new ProtocolError(
          `transport version ${hello.version} from '${parsed.identity}', expected ${WIRE_VERSION}`,
        ),
      )
      return
    }
    const info: PeerInfo = Object.freeze({ id: `peer-${++this.#nextPeer}`, identity: parsed.identity })
    const maxFrameSize = Math.min(this.#options.maxFrameSize, hello.maxFrameSize || Number.POSITIVE_INFINITY)
    const peer = new HubPeer(info, channel, parsed.reply, maxFrameSize)
    this.#peers.set(channel, peer)
    this.#byId.set(info.id, peer)
    this.#told.delete(parsed.reply)
    // Any handler below may drop the link (disconnect, close); stop at once if it does.
    this.#handlers.peerJoined(info)
    const granted: boolean[] = []
    for (const topic of hello.topics) {
      if (!this.#isLinked(peer)) return
      const ok = this.#handlers.authorizeSubscription(info, topic) === true
      if (ok) peer.authorized.add(topic)
      granted.push(ok)
    }
    if (!this.#isLinked(peer)) return
    peer.welcomed = true
    this.#publish(peer, encodeWelcome(maxFrameSize, this.#ackEvery, granted))
    this.#options.stats.links.established++
    const early = peer.early
    peer.early = []
    for (const m of early) this.#publish(peer, m)
  }

  // ---- outbound ------------------------------------------------------------------------------

  /**
   * The peer's queue: what was published to it and it has not acknowledged yet (it ACKs as it
   * reads). Bounded in frames and bytes, so a node that stops reading fills it and is refused
   * further frames (core then drops and resyncs it, S6.5) long before Redis' own
   * `client-output-buffer-limit` would cut it off; Redis' limit stays the safety net.
   */
  #admits(peer: HubPeer, bytes: number): boolean {
    const options = this.#options
    const frames = peer.sentFrames - peer.ackedFrames
    return (
      frames < options.peerQueueLimit &&
      (frames === 0 || peer.sentBytes - peer.ackedBytes + bytes <= options.peerQueueBytes)
    )
  }

  /**
   * PUBLISHes to the peer's reply channel. No receiver means it is gone; a failed PUBLISH, that
   * the connection broke (the node may not know, so it is told once the connection is back).
   */
  #publish(peer: HubPeer, message: Buffer): void {
    if (!peer.welcomed) {
      peer.early.push(message)
      return
    }
    peer.sentFrames++
    peer.sentBytes += message.length
    this.publisher.publish(peer.reply, message).then(
      (receivers) => {
        if (receivers === 0) this.#gone(peer, 'unreachable: its Redis subscription is gone')
      },
      // The socket usually closed before ioredis noticed: 'close' comes later and #connectionLost
      // no longer sees this peer. Told at once if the connection is fine after all (an error
      // reply), else when it is back.
      (error: unknown) => {
        if (this.#lost(peer, `publish failed: ${describe(error)}`)) this.#tellResets()
      },
    )
  }

  #gone(peer: HubPeer, reason: string): void {
    if (this.#state !== 'open' || !this.#remove(peer)) return
    this.#options.stats.links.dropped++
    this.#handlers.peerLeft(peer.info, reason)
  }

  // ---- bookkeeping ---------------------------------------------------------------------------

  #isLinked(peer: HubPeer): boolean {
    return this.#state === 'open' && this.#peers.get(peer.request) === peer
  }

  /** Forgets a peer; false when it was already gone. */
  #remove(peer: HubPeer): boolean {
    if (this.#peers.get(peer.request) !== peer) return false
    this.#peers.delete(peer.request)
    this.#byId.delete(peer.info.id)
    return true
  }

  #refuse(peer: HubPeer | undefined, error: ConcordError): void {
    this.#handlers.refused(peer?.info, error)
  }

  /** A connection dropped: frames may have been lost both ways, so every link ends. */
  #connectionLost(): void {
    for (const peer of [...this.#peers.values()]) this.#lost(peer, CONNECTION_LOST)
  }

  /**
   * Drops a peer for a connection problem: this hub gets `peerLeft(reason)`, and its node, which
   * may not know, is told DROP once the publisher works ({@link #tellResets}). False when the peer
   * was gone already.
   */
  #lost(peer: HubPeer, reason: string): boolean {
    if (this.#state !== 'open' || !this.#remove(peer)) return false
    this.#rememberReset(peer.reply, CONNECTION_LOST)
    this.#options.stats.links.dropped++
    this.#handlers.peerLeft(peer.info, reason)
    return true
  }

  /** Tells the nodes of links dropped for a connection problem (DROP), if the publisher is ready. */
  #tellResets(): void {
    if (this.#state !== 'open' || this.publisher.status !== 'ready' || this.#resets.size === 0) return
    const resets = [...this.#resets]
    this.#resets.clear()
    for (const [reply, reason] of resets) {
      // A DROP that fails too (the socket closed before ioredis noticed) is told at the next 'ready'.
      this.publisher
        .publish(reply, kindAndText(Kind.DROP, reason))
        .catch(() => this.#rememberReset(reply, reason))
    }
  }

  #rememberReset(reply: string, reason: string): void {
    if (this.#state !== 'open') return
    if (this.#resets.size < MAX_REMEMBERED_RESETS || this.#resets.has(reply)) this.#resets.set(reply, reason)
  }
}

/** Calls `listener` with an {@link AbortedError} when `signal` fires; returns the unsubscriber. */
export function onAbort(
  signal: AbortSignal | undefined,
  listener: (error: AbortedError) => void,
): () => void {
  if (signal === undefined) return noop
  const handler = () => listener(new AbortedError('aborted', { cause: signal.reason }))
  signal.addEventListener('abort', handler, { once: true })
  return () => signal.removeEventListener('abort', handler)
}
