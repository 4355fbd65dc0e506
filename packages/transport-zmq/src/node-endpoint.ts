import { randomBytes } from 'node:crypto'
import {
  type Backoff,
  ClosedError,
  ForbiddenError,
  type NodeEndpoint,
  type NodeHandlers,
  type TimerHandle,
} from '@concord/core'
import { Dealer } from 'zeromq'
import { endpointOf, type ZmqAddress } from './address.js'
import { AckCounter, CreditWindow } from './credit.js'
import { helloProof } from './curve.js'
import { closeEvents } from './sockets.js'
import { dropCounts, frameCount, type ZmqNodeStats } from './stats.js'
import {
  frameParts,
  type Hello,
  joinParts,
  kindOf,
  parseCount,
  parseJson,
  parseWindow,
  TAG,
  ToHub,
  ToNode,
  unbundle,
  view,
  WIRE_VERSION,
} from './wire.js'
import type { ZmqConfig } from './zmq-transport.js'

/** How long consumed frames may wait before their credit goes back (a quarter of the window goes back at once). */
const ACK_DELAY_MS = 50

interface Waiter {
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

/** A subscription of the node endpoint, kept across links. */
interface Subscription {
  readonly topic: string
  /** `subscribe` calls not settled yet. */
  waiters: Waiter[]
  /** The link it was last asked on, and the request id of that ask. */
  askedOn: Link | undefined
  reqId: number
}

/** Socket events that end a link attempt or a link. */
const FAILURES = [
  ['disconnect', 'disconnected'],
  ['close', 'connection closed'],
  ['handshake:error:auth', 'authentication failed'],
  ['handshake:error:protocol', 'handshake failed'],
  ['handshake:error:other', 'handshake failed'],
] as const

/** One link: one DEALER socket, one connection, one routing id. A link never comes back up. */
class Link {
  state: 'hello' | 'up' | 'down' = 'hello'
  timer: TimerHandle | undefined
  /** Subscriptions sent in HELLO, in order (WELCOME answers them in that order). */
  helloSubs: Subscription[] = []
  /** Subscriptions granted on this link. */
  readonly granted = new Set<string>()
  /** Frames held unconsumed while the endpoint is paused (fault injection): `[topic, frame]`. */
  readonly held: Array<[string | undefined, Buffer]> = []
  /** SUBSCRIBE requests in flight by request id. */
  readonly pending = new Map<number, Subscription>()
  credit: CreditWindow | undefined
  acks: AckCounter | undefined
  ackScheduled = false
  maxFrameSize: number
  /** The connection dropped while messages were still unread: fail once they are read. */
  dropped: string | undefined
  onSendError: (error: unknown) => void = () => {}

  constructor(
    readonly socket: Dealer,
    readonly rid: string,
    maxFrameSize: number,
  ) {
    this.maxFrameSize = maxFrameSize
    this.dropped = undefined
  }

  /** True when a granted subscription is a raw prefix of `topic`. */
  wants(topic: string): boolean {
    for (const prefix of this.granted) if (topic.startsWith(prefix)) return true
    return false
  }

  isDown(): boolean {
    return this.state === 'down'
  }
}

/**
 * The node side of the ZeroMQ transport, as returned by `ZmqTransport.connect`. Each link is a
 * fresh DEALER socket with a fresh routing id, ZeroMQ's own reconnection off: the injected
 * backoff alone decides when to try again.
 *
 * Subscriptions: `subscribe` resolves once the hub granted it on the current link; while the
 * link is down it stays pending until the next link comes up. Every subscription is asked
 * for again in the HELLO of each new link, before `linkUp`; one refused then stays inactive
 * on that link (asked again on the next), as there is no caller to tell.
 */
export class ZmqNodeEndpoint implements NodeEndpoint {
  /** The hub address, as given. */
  readonly address: string
  /** The identity presented (unauthenticated unless CURVE), if any. */
  readonly identity: string | undefined
  readonly #config: ZmqConfig
  readonly #endpoint: string
  readonly #ipv6: boolean
  readonly #handlers: NodeHandlers
  readonly #backoff: Backoff
  readonly #subscriptions = new Map<string, Subscription>()
  #link: Link | undefined
  #closed = false
  #paused = false
  #closing: Promise<void> | undefined
  #attempts = 0
  #retry: TimerHandle | undefined
  #nextReq = 0
  #unbindSignal: (() => void) | undefined
  readonly #sent = frameCount()
  readonly #received = frameCount()
  readonly #dropped = dropCounts()
  #malformed = 0
  readonly #links = { established: 0, failed: 0, lost: 0 }

  /** @internal Use `ZmqTransport.connect`. */
  constructor(
    config: ZmqConfig,
    address: ZmqAddress,
    requested: string,
    handlers: NodeHandlers,
    backoff: Backoff,
    identity: string | undefined,
  ) {
    this.#config = config
    this.#endpoint = endpointOf(address)
    this.#ipv6 = address.kind === 'tcp' && address.ipv6
    this.address = requested
    this.#handlers = handlers
    this.#backoff = backoff
    this.identity = identity
  }

  /** This node as the hub knows it, for messages: its CURVE key (the hub maps it to an identity), or its presented name. */
  #whoAmI(): string {
    const key = this.#config.client?.keys.publicKey
    if (key !== undefined) return `the CURVE key ${key}`
    return `identity '${this.identity ?? 'anonymous'}'`
  }

  /** True while a link to the hub is up (`linkUp` was delivered). */
  get connected(): boolean {
    return this.#link?.state === 'up'
  }

  /** The topics subscribed to (granted or pending). */
  subscriptions(): string[] {
    return [...this.#subscriptions.keys()]
  }

  /** Counters over every link this endpoint made. */
  get stats(): ZmqNodeStats {
    return {
      sent: { ...this.#sent },
      received: { ...this.#received },
      dropped: { ...this.#dropped },
      malformed: this.#malformed,
      links: { ...this.#links },
    }
  }

  /**
   * Queues a copy of `frame` to the hub. False when closed, the link is not up, the frame is
   * over the link's size limit (the hub is told, for its `refused` count) or the window
   * (`highWaterMark`) is full.
   */
  send(frame: Uint8Array): boolean {
    const link = this.#link
    if (this.#closed || link === undefined || link.state !== 'up') return false
    const size = frame.byteLength
    if (size > link.maxFrameSize) {
      this.#dropped.tooLarge++
      this.#control(link, ToHub.TOO_LARGE, String(size))
      return false
    }
    if (!link.credit!.take(size)) {
      this.#dropped.queueFull++
      return false
    }
    this.#sent.frames++
    this.#sent.bytes += size
    link.socket.send([TAG[ToHub.DATA]!, ...frameParts(frame)]).catch(link.onSendError)
    return true
  }

  /**
   * Subscribes to broadcasts on topics starting with `topic` (raw prefix). Resolves once the
   * hub granted it on a live link; rejects with `ForbiddenError` (and keeps no subscription)
   * when refused, `ClosedError` when the endpoint closes or `unsubscribe(topic)` comes first.
   */
  subscribe(topic: string): Promise<void> {
    if (typeof topic !== 'string') return Promise.reject(new TypeError('topic must be a string'))
    if (this.#closed) return Promise.reject(new ClosedError('node endpoint is closed'))
    let entry = this.#subscriptions.get(topic)
    if (entry === undefined) {
      entry = { topic, waiters: [], askedOn: undefined, reqId: 0 }
      this.#subscriptions.set(topic, entry)
    }
    const subscription = entry
    const promise = new Promise<void>((resolve, reject) => subscription.waiters.push({ resolve, reject }))
    const link = this.#link
    // On a live link ask now; a link still saying hello asks once it is welcomed.
    if (link?.state === 'up') this.#ask(subscription, link)
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
      if (link.state === 'up') this.#control(link, ToHub.UNSUBSCRIBE, topic)
    }
    const waiters = entry.waiters
    entry.waiters = []
    for (const w of waiters) w.reject(new ClosedError(`unsubscribed from '${topic}'`))
  }

  /**
   * Drops the current link (`linkDown('reconnect requested')` on the next turn) and builds a
   * new one after `backoff(1)` ms. No-op while no link is up.
   */
  reconnect(): void {
    const link = this.#link
    if (this.#closed || link === undefined || link.state !== 'up') return
    // Say why, so the hub reports the same reason; the socket lingers to let it out.
    this.#control(link, ToHub.BYE, 'reconnect requested')
    this.#fail(link, 'reconnect requested', true, this.#config.linger)
  }

  /**
   * Closes for good: the hub is told (BYE, so it reports `peerLeft(peer, 'closed')`), pending
   * subscribes reject with `ClosedError`, retries stop, no handler is called again, and the
   * socket is released (lingering `linger` ms for the BYE). Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#closed = true
    if (this.#retry !== undefined) this.#config.clock.clearTimeout(this.#retry)
    this.#retry = undefined
    this.#unbindSignal?.()
    this.#unbindSignal = undefined
    const link = this.#link
    this.#link = undefined
    let socketClosed: Promise<void> = Promise.resolve()
    if (link !== undefined) {
      const up = link.state === 'up'
      if (up) this.#control(link, ToHub.BYE)
      link.state = 'down'
      if (link.timer !== undefined) this.#config.clock.clearTimeout(link.timer)
      socketClosed = this.#release(link.socket, up ? this.#config.linger : 0)
    }
    for (const entry of this.#subscriptions.values()) {
      for (const w of entry.waiters) w.reject(new ClosedError('node endpoint closed'))
    }
    this.#subscriptions.clear()
    this.#closing = socketClosed
    return this.#closing
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /**
   * @internal Fault injection for tests (the conformance suites' `pause`/`resume`): stop
   * handing the hub's frames and broadcasts to core and returning their credit, so they pile
   * up in this link's window and the hub's `send` eventually refuses, as with a node that
   * stopped reading (control messages still flow); `true` delivers what was held and reads on.
   */
  setReading(reading: boolean): void {
    this.#paused = !reading
    const link = this.#link
    if (reading && link !== undefined && link.held.length > 0) setImmediate(() => this.#releaseHeld(link))
  }

  /** @internal Closes the endpoint when `signal` aborts. */
  bindSignal(signal: AbortSignal | undefined): void {
    if (signal === undefined) return
    const onAbort = () => void this.close()
    signal.addEventListener('abort', onAbort, { once: true })
    this.#unbindSignal = () => signal.removeEventListener('abort', onAbort)
  }

  /** @internal */
  start(): void {
    setImmediate(() => this.#attempt())
  }

  // ---- links -------------------------------------------------------------------------------

  /** One link attempt: a new socket, HELLO queued at once (it leaves when the connection is made). */
  #attempt(): void {
    if (this.#closed || this.#link !== undefined) return
    const config = this.#config
    const client = config.client
    const rid = randomBytes(12).toString('base64url')
    const socket = new Dealer({
      routingId: rid,
      linger: 0,
      // One connection per socket: the injected backoff, not libzmq, decides when to retry
      // (the socket is closed long before this). Not -1: libzmq would then discard messages
      // received but not yet read when the connection drops, the hub's farewell among them.
      reconnectInterval: 3_600_000,
      immediate: false,
      sendTimeout: 0,
      sendHighWaterMark: config.zmqHighWaterMark,
      receiveHighWaterMark: config.zmqHighWaterMark,
      maxMessageSize: config.zmqMaxMessageSize,
      handshakeInterval: config.connectTimeout,
      ...(this.#ipv6 ? { ipv6: true } : {}),
      ...(config.heartbeat === false
        ? {}
        : {
            heartbeatInterval: config.heartbeat.interval,
            heartbeatTimeout: config.heartbeat.timeout,
            heartbeatTimeToLive: config.heartbeat.timeout,
          }),
      ...(client === undefined
        ? {}
        : {
            curveServerKey: client.serverKey,
            curvePublicKey: client.keys.publicKey,
            curveSecretKey: client.keys.secretKey,
          }),
    })
    const link = new Link(socket, rid, config.maxFrameSize)
    link.onSendError = (error) =>
      this.#fail(link, `send failed: ${(error as { code?: string }).code ?? error}`)
    this.#link = link
    for (const [event, reason] of FAILURES) {
      socket.events.on(event, (data) => {
        const detail = 'error' in data && data.error instanceof Error ? `: ${data.error.message}` : ''
        // What the hub sent before the connection dropped (its farewell first of all) is
        // read before the link counts as lost.
        if (link.state !== 'down' && !socket.closed && socket.readable) link.dropped ??= `${reason}${detail}`
        else this.#fail(link, `${reason}${detail}`)
      })
    }
    link.timer = config.clock.setTimeout(() => {
      link.timer = undefined
      this.#fail(link, `no WELCOME from the hub within ${config.connectTimeout} ms`)
    }, config.connectTimeout)
    try {
      socket.connect(this.#endpoint)
    } catch (error) {
      this.#fail(link, `cannot connect: ${(error as Error).message}`, true)
      return
    }
    link.helloSubs = [...this.#subscriptions.values()]
    for (const entry of link.helloSubs) entry.askedOn = link
    const hello: Hello = {
      v: WIRE_VERSION,
      ...(this.identity === undefined ? {} : { name: this.identity }),
      ...(client === undefined
        ? {}
        : {
            key: client.keys.publicKey,
            proof: helloProof(client.keys.sharedSecret(client.serverKeyBytes), rid, client.keys.publicKey),
          }),
      window: [config.highWaterMark, config.highWaterMarkBytes],
      max: config.maxFrameSize,
      subs: link.helloSubs.map((s) => s.topic),
    }
    this.#control(link, ToHub.HELLO, JSON.stringify(hello))
    void this.#receive(link)
  }

  /**
   * Ends `link`: its socket closes, and unless the endpoint is closed, `linkDown(reason)` is
   * delivered if the link had come up, then the next attempt is scheduled per the backoff.
   * `defer` moves the callbacks to the next turn (when called from a caller's method).
   */
  #fail(link: Link, reason: string, defer = false, linger = 0): void {
    if (link.state === 'down') return
    const wasUp = link.state === 'up'
    link.state = 'down'
    if (link.timer !== undefined) this.#config.clock.clearTimeout(link.timer)
    link.timer = undefined
    if (this.#link === link) this.#link = undefined
    if (wasUp) this.#links.lost++
    else this.#links.failed++
    void this.#release(link.socket, linger)
    const after = () => {
      if (this.#closed) return
      try {
        if (wasUp) this.#handlers.linkDown(reason)
      } finally {
        if (!this.#closed && this.#link === undefined && this.#retry === undefined) this.#scheduleRetry()
      }
    }
    if (defer) setImmediate(after)
    else after()
  }

  #scheduleRetry(): void {
    this.#attempts++
    const delay = this.#backoff(this.#attempts)
    this.#retry = this.#config.clock.setTimeout(() => {
      this.#retry = undefined
      this.#attempt()
    }, delay)
  }

  /** Closes a socket on the next turn (never inside its own event or receive callbacks). */
  #release(socket: Dealer, linger: number): Promise<void> {
    return new Promise((resolve) => {
      setImmediate(() => {
        if (!socket.closed) {
          socket.linger = linger
          socket.close()
        }
        closeEvents(socket)
        resolve()
      })
    })
  }

  #control(link: Link, kind: number, ...rest: string[]): void {
    if (link.socket.closed) return
    link.socket.send([TAG[kind]!, ...rest]).catch(link.onSendError)
  }

  #ask(entry: Subscription, link: Link): void {
    const reqId = ++this.#nextReq
    entry.askedOn = link
    entry.reqId = reqId
    link.pending.set(reqId, entry)
    this.#control(link, ToHub.SUBSCRIBE, String(reqId), entry.topic)
  }

  /** Resolves or rejects a subscription's waiters with the hub's answer on `link`. */
  #settle(entry: Subscription, link: Link, granted: boolean): void {
    const waiters = entry.waiters
    entry.waiters = []
    if (granted) {
      link.granted.add(entry.topic)
      for (const w of waiters) w.resolve()
      return
    }
    link.granted.delete(entry.topic)
    if (waiters.length === 0) return
    this.#subscriptions.delete(entry.topic)
    const error = new ForbiddenError(`subscription to '${entry.topic}' refused for ${this.#whoAmI()}`)
    for (const w of waiters) w.reject(error)
  }

  // ---- in ----------------------------------------------------------------------------------

  async #receive(link: Link): Promise<void> {
    try {
      for await (const parts of link.socket) {
        if (link.state === 'down' || this.#closed) break
        try {
          this.#onMessage(link, parts)
        } catch {
          // A handler threw (they must not); keep reading.
        }
        // `#onMessage` may have ended the link, hence `isDown()` rather than the narrowed state.
        if (link.dropped !== undefined && !link.isDown() && !link.socket.readable) {
          this.#fail(link, link.dropped)
        }
      }
    } catch (error) {
      this.#fail(link, `receive failed: ${(error as Error).message}`)
    }
  }

  #onMessage(link: Link, parts: Buffer[]): void {
    const kind = kindOf(parts)
    if (link.state === 'hello') {
      if (kind === ToNode.WELCOME && parts.length === 2) return this.#welcomed(link, parts[1]!)
      if ((kind === ToNode.REFUSED || kind === ToNode.DROP) && parts.length === 2) {
        return this.#fail(link, `refused by the hub: ${parts[1]!.toString('utf8')}`)
      }
      this.#malformed++
      return
    }
    switch (kind) {
      case ToNode.DATA: {
        const frame = joinParts(parts, 1)
        if (frame === undefined) break
        return this.#data(link, undefined, frame)
      }
      case ToNode.BROADCAST: {
        const frame = joinParts(parts, 2)
        if (frame === undefined) break
        return this.#data(link, parts[1]!.toString('utf8'), frame)
      }
      case ToNode.BUNDLE: {
        const messages = unbundle(parts)
        if (messages === undefined) break
        for (const { topic, frame } of messages) {
          if (link.isDown() || this.#closed) return
          try {
            this.#data(link, topic?.toString('utf8'), frame)
          } catch {
            // A handler threw (they must not): as for messages sent apart, the rest are still
            // delivered (and their credit returned).
          }
        }
        return
      }
      case ToNode.SUBSCRIBED: {
        const reqId = parseCount(parts[1])
        if (parts.length !== 3 || reqId === undefined) break
        const entry = link.pending.get(reqId)
        if (entry === undefined) break
        link.pending.delete(reqId)
        // A later ask supersedes this answer; an unsubscribed entry is gone.
        if (entry.reqId !== reqId || this.#subscriptions.get(entry.topic) !== entry) return
        this.#settle(entry, link, parts[2]!.toString('latin1') === '1')
        return
      }
      case ToNode.ACK: {
        const count = parseCount(parts[1])
        if (parts.length !== 2 || count === undefined || !link.credit!.release(count)) break
        return
      }
      case ToNode.DROP:
        if (parts.length !== 2) break
        return this.#fail(link, parts[1]!.toString('utf8'))
    }
    this.#malformed++
  }

  /** A frame (`topic` undefined) or broadcast for core: delivered, or held while paused. */
  #data(link: Link, topic: string | undefined, frame: Buffer): void {
    if (this.#paused || link.held.length > 0) {
      // Held unconsumed: no credit goes back, so the hub's window for this link fills up.
      link.held.push([topic, frame])
      return
    }
    this.#consumed(link, frame.length)
    if (topic !== undefined && !link.wants(topic)) return
    this.#received.frames++
    this.#received.bytes += frame.length
    if (topic === undefined) this.#handlers.frame(view(frame))
    else this.#handlers.broadcast(topic, view(frame))
  }

  /** Delivers what was held while paused, in order (stopping if the link goes or pauses again). */
  #releaseHeld(link: Link): void {
    while (link.held.length > 0 && !this.#paused && link.state === 'up' && !this.#closed) {
      const [topic, frame] = link.held.shift()!
      this.#consumed(link, frame.length)
      if (topic !== undefined && !link.wants(topic)) continue
      this.#received.frames++
      this.#received.bytes += frame.length
      if (topic === undefined) this.#handlers.frame(view(frame))
      else this.#handlers.broadcast(topic, view(frame))
    }
  }

  #welcomed(link: Link, body: Buffer): void {
    const welcome = parseJson(body)
    const window = parseWindow(welcome?.window)
    const granted = welcome?.granted
    const max = welcome?.max
    if (
      welcome?.v !== WIRE_VERSION ||
      window === undefined ||
      !Array.isArray(granted) ||
      granted.length !== link.helloSubs.length ||
      !(Number.isSafeInteger(max) && (max as number) > 0)
    ) {
      this.#malformed++
      return this.#fail(link, 'malformed WELCOME')
    }
    if (link.timer !== undefined) this.#config.clock.clearTimeout(link.timer)
    link.timer = undefined
    link.state = 'up'
    link.credit = new CreditWindow(this.#config.highWaterMark, this.#config.highWaterMarkBytes)
    link.acks = new AckCounter(window)
    link.maxFrameSize = Math.min(this.#config.maxFrameSize, max as number)
    this.#attempts = 0
    this.#links.established++
    link.helloSubs.forEach((entry, i) => {
      if (this.#subscriptions.get(entry.topic) === entry && entry.askedOn === link) {
        this.#settle(entry, link, granted[i] === true)
      }
    })
    link.helloSubs = []
    for (const entry of [...this.#subscriptions.values()]) if (entry.askedOn !== link) this.#ask(entry, link)
    if (link.state === 'up' && !this.#closed) this.#handlers.linkUp()
  }

  /** Counts a consumed hub frame; acknowledges at a quarter of the hub's window, else at the end of the turn. */
  #consumed(link: Link, size: number): void {
    const acks = link.acks!
    if (acks.consumed(size)) {
      this.#control(link, ToHub.ACK, String(acks.take()))
      return
    }
    if (link.ackScheduled) return
    link.ackScheduled = true
    // One credit message for many frames, a little later: not a message per frame.
    setTimeout(() => {
      link.ackScheduled = false
      const count = acks.take()
      if (count > 0 && link.state === 'up') this.#control(link, ToHub.ACK, String(count))
    }, ACK_DELAY_MS).unref()
  }
}
