import type { AnySchema, Schema } from '@concord/schema/contract'
import { AbortedError, ClosedError, TooLargeError, UnavailableError } from '../errors.js'
import { longestTopicMatch, topicMatches } from '../ports/authorizer.js'
import type { NodeEndpoint } from '../ports/transport.js'
import { type EventMessage, MessageType, type Publish, type Subscribe } from '../protocol/messages.js'
import { abortableWait, onAbort, throwIfAborted } from '../util/abort.js'
import { count } from '../util/counters.js'
import { checkName, checkSchema, isTopic, Topics } from '../util/names.js'
import { sizeOverLimit } from '../util/utf8-size.js'
import {
  type ConcordEvent,
  EventSubscription,
  type SubscribeOptions,
  type Subscriber,
} from './event-subscription.js'
import { overPendingBound, type RequestHost } from './request-host.js'
import type { CallOptions } from './types.js'

/** Options of `publish`. */
export interface PublishOptions extends CallOptions {
  /** Deliver only to members of this group (S7.5). */
  readonly group?: string
}

/** What the events of a node need from the node that holds them: its link, its counters, its limits. */
export interface EventsHost extends RequestHost {
  /** The groups this node is in (S7.5). */
  readonly groups: readonly string[]
  /** The transport endpoint, once connected. */
  endpoint(): NodeEndpoint | undefined
  /** Counts a message from the hub refused (S9.1). */
  refused(error: unknown): void
}

interface PendingPublish {
  readonly message: Publish
  readonly issuedAt: number
  sent: boolean
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

interface PendingSubscribe {
  readonly message: Subscribe
  readonly subscription: Subscriber
  /** Asked again of a hub on a new link for a granted subscription: may it go on (S8.2)? */
  readonly recheck?: true
}

/** The per-topic numberings a node follows at most (the oldest is forgotten past it). */
const MAX_STREAMS = 65_536

function noop(): void {}

/**
 * The events side of a node (S7): publishes waiting for the hub's answer, subscriptions and
 * the transport topics they hold, per-topic numbering to count what was lost, and delivery.
 * The node owns the link and hands this what concerns events; the two share the request
 * ids and the `maxPendingWrites` bound.
 */
export class NodeEvents {
  readonly #host: EventsHost
  readonly #publishes = new Map<number, PendingPublish>()
  readonly #subscribeRequests = new Map<number, PendingSubscribe>()
  /** Every subscription until it ends. */
  readonly #subscriptions = new Set<Subscriber>()
  /** The subscriptions the hub granted and the transport carries: the only ones events reach (S8.2). */
  readonly #granted = new Set<Subscriber>()
  /** Links welcomed so far: a subscription granted across a new link is asked again. */
  #linkUps = 0
  /** How many granted subscriptions hold each transport topic: it is let go with the last. */
  readonly #transportTopics = new Map<string, number>()
  /**
   * The last seq seen per event stream, to count what the transport lost (S7.6). Kept only
   * while a granted subscription covers the stream's topic: the node receives it only then.
   */
  readonly #streams = new Map<number, { readonly topic: string; seq: number }>()
  readonly #topicSchemas: [string, Schema][] = []

  constructor(host: EventsHost) {
    this.#host = host
  }

  /** The publishes waiting for the hub's answer, or to be sent. */
  get pending(): number {
    return this.#publishes.size
  }

  /** See `ConcordNode.topic`. */
  topic(prefix: string, schema: AnySchema): void {
    checkSchema(`topic '${prefix}'`, schema)
    const known = this.#topicSchemas.find((entry) => entry[0] === prefix)
    if (known === undefined) this.#topicSchemas.push([prefix, schema])
    else if (known[1].fingerprint !== schema.fingerprint) {
      throw new TypeError(`topic prefix '${prefix}' already has another payload schema on this node`)
    }
  }

  #topicSchema(topic: string): Schema | undefined {
    return longestTopicMatch(this.#topicSchemas, topic)
  }

  /** See `ConcordNode.publish`. */
  publish(topic: string, payload: unknown, options: PublishOptions): Promise<void> {
    let message: Publish
    try {
      message = this.#publishMessage(topic, payload, options)
    } catch (error) {
      // Every mistake rejects, a programmer's too: one channel per failure.
      return Promise.reject(error)
    }
    const pubId = message.pubId
    const { promise, waiting } = abortableWait(options.signal, () => {
      this.#publishes.delete(pubId)
      // Still in the outbox (aborted in the task that published it): it never leaves.
      this.#host.unsend(message)
    })
    const pending: PendingPublish = { message, issuedAt: this.#host.now(), sent: false, ...waiting }
    this.#publishes.set(pubId, pending)
    if (this.#host.ready()) {
      pending.sent = true
      this.#host.send(message)
    }
    return promise
  }

  /** The message `publish` sends, checked as far as the node can; throws what `publish` rejects with. */
  #publishMessage(topic: string, payload: unknown, options: PublishOptions): Publish {
    const host = this.#host
    if (host.closed()) throw new ClosedError('the node is closed')
    if (!isTopic(topic)) throw new TypeError(`invalid topic ${JSON.stringify(topic)}`)
    const group = options.group ?? null
    if (group !== null) checkName('group', group)
    throwIfAborted(options.signal)
    const schema = this.#topicSchema(topic)
    let bytes: Uint8Array
    if (schema !== undefined) bytes = schema.encodeTransient?.(payload) ?? schema.encode(payload)
    else if (payload instanceof Uint8Array) bytes = payload
    else
      throw new TypeError(
        `no payload schema for topic '${topic}': register one with node.topic() or pass bytes`,
      )
    if (host.pending() >= host.maxPending) {
      host.metrics.publishesOverLimit++
      throw overPendingBound(host.maxPending)
    }
    const message: Publish = {
      type: MessageType.PUBLISH,
      pubId: host.nextRequestId(),
      topic,
      group,
      payload: bytes,
      fingerprint: schema?.fingerprint ?? null,
    }
    const tooLarge = this.#publishTooLarge(message)
    if (tooLarge !== undefined) throw tooLarge
    return message
  }

  /**
   * Why `message` cannot be sent: its topic, group and payload travel whole in one frame to
   * the hub and in one from it, so together they may take what a store value may. Past that
   * the frame would be refused and the link dropped, with everything queued on it (S9.1).
   */
  #publishTooLarge(message: Publish): TooLargeError | undefined {
    return this.#tooLarge('event', message.topic, (message.group?.length ?? 0) + message.payload.byteLength)
  }

  /** A `TooLargeError` when `topic` as UTF-8 plus `bytes` more exceed what an event may take. */
  #tooLarge(what: string, topic: string, bytes: number): TooLargeError | undefined {
    const limit = this.#host.maxValueSize()
    const size = sizeOverLimit(topic, bytes, limit)
    if (size === undefined) return undefined
    return new TooLargeError(`${what} of ${size} bytes exceeds the limit of ${limit} (a quarter of a frame)`)
  }

  /** See `ConcordNode.subscribe`. */
  subscribe<P>(prefix: string, options: SubscribeOptions): EventSubscription<P> {
    let stopAbort = noop
    const subscription = new EventSubscription<P>(
      prefix,
      options,
      (s) => {
        stopAbort()
        this.#unsubscribed(s)
      },
      this.#countOverflow,
    )
    const refusal = this.#subscribeRefusal(prefix, options.signal)
    if (refusal !== undefined) {
      subscription._end(refusal)
      return subscription
    }
    stopAbort = onAbort(options.signal, (error) => subscription._end(error))
    this.#subscriptions.add(subscription)
    const message = this.#subscribeMessage(prefix)
    this.#subscribeRequests.set(message.reqId, { message, subscription })
    if (this.#host.ready()) this.#host.send(message)
    return subscription
  }

  readonly #countOverflow = {
    dropped: (): void => {
      this.#host.metrics.eventsDropped++
    },
    ended: (): void => {
      this.#host.metrics.subscriptionsOverflowed++
    },
  }

  /** Registers a request asking the hub again for a granted subscription (see {@link welcome}); returns it to send. */
  #recheck(subscription: Subscriber): Subscribe {
    const message = this.#subscribeMessage(subscription.prefix)
    this.#subscribeRequests.set(message.reqId, { message, subscription, recheck: true })
    return message
  }

  /** A SUBSCRIBE asking the hub for `prefix`, under a new request id. */
  #subscribeMessage(prefix: string): Subscribe {
    return {
      type: MessageType.SUBSCRIBE,
      reqId: this.#host.nextRequestId(),
      prefix,
      group: null,
      fingerprint: this.#topicSchema(prefix)?.fingerprint ?? null,
    }
  }

  /** Why a subscription to `prefix` ends at once, before anything is sent; undefined if it may go on. */
  #subscribeRefusal(prefix: string, signal: AbortSignal | undefined): Error | undefined {
    if (this.#host.closed()) return new ClosedError('the node is closed')
    if (!isTopic(prefix)) return new TypeError(`invalid topic prefix ${JSON.stringify(prefix)}`)
    const tooLarge = this.#tooLarge('topic prefix', prefix, 0)
    if (tooLarge !== undefined) return tooLarge
    // An abort listener added now would never fire: end it here, as a late abort would.
    if (signal?.aborted) return new AbortedError('aborted', { cause: signal.reason })
    return undefined
  }

  #eventTopics(prefix: string): string[] {
    return [
      ...Topics.eventPrefixes('e|', prefix),
      ...this.#host.groups.flatMap((g) => Topics.eventPrefixes(`g|${g}|`, prefix)),
    ]
  }

  /** The hub granted subscription request `reqId`: hold its transport topics, then let events in. */
  async subscribed(reqId: number): Promise<void> {
    const request = this.#subscribeRequests.get(reqId)
    if (request === undefined) return
    this.#subscribeRequests.delete(reqId)
    const subscription = request.subscription
    if (!this.#subscriptions.has(subscription) || request.recheck) return
    const linkUps = this.#linkUps
    try {
      await Promise.all(
        this.#eventTopics(subscription.prefix).map((topic) => {
          const n = this.#transportTopics.get(topic) ?? 0
          this.#transportTopics.set(topic, n + 1)
          return this.#host.endpoint()!.subscribe(topic)
        }),
      )
      // Events reach it from here on only: before, the hub might still refuse it (S8.2).
      if (!this.#subscriptions.has(subscription)) return
      this.#granted.add(subscription)
      subscription._ready()
      // A new link came up meanwhile, whose hub has not been asked about it yet (S8.2).
      if (linkUps !== this.#linkUps && this.#host.ready()) this.#host.send(this.#recheck(subscription))
    } catch (error) {
      subscription._end(error as Error)
    }
  }

  /** The hub refused subscription request `reqId` (a first ask or a recheck): it ends with `error`. */
  subscribeRefused(reqId: number, error: Error): void {
    // Ending it forgets the request: its transport topics, never counted, stay as they are.
    const request = this.#subscribeRequests.get(reqId)
    // A refused recheck ends a granted subscription: forget the request first, so that
    // ending it lets go of its transport topics.
    if (request?.recheck) this.#subscribeRequests.delete(reqId)
    request?.subscription._end(error)
  }

  #unsubscribed(subscription: Subscriber): void {
    if (!this.#subscriptions.delete(subscription)) return
    if (this.#granted.delete(subscription)) this.#forgetStreams(subscription.prefix)
    for (const [reqId, request] of this.#subscribeRequests) {
      if (request.subscription === subscription) {
        this.#subscribeRequests.delete(reqId)
        // Not granted yet: it holds no transport topics. A recheck's subscription does.
        if (!request.recheck) return
        break
      }
    }
    for (const topic of this.#eventTopics(subscription.prefix)) {
      const n = (this.#transportTopics.get(topic) ?? 0) - 1
      if (n > 0) this.#transportTopics.set(topic, n)
      else {
        this.#transportTopics.delete(topic)
        this.#host.endpoint()?.unsubscribe(topic)
      }
    }
  }

  /**
   * Forgets the numbering of the topics under `prefix` that no granted subscription covers
   * any more: events published until one does again never reach this node, and are not lost.
   */
  #forgetStreams(prefix: string): void {
    for (const [id, stream] of this.#streams) {
      if (topicMatches(prefix, stream.topic) && !this.#covered(stream.topic)) this.#streams.delete(id)
    }
  }

  #covered(topic: string): boolean {
    for (const subscription of this.#granted) if (topicMatches(subscription.prefix, topic)) return true
    return false
  }

  /** Hands an event from the hub to every granted subscription it is for, counting what was lost before it. */
  deliver(event: EventMessage): void {
    const host = this.#host
    if (event.group !== null && !host.groups.includes(event.group)) return
    let lost = 0
    let payload: unknown
    let decoded = false
    let refused = false
    for (const subscription of this.#granted) {
      if (!topicMatches(subscription.prefix, event.topic)) continue
      if (!decoded) {
        // Numbered only once a subscription takes it (see #forgetStreams).
        const stream = this.#streams.get(event.stream)
        if (stream === undefined) {
          if (this.#streams.size >= MAX_STREAMS)
            this.#streams.delete(this.#streams.keys().next().value as number)
          this.#streams.set(event.stream, { topic: event.topic, seq: event.seq })
        } else if (event.seq <= stream.seq) {
          return // a duplicate
        } else {
          lost = event.seq - stream.seq - 1
          stream.seq = event.seq
        }
        decoded = true
        const schema = this.#topicSchema(event.topic)
        try {
          payload =
            schema === undefined
              ? // A plain copy (the frame may be a Buffer, whose slice is a view): the subscriber may keep it.
                new Uint8Array(event.payload)
              : schema.decode(event.payload)
          host.metrics.events++
        } catch (error) {
          // Refused; the gap before it is still lost, to every subscription it was for.
          host.refused(error)
          refused = true
        }
        host.metrics.eventsLost += lost
      }
      subscription.lost += lost
      if (refused) continue
      const delivered: ConcordEvent =
        event.group === null
          ? { topic: event.topic, payload }
          : { topic: event.topic, payload, group: event.group }
      subscription._push(delivered)
    }
  }

  /** The hub routed publish `pubId`. */
  published(pubId: number): void {
    const pending = this.#publishes.get(pubId)
    this.#publishes.delete(pubId)
    pending?.resolve()
  }

  /** The hub refused publish `pubId` (S7.4, S8.2). */
  publishRefused(pubId: number, error: Error & { readonly code: string }): void {
    const pending = this.#publishes.get(pubId)
    if (pending === undefined) return
    this.#publishes.delete(pubId)
    count(this.#host.metrics.publishErrors, error.code)
    pending.reject(error)
  }

  /** The link dropped: an event sent on it may or may not have been routed; events are not resent (S7.3). */
  linkDown(): void {
    for (const [id, pending] of this.#publishes) {
      if (!pending.sent) continue
      this.#publishes.delete(id)
      this.#host.metrics.publishesInDoubt++
      pending.reject(
        new UnavailableError('the link to the hub was lost; the event may or may not have been delivered'),
      )
    }
  }

  /**
   * A hub welcomed a new link: the publishes queued meanwhile leave, and every subscription
   * is asked for, the granted ones again (S8.2).
   */
  welcome(): void {
    const host = this.#host
    for (const [id, pending] of this.#publishes) {
      // Queued while the frame limit was the transport's alone: the hub's may be smaller.
      const tooLarge = this.#publishTooLarge(pending.message)
      if (tooLarge !== undefined) {
        this.#publishes.delete(id)
        pending.reject(tooLarge)
        continue
      }
      pending.sent = true
      host.send(pending.message)
    }
    // Granted subscriptions are asked again: this hub (restarted, or its authorizer) may
    // refuse them now, and they must end with its refusal rather than go silent (S8.2).
    this.#linkUps++
    for (const [reqId, request] of this.#subscribeRequests)
      if (request.recheck) this.#subscribeRequests.delete(reqId)
    for (const subscription of this.#granted) this.#recheck(subscription)
    for (const request of this.#subscribeRequests.values()) {
      // As for publishes: a prefix accepted under the transport's limit may exceed the hub's.
      const tooLarge = this.#tooLarge('topic prefix', request.message.prefix, 0)
      if (tooLarge === undefined) host.send(request.message)
      else request.subscription._end(tooLarge)
    }
  }

  /** Publishes issued at or before `cutoff` reject with `UnavailableError` (S3.7). */
  expire(cutoff: number, writeTimeout: number): void {
    for (const [id, pending] of this.#publishes) {
      if (pending.issuedAt > cutoff) break
      this.#publishes.delete(id)
      this.#host.metrics.publishTimeouts++
      pending.reject(new UnavailableError(`no answer from the hub within ${writeTimeout} ms`))
    }
  }

  /** The node closes: pending publishes reject and subscriptions end with `error`. */
  close(error: Error): void {
    for (const pending of this.#publishes.values()) pending.reject(error)
    this.#publishes.clear()
    for (const subscription of [...this.#subscriptions]) subscription._end(error)
    this.#subscriptions.clear()
    this.#granted.clear()
    this.#subscribeRequests.clear()
  }
}
