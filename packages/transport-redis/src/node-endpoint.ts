import { randomBytes } from 'node:crypto'
import {
  type Backoff,
  ClosedError,
  ForbiddenError,
  type NodeEndpoint,
  type NodeHandlers,
  type TimerHandle,
} from '@concord/core'
import type { Redis } from 'ioredis'
import { formatAddress, type RedisAddress } from './address.js'
import { HubChannels } from './channels.js'
import { createRedis, describe, loginWatch, noop, settle, shutdown } from './connection.js'
import { onAbort } from './hub-endpoint.js'
import type { ResolvedOptions } from './options.js'
import {
  copy,
  decodeBroadcast,
  decodeSubAck,
  decodeText,
  decodeWelcome,
  encodeAck,
  encodeHello,
  encodeOversize,
  encodeSub,
  Kind,
  kindAndText,
  MalformedMessage,
  WIRE_VERSION,
  withKind,
} from './wire.js'

const PROBE = Buffer.of(Kind.PROBE)
const KEEPALIVE = Buffer.of(Kind.KEEPALIVE)

interface Waiter {
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

interface Subscription {
  readonly topic: string
  /** `subscribe` calls not settled yet. */
  waiters: Waiter[]
  /** The id of the SUB request whose answer settles it (0: none outstanding). */
  reqId: number
}

/** One link attempt, then (after WELCOME) one live link. A reconnect makes a new one. */
class Link {
  state: 'hello' | 'up' = 'hello'
  /** `linkUp` was delivered, so `linkDown` is owed. */
  sawUp = false
  /** Subscriptions the hub granted on this link. */
  readonly granted = new Set<string>()
  /** The topics HELLO asked for, in order (WELCOME answers in that order). */
  helloTopics: string[] = []
  /** SUB requests awaiting SUBACK: request id → topic. */
  readonly pending = new Map<number, string>()
  maxFrameSize: number
  /** Requests handed to Redis and not yet answered (the node → hub queue), and their bytes. */
  queued = 0
  queuedBytes = 0
  /** Messages received on the reply channel, and their bytes; what was last acknowledged. */
  receivedFrames = 0
  receivedBytes = 0
  ackedFrames = 0
  ackedBytes = 0
  /** When to acknowledge (from WELCOME). */
  ackEvery = { frames: 1, bytes: 1 }
  /** Handshake timeout, then the idle probe. */
  timer: TimerHandle | undefined
  /** Requests published since the idle probe last looked. */
  published = 0
  /** Frames kept while the endpoint holds delivery (fault injection). */
  readonly held: Buffer[] = []

  constructor(
    readonly id: string,
    readonly request: string,
    readonly reply: string,
    maxFrameSize: number,
  ) {
    this.maxFrameSize = maxFrameSize
  }

  /** True when a granted subscription is a byte prefix of `topic`. */
  wants(topic: string): boolean {
    for (const prefix of this.granted) if (topic.startsWith(prefix)) return true
    return false
  }
}

/**
 * The node side of the Redis transport, as returned by `RedisTransport.connect`: one link to
 * one hub over two Redis connections (a publisher for requests, a subscriber for replies).
 *
 * A link: SUBSCRIBE to a fresh reply channel, PUBLISH a HELLO (with the current subscriptions)
 * on the matching request channel, wait for WELCOME (the hub has called `peerJoined` and
 * authorized each subscription), then `linkUp`. A PUBLISH that reaches no hub, a DROP from
 * the hub, a lost connection or `reconnect()` ends the link (`linkDown` if it was up) and a new
 * attempt follows after `backoff(attempt)` ms on the transport's clock, and once both
 * connections are ready again (ioredis reconnects them with the same backoff). The attempt
 * count restarts at 1 after every link that came up.
 *
 * Subscriptions behave as on the in-memory transport: `subscribe` resolves once granted on a
 * live link, stays pending while down, rejects with `ForbiddenError` when refused; granted
 * subscriptions are asked for again on every new link (in HELLO) before any broadcast.
 */
export class RedisNodeEndpoint implements NodeEndpoint {
  readonly address: string
  /** The identity this node presents (its Redis ACL user, or the claimed name without ACL). */
  readonly identity: string
  /** The publisher connection (diagnostics and tests only: do not issue commands on it). */
  readonly publisher: Redis
  /** The subscriber connection (diagnostics and tests only). */
  readonly subscriber: Redis
  readonly #options: ResolvedOptions
  readonly #handlers: NodeHandlers
  readonly #backoff: Backoff
  readonly #channels: HubChannels
  readonly #subscriptions = new Map<string, Subscription>()
  readonly #onClosed: (node: RedisNodeEndpoint) => void
  readonly #logins: ReadonlyArray<{ readonly refused: Error | undefined }>
  #link: Link | undefined
  #closed = false
  #closing: Promise<void> | undefined
  #attempts = 0
  #retry: TimerHandle | undefined
  #nextRequest = 0
  #unbindSignal: (() => void) | undefined
  #holding = false

  /** @internal Use `RedisTransport.connect`. */
  constructor(
    options: ResolvedOptions,
    address: RedisAddress,
    identity: string,
    handlers: NodeHandlers,
    backoff: Backoff,
    onClosed: (node: RedisNodeEndpoint) => void,
  ) {
    this.#options = options
    this.#handlers = handlers
    this.#backoff = backoff
    this.#onClosed = onClosed
    this.address = formatAddress(address)
    this.identity = identity
    this.#channels = new HubChannels(options.prefix, address.hub)
    const retry = (attempt: number) => (this.#closed ? null : Math.max(0, backoff(attempt)))
    this.publisher = createRedis(address, options.settings, retry)
    this.subscriber = createRedis(address, options.settings, retry)
    this.#logins = [loginWatch(this.publisher), loginWatch(this.subscriber)]
    for (const redis of [this.publisher, this.subscriber]) {
      redis.on('ready', () => this.#maybeAttempt())
      redis.on('close', () => {
        const link = this.#link
        if (link !== undefined && !this.#closed) this.#fail(link, 'lost the connection to Redis', true)
      })
      // ioredis gives up only when a connector fails outright (e.g. no Sentinel answered).
      redis.on('end', () => {
        if (this.#closed) return
        this.#options.clock.setTimeout(
          () => {
            if (!this.#closed && redis.status === 'end') redis.connect().catch(noop)
          },
          Math.max(0, backoff(1)),
        )
      })
    }
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.#onMessage(channel, message),
    )
  }

  /** True while a link to the hub is up (`linkUp` may not have been delivered yet). */
  get connected(): boolean {
    return this.#link?.state === 'up'
  }

  /** The topics subscribed to (granted or pending). */
  subscriptions(): string[] {
    return [...this.#subscriptions.keys()]
  }

  /**
   * Publishes a copy of `frame` to the hub. False when closed, the link is down, the frame is
   * over `maxFrameSize` (the hub's `refused` handler then gets a `TooLargeError`) or the
   * link's queue (frames handed to Redis and not yet answered) is full.
   */
  send(frame: Uint8Array): boolean {
    const link = this.#link
    if (this.#closed || link === undefined || link.state !== 'up') return false
    const stats = this.#options.stats
    if (frame.byteLength > link.maxFrameSize) {
      stats.dropped.tooLarge++
      this.publisher.publish(link.request, encodeOversize(frame.byteLength)).catch(noop)
      return false
    }
    const options = this.#options
    if (
      link.queued >= options.peerQueueLimit ||
      (link.queued > 0 && link.queuedBytes + frame.byteLength + 1 > options.peerQueueBytes)
    ) {
      stats.dropped.queueFull++
      return false
    }
    this.#publish(link, withKind(Kind.DATA, frame), true)
    stats.sent.toHub++
    return true
  }

  /**
   * Subscribes to broadcasts on topics starting with `topic` (byte prefix). Resolves once the
   * hub granted it on a live link; rejects with `ForbiddenError` (keeping no subscription)
   * when refused, `ClosedError` when the endpoint closes or `unsubscribe(topic)` comes first.
   */
  subscribe(topic: string): Promise<void> {
    if (typeof topic !== 'string') return Promise.reject(new TypeError('topic must be a string'))
    if (this.#closed) return Promise.reject(new ClosedError('node endpoint is closed'))
    let entry = this.#subscriptions.get(topic)
    if (entry === undefined) {
      entry = { topic, waiters: [], reqId: 0 }
      this.#subscriptions.set(topic, entry)
    }
    const subscription = entry
    const promise = new Promise<void>((resolve, reject) => subscription.waiters.push({ resolve, reject }))
    const link = this.#link
    if (link?.state === 'up') this.#requestSubscription(link, subscription)
    return promise
  }

  /** Stops a subscription, rejecting its pending `subscribe` calls with `ClosedError`. Idempotent. */
  unsubscribe(topic: string): void {
    const entry = this.#subscriptions.get(topic)
    if (entry === undefined) return
    this.#subscriptions.delete(topic)
    const link = this.#link
    if (link !== undefined) {
      link.granted.delete(topic)
      if (link.state === 'up') this.#publish(link, kindAndText(Kind.UNSUB, topic), false)
    }
    const waiters = entry.waiters
    entry.waiters = []
    for (const w of waiters) w.reject(new ClosedError(`unsubscribed from '${topic}'`))
  }

  /** Drops the current link (reason `reconnect requested`) and links again per the backoff. No-op while down. */
  reconnect(): void {
    const link = this.#link
    if (!this.#closed && link !== undefined) this.#fail(link, 'reconnect requested', true)
  }

  /**
   * Closes for good: the hub is told (BYE, then `peerLeft(peer, 'closed')`), pending subscribes
   * reject with `ClosedError`, retries stop, no handler of this node is called again, and both
   * Redis connections are closed (QUIT, so what was sent before still arrives). Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#closed = true
    if (this.#retry !== undefined) this.#options.clock.clearTimeout(this.#retry)
    this.#retry = undefined
    this.#unbindSignal?.()
    this.#unbindSignal = undefined
    const link = this.#link
    this.#link = undefined
    if (link !== undefined) {
      if (link.timer !== undefined) this.#options.clock.clearTimeout(link.timer)
      if (this.publisher.status === 'ready') {
        this.publisher.publish(link.request, kindAndText(Kind.BYE, 'closed')).catch(noop)
      }
    }
    for (const entry of this.#subscriptions.values()) {
      for (const w of entry.waiters) w.reject(new ClosedError('node endpoint closed'))
    }
    this.#subscriptions.clear()
    this.#closing = Promise.all([
      shutdown(this.publisher, this.#options.closeTimeout),
      shutdown(this.subscriber, this.#options.closeTimeout),
    ]).then(() => this.#onClosed(this))
    return this.#closing
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** @internal Starts connecting; closes the endpoint when `signal` aborts. */
  start(signal: AbortSignal | undefined): void {
    this.#unbindSignal = onAbort(signal, () => void this.close())
    this.publisher.connect().catch(noop)
    this.subscriber.connect().catch(noop)
  }

  // ---- link lifecycle ------------------------------------------------------------------------

  #maybeAttempt(): void {
    if (this.#closed || this.#link !== undefined || this.#retry !== undefined) return
    if (this.publisher.status !== 'ready' || this.subscriber.status !== 'ready') return
    const id = randomBytes(12).toString('hex')
    const link = new Link(
      id,
      this.#channels.request(id, this.identity),
      this.#channels.reply(id, this.identity),
      this.#options.maxFrameSize,
    )
    this.#link = link
    link.timer = this.#options.clock.setTimeout(
      () => this.#fail(link, `no answer from the hub within ${this.#options.handshakeTimeout} ms`, true),
      this.#options.handshakeTimeout,
    )
    this.#open(link).catch((error: unknown) =>
      this.#fail(link, `link attempt failed: ${describe(error)}`, false),
    )
  }

  /** SUBSCRIBE to the reply channel, check the login, PUBLISH the HELLO. */
  async #open(link: Link): Promise<void> {
    await this.subscriber.subscribe(link.reply)
    // A round trip on the publisher too, then let ioredis' AUTH callbacks run (see loginWatch).
    await this.publisher.publish(link.request, PROBE)
    await settle()
    const refused = this.#logins.find((login) => login.refused !== undefined)?.refused
    if (refused !== undefined) throw refused
    if (this.#link !== link) {
      this.#unsubscribeReply(link)
      return
    }
    link.helloTopics = [...this.#subscriptions.keys()]
    const receivers = await this.publisher.publish(
      link.request,
      encodeHello(this.#options.maxFrameSize, link.helloTopics),
    )
    if (receivers === 0) this.#fail(link, `no hub is listening at ${this.address}`, false)
  }

  /**
   * Ends `link` (if it is still the current one): tells the hub when `bye`, stops listening on
   * its reply channel, owes `linkDown` if it was up, and schedules the next attempt.
   */
  #fail(link: Link, reason: string, bye: boolean): void {
    if (this.#link !== link) return
    this.#link = undefined
    if (link.timer !== undefined) this.#options.clock.clearTimeout(link.timer)
    link.timer = undefined
    if (bye && this.publisher.status === 'ready') {
      this.publisher.publish(link.request, kindAndText(Kind.BYE, reason)).catch(noop)
    }
    this.#unsubscribeReply(link)
    if (link.sawUp) {
      this.#options.stats.links.dropped++
      // Never from inside a caller's method (reconnect, send…): on the next turn.
      setImmediate(() => {
        if (!this.#closed) this.#handlers.linkDown(reason)
      })
    }
    if (this.#closed) return
    this.#attempts++
    const delay = Math.max(0, this.#backoff(this.#attempts))
    this.#retry = this.#options.clock.setTimeout(() => {
      this.#retry = undefined
      this.#maybeAttempt()
    }, delay)
  }

  #unsubscribeReply(link: Link): void {
    if (this.subscriber.status === 'ready') this.subscriber.unsubscribe(link.reply).catch(noop)
  }

  // ---- inbound -------------------------------------------------------------------------------

  #onMessage(channel: Buffer, message: Buffer): void {
    const link = this.#link
    if (this.#closed || link === undefined || message.length === 0) return
    if (channel.toString('latin1') !== link.reply) return
    const kind = message[0]
    if (this.#holding && link.state === 'up' && (kind === Kind.TO_NODE_DATA || kind === Kind.BCAST)) {
      // A copy: ioredis may reuse the buffer of a large message.
      link.held.push(Buffer.from(message))
      return
    }
    this.#receive(link, message)
  }

  /** Handles one message of the link, then acknowledges if due. */
  #receive(link: Link, message: Buffer): void {
    link.receivedFrames++
    link.receivedBytes += message.length
    try {
      this.#handle(link, message)
    } catch (error) {
      if (!(error instanceof MalformedMessage)) throw error
      this.#fail(link, `malformed message from the hub: ${error.message}`, true)
      return
    }
    // Flow control: tell the hub what was read, so its bounded queue for us drains (S6.5).
    if (
      this.#link === link &&
      link.state === 'up' &&
      (link.receivedFrames - link.ackedFrames >= link.ackEvery.frames ||
        link.receivedBytes - link.ackedBytes >= link.ackEvery.bytes)
    ) {
      link.ackedFrames = link.receivedFrames
      link.ackedBytes = link.receivedBytes
      this.#publish(link, encodeAck(link.receivedFrames, link.receivedBytes), false)
    }
  }

  /**
   * @internal Fault injection (the conformance env's `pause`): while holding, frames and
   * broadcasts from the hub are kept, neither delivered nor acknowledged, so the hub's bounded
   * queue for this node fills as if it stopped reading; control messages (WELCOME, SUBACK,
   * DROP) still flow. Releasing delivers what was kept, in order. A real stall — the socket not
   * read — also stops those, and Redis eventually drops the connection; tests do that too.
   */
  holdFrames(hold: boolean): void {
    this.#holding = hold
    if (hold) return
    const link = this.#link
    if (link === undefined) return
    while (link.held.length > 0 && this.#link === link && !this.#holding)
      this.#receive(link, link.held.shift()!)
  }

  #handle(link: Link, message: Buffer): void {
    const kind = message[0]
    if (kind === Kind.WELCOME) return this.#welcome(link, message)
    if (kind === Kind.DROP) return this.#fail(link, decodeText(message), false)
    if (link.state !== 'up') return
    const stats = this.#options.stats
    switch (kind) {
      case Kind.TO_NODE_DATA:
        stats.received.toNode++
        this.#handlers.frame(copy(message.subarray(1)))
        return
      case Kind.BCAST: {
        const { topic, frame } = decodeBroadcast(message)
        // The hub filters too; this drops what was in flight when a subscription ended.
        if (!link.wants(topic)) return
        stats.received.toNode++
        this.#handlers.broadcast(topic, frame)
        return
      }
      case Kind.SUBACK: {
        const { reqId, granted } = decodeSubAck(message)
        const topic = link.pending.get(reqId)
        if (topic === undefined) return
        link.pending.delete(reqId)
        const entry = this.#subscriptions.get(topic)
        if (entry !== undefined && entry.reqId === reqId) this.#settle(entry, link, granted)
        return
      }
      default:
        throw new MalformedMessage(`unknown message kind ${kind}`)
    }
  }

  #welcome(link: Link, message: Buffer): void {
    if (link.state !== 'hello') throw new MalformedMessage('WELCOME on a link that is up')
    const welcome = decodeWelcome(message)
    if (welcome.version !== WIRE_VERSION) {
      this.#fail(link, `the hub speaks transport version ${welcome.version}, not ${WIRE_VERSION}`, true)
      return
    }
    if (welcome.granted.length !== link.helloTopics.length)
      throw new MalformedMessage('WELCOME does not answer HELLO')
    if (link.timer !== undefined) this.#options.clock.clearTimeout(link.timer)
    link.timer = undefined
    link.state = 'up'
    this.#scheduleProbe(link)
    link.ackEvery = { frames: Math.max(1, welcome.ack.frames), bytes: Math.max(1, welcome.ack.bytes) }
    if (welcome.maxFrameSize > 0) link.maxFrameSize = Math.min(link.maxFrameSize, welcome.maxFrameSize)
    this.#attempts = 0
    this.#options.stats.links.established++
    const asked = new Set(link.helloTopics)
    link.helloTopics.forEach((topic, i) => {
      const entry = this.#subscriptions.get(topic)
      if (entry === undefined) {
        // Unsubscribed while the HELLO was on its way.
        this.#publish(link, kindAndText(Kind.UNSUB, topic), false)
        return
      }
      this.#settle(entry, link, welcome.granted[i] === true)
    })
    for (const entry of this.#subscriptions.values()) {
      if (!asked.has(entry.topic)) this.#requestSubscription(link, entry)
    }
    if (this.#link !== link || this.#closed) return
    link.sawUp = true
    this.#handlers.linkUp()
  }

  // ---- subscriptions -------------------------------------------------------------------------

  #requestSubscription(link: Link, entry: Subscription): void {
    this.#nextRequest = (this.#nextRequest % 0xffffffff) + 1
    entry.reqId = this.#nextRequest
    link.pending.set(entry.reqId, entry.topic)
    this.#publish(link, encodeSub(entry.reqId, entry.topic), false)
  }

  #settle(entry: Subscription, link: Link, granted: boolean): void {
    const waiters = entry.waiters
    entry.waiters = []
    entry.reqId = 0
    if (granted) {
      link.granted.add(entry.topic)
      for (const w of waiters) w.resolve()
      return
    }
    link.granted.delete(entry.topic)
    // A refusal of a granted subscription on a new link keeps it (asked again next link).
    if (waiters.length === 0) return
    this.#subscriptions.delete(entry.topic)
    const error = new ForbiddenError(
      `subscription to '${entry.topic}' refused for identity '${this.identity}'`,
    )
    for (const w of waiters) w.reject(error)
  }

  // ---- outbound ------------------------------------------------------------------------------

  /**
   * While the link is up, a KEEPALIVE after `probeInterval` ms without any request: a hub that
   * died without a word is noticed (nobody receives it), and one that restarted answers DROP.
   */
  #scheduleProbe(link: Link): void {
    link.published = 0
    link.timer = this.#options.clock.setTimeout(() => {
      if (this.#link !== link || this.#closed) return
      if (link.published === 0) this.#publish(link, KEEPALIVE, false)
      this.#scheduleProbe(link)
    }, this.#options.probeInterval)
  }

  /** PUBLISHes on the link's request channel; no receiver (no hub) or an error ends the link. */
  #publish(link: Link, message: Buffer, counted: boolean): void {
    link.published++
    const bytes = message.length
    if (counted) {
      link.queued++
      link.queuedBytes += bytes
    }
    this.publisher.publish(link.request, message).then(
      (receivers) => {
        if (counted) {
          link.queued--
          link.queuedBytes -= bytes
        }
        if (receivers === 0) this.#fail(link, 'the hub is gone', false)
      },
      (error: unknown) => {
        if (counted) {
          link.queued--
          link.queuedBytes -= bytes
        }
        this.#fail(link, `publish failed: ${describe(error)}`, false)
      },
    )
  }
}
