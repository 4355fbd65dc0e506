import { getEventListeners } from 'node:events'
import {
  AbortedError,
  type AccessRule,
  ClosedError,
  type ConcordEvent,
  type ConcordNode,
  type EventSubscription,
  ForbiddenError,
  type Hub,
  OverflowError,
  PROTOCOL_VERSION,
  SchemaMismatchError,
  TooLargeError,
  ValidationError,
} from '@concord/core'
import { describe, expect, it } from 'vitest'
import type { SuiteOptions, TransportEnv } from './env.js'
import {
  expectTransportCapabilities,
  type Harness,
  probe,
  STALL_PROOF_HEARTBEAT,
  useHarness,
} from './harness.js'
import { bytesInclude, bytesOf, eventually, msgpack, record, SOON, settle, take, within } from './helpers.js'
import { Count, Numbered, Text } from './schemas.js'

/** Wire message type numbers used here (docs/PROTOCOL.md). */
const HELLO = 1
const PUBLISH = 6

type Payload = { from: string; n: bigint }
/** Every topic carries a {@link Numbered} payload unless a test says otherwise. */
const topics = { '': { schema: Numbered } }

const ev = (from: string, n: number): Payload => ({ from, n: BigInt(n) })
const topicsOf = (events: readonly ConcordEvent[]) => events.map((e) => e.topic)
const payloads = (events: readonly ConcordEvent<Payload>[]) =>
  events.map((e) => `${e.payload.from}${e.payload.n}`)

/**
 * The events suite (SPEC S7, and S8/S10 for events): publish/subscribe through a hub over
 * the environment's transport. Persistence is not involved, so a `TransportEnv` is enough.
 */
export function eventsSuite<E extends TransportEnv>(options: SuiteOptions<E>): void {
  describe(options.name, async () => {
    const probed = await probe(options)
    const h = useHarness(options)
    /** A hub and nodes that all know the {@link Numbered} payload schema. */
    const setup = async (count: number, hubOptions: Parameters<Harness<TransportEnv>['hub']>[0] = {}) => {
      const hub = await h().hub({ topics, ...hubOptions })
      const nodes: ConcordNode[] = []
      for (let i = 0; i < count; i++) nodes.push(await h().node(hub, { topics }))
      return { hub, nodes }
    }

    describe('events suite', () => {
      it('S7.2 S8.1 the transport declares well-formed capabilities', () => {
        expectTransportCapabilities(h().env.transport.capabilities)
        expect(h().env.transport.capabilities).toEqual(probed.transport)
      })

      it('S7.1 subscribe(prefix) matches whole segments, and the empty prefix matches everything', async () => {
        const { nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const ab = subscriber.subscribe<Payload>('a/b')
        const trailing = subscriber.subscribe<Payload>('a/b/')
        const all = subscriber.subscribe<Payload>('')
        await Promise.all([ab.ready, trailing.ready, all.ready])
        const sent = ['a/b', 'a/bc', 'a/b/c', 'a', 'ab/c', 'x/y', 'a/b/end']
        for (const [i, topic] of sent.entries()) await publisher.publish(topic, ev('p', i))
        expect(topicsOf(await take(all, sent.length))).toEqual(sent)
        expect(topicsOf(await take(ab, 3))).toEqual(['a/b', 'a/b/c', 'a/b/end'])
        expect(topicsOf(await take(trailing, 2))).toEqual(['a/b/c', 'a/b/end'])
      })

      it('S7.1 a topic or prefix with | or a lone surrogate is refused locally with TypeError; nothing is sent', async () => {
        // UTF-8 cannot carry a lone surrogate: the event would travel on another topic.
        const { hub, nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const emoji = 'a/\ud83d\ude00'
        const good = subscriber.subscribe<Payload>(emoji)
        await good.ready
        for (const topic of ['a|b', 'a/\ud800', '\udc00/x', `${'x'.repeat(70)}\ud800`]) {
          await expect(publisher.publish(topic, ev('p', 0))).rejects.toBeInstanceOf(TypeError)
          const refused = subscriber.subscribe(topic)
          expect(await within(refused.closed, SOON, 'the refused subscription')).toBeInstanceOf(TypeError)
        }
        expect(hub.metrics.events).toBe(0)
        // A well-formed pair is a topic like any other.
        await publisher.publish(emoji, ev('p', 1))
        expect(topicsOf(await take(good, 1))).toEqual([emoji])
      })

      it('S7.2 publish reaches every matching subscriber exactly once, and the hub routes each event once', async () => {
        // No heartbeat within the test: the hub counts its beats as broadcasts too.
        const { hub, nodes } = await setup(4, { heartbeat: '1h' })
        const [publisher, ...others] = nodes as [ConcordNode, ...ConcordNode[]]
        const subscriptions = [
          ...others.map((node) => node.subscribe<Payload>('news')),
          others[0]!.subscribe<Payload>(''),
          publisher.subscribe<Payload>('news/local'),
        ]
        await Promise.all(subscriptions.map((s) => s.ready))
        const { events, broadcasts } = hub.metrics
        await publisher.publish('news/local', ev('p', 1))
        await publisher.publish('news/local', ev('p', 2))
        for (const subscription of subscriptions) {
          expect(payloads(await take(subscription, 2))).toEqual(['p1', 'p2'])
        }
        expect(hub.metrics.events - events).toBe(2)
        expect(hub.metrics.broadcasts - broadcasts).toBe(2)
      })

      it('S7.3 events arrive in order per publisher per topic, without loss', async () => {
        const { nodes } = await setup(3)
        const [p1, p2, subscriber] = nodes as [ConcordNode, ConcordNode, ConcordNode]
        const subscription = subscriber.subscribe<Payload>('seq')
        await subscription.ready
        const count = 200
        await Promise.all([
          Promise.all(Array.from({ length: count }, (_, i) => p1.publish('seq/x', ev('a', i)))),
          Promise.all(Array.from({ length: count }, (_, i) => p2.publish('seq/x', ev('b', i)))),
          Promise.all(Array.from({ length: count }, (_, i) => p1.publish('seq/y', ev('c', i)))),
        ])
        const got = await take(subscription, 3 * count)
        for (const from of ['a', 'b', 'c']) {
          const ns = got.filter((e) => e.payload.from === from).map((e) => Number(e.payload.n))
          expect(ns).toEqual(Array.from({ length: count }, (_, i) => i))
        }
        expect(subscription.dropped).toBe(0)
      })

      it('S8.2 S7.4 a subscription granted while its node relinked to a restarted hub is asked again, and ends if that hub refuses it', async () => {
        const hub = await h().hub({ topics })
        // The node's transport subscriptions are held: the hub has granted the subscription,
        // the node is still subscribing on the transport when the hub restarts.
        const { node, gate } = await h().gatedNode(hub, { topics })
        gate.holdingSubscribes = true
        const subscription = node.subscribe<Payload>('t')
        await eventually(() => expect(gate.held.length).toBeGreaterThan(0))
        // The restarted hub has another payload schema for `t`: it would refuse the subscription.
        await h().restart(hub, { topics: { '': { schema: Numbered }, t: { schema: Text } } })
        await eventually(() => expect(node.status).toBe('connected'))
        gate.holdingSubscribes = false
        for (const release of gate.held.splice(0)) release()
        expect(await within(subscription.closed, 10_000, 'the subscription')).toBeInstanceOf(
          SchemaMismatchError,
        )
      })

      it('S7.3 events are not persisted: a subscriber gets what is published after it subscribed', async () => {
        const { nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        await publisher.publish('t', ev('before', 1))
        const subscription = subscriber.subscribe<Payload>('t')
        await subscription.ready
        await publisher.publish('t', ev('after', 2))
        expect(payloads(await take(subscription, 1))).toEqual(['after2'])
      })

      it('S7.2 a payload without a schema arrives as bytes of its own, not a view of a frame: a subscriber may keep it', async () => {
        const hub = await h().hub({})
        const publisher = await h().node(hub)
        const subscriber = await h().node(hub)
        const subscription = subscriber.subscribe<Uint8Array>('raw')
        await subscription.ready
        const sent = [Uint8Array.from([1, 2, 3]), new Uint8Array(300).fill(7)]
        for (const bytes of sent) await publisher.publish('raw/x', bytes)
        const got = (await take(subscription, 2)).map((e) => e.payload)
        expect(got).toEqual(sent)
        for (const payload of got) expect(payload.buffer.byteLength).toBe(payload.byteLength)
      })

      if (probed.has.faults) {
        it('S7.3 a subscriber that reconnects gets what is published after, not what it missed', async () => {
          const hub = await h().hub({ topics })
          const publisher = await h().node(hub, { topics })
          const subscriber = await h().node(hub, { topics, identity: 'sub' })
          const subscription = subscriber.subscribe<Payload>('t')
          await subscription.ready
          const statuses = record(subscriber.statusChanges())
          h().env.faults!.partition('sub')
          await eventually(() => expect(subscriber.status).toBe('connecting'))
          await publisher.publish('t', ev('missed', 1))
          h().env.faults!.heal('sub')
          await eventually(() => expect(subscriber.status).toBe('connected'))
          // Published until the subscription, asked for again on the new link, takes them.
          const seen = record(subscription)
          let n = 0
          await eventually(async () => {
            await publisher.publish('t', ev('after', ++n))
            expect(seen.items.length).toBeGreaterThan(0)
          })
          expect(seen.items.every((e) => e.payload.from === 'after')).toBe(true)
          expect(statuses.items.map((s) => s.status)).toContain('connecting')
        })
      }

      it('S9.1 an event over the size limit rejects locally with TooLargeError; publishes sent with it succeed and the link stays up', async () => {
        // A heartbeat long enough that the stall of building a frame-sized payload and topic on
        // a busy machine is not taken for silence: what must not make the link go is the refusal.
        const hub = await h().hub({ heartbeat: STALL_PROOF_HEARTBEAT })
        const publisher = await h().node(hub)
        const subscriber = await h().node(hub)
        const subscription = subscriber.subscribe<Uint8Array>('t')
        await subscription.ready
        await eventually(() => expect(publisher.status).toBe('connected'))
        const statuses = record(publisher.statusChanges())
        const { events } = hub.metrics
        const huge = bytesOf(h().env.transport.capabilities.maxFrameSize + 1)
        const results = await Promise.all([
          settle(publisher.publish('t/before', bytesOf(10))),
          settle(publisher.publish('t/big', huge)),
          settle(publisher.publish(`t/${'x'.repeat(huge.byteLength)}`, bytesOf(10))),
          settle(publisher.publish('t/after', bytesOf(10))),
        ])
        for (const i of [1, 2]) {
          const result = results[i]!
          expect(!result.ok && result.error instanceof TooLargeError).toBe(true)
        }
        expect(results[0]!.ok && results[3]!.ok).toBe(true)
        expect(topicsOf(await take(subscription, 2))).toEqual(['t/before', 't/after'])
        expect(hub.metrics.events - events).toBe(2)
        expect(statuses.items).toEqual([])
      })

      it('S9.1 a subscription prefix over the size limit ends the subscription with TooLargeError; nothing is sent, the link stays up', async () => {
        // As above: a frame-sized prefix may stall a busy machine longer than a short heartbeat.
        const { nodes } = await setup(2, { heartbeat: STALL_PROOF_HEARTBEAT })
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const good = subscriber.subscribe<Payload>('t')
        await good.ready
        await eventually(() => expect(subscriber.status).toBe('connected'))
        const statuses = record(subscriber.statusChanges())
        const prefix = 'x'.repeat(h().env.transport.capabilities.maxFrameSize + 1)
        const big = subscriber.subscribe<Payload>(prefix)
        await expect(within(big.ready, SOON, 'ready')).rejects.toBeInstanceOf(TooLargeError)
        expect(await within(big.closed, SOON, 'closed')).toBeInstanceOf(TooLargeError)
        await publisher.publish('t', ev('p', 1))
        expect(payloads(await take(good, 1))).toEqual(['p1'])
        expect(statuses.items).toEqual([])
      })

      it('S7.4 a payload that fails its topic schema rejects the publish locally with ValidationError', async () => {
        const { hub, nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const subscription = subscriber.subscribe<Payload>('t')
        await subscription.ready
        const { events, eventsRefused } = hub.metrics
        const bad = { from: 1, n: 'x' } as unknown as Payload
        const error = await publisher.publish('t', bad).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ValidationError)
        expect((error as ValidationError).code).toBe('ERR_SCHEMA_INVALID')
        expect((error as ValidationError).issues.length).toBeGreaterThan(0)
        expect(hub.metrics.events).toBe(events)
        expect(hub.metrics.eventsRefused).toBe(eventsRefused)
        await publisher.publish('t', ev('ok', 1))
        expect(payloads(await take(subscription, 1))).toEqual(['ok1'])
      })

      it('S7.4 the hub re-validates payloads: bytes that fail the schema are refused, counted and not delivered', async () => {
        const hub = await h().hub({ topics })
        const rogue = await h().node(hub)
        const publisher = await h().node(hub, { topics })
        const subscriber = await h().node(hub, { topics })
        const subscription = subscriber.subscribe<Payload>('t')
        await subscription.ready
        const refused = hub.metrics.eventsRefused
        const bytes = Uint8Array.from([0xff, 0xfe, 0xfd])
        expect(() => Numbered.decode(bytes)).toThrow()
        const error = await rogue.publish('t', bytes).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ValidationError)
        expect(hub.metrics.eventsRefused).toBe(refused + 1)
        await publisher.publish('t', ev('ok', 1))
        expect(payloads(await take(subscription, 1))).toEqual(['ok1'])
      })

      it('S7.4 the longest registered topic prefix decides the payload schema', async () => {
        const schemas = { zeek: { schema: Text }, 'zeek/conn': { schema: Count } }
        const hub = await h().hub({ topics: schemas })
        const publisher = await h().node(hub, { topics: schemas })
        const subscriber = await h().node(hub, { topics: schemas })
        const subscription = subscriber.subscribe('zeek')
        await subscription.ready
        await publisher.publish('zeek/dns', 'a text')
        await publisher.publish('zeek/conn/tcp', 42n)
        await expect(publisher.publish('zeek/conn', 'not a count')).rejects.toBeInstanceOf(ValidationError)
        await expect(publisher.publish('zeek/http', 7n)).rejects.toBeInstanceOf(ValidationError)
        expect((await take(subscription, 2)).map((e) => e.payload)).toEqual(['a text', 42n])
      })

      it('S7.4 a topic prefix has one payload schema per node: another one throws TypeError, the same one again changes nothing', async () => {
        const hub = await h().hub({})
        const node = await h().node(hub)
        node.topic('x', Text)
        expect(() => node.topic('x', Count)).toThrow(TypeError)
        node.topic('x', Text)
        node.topic('x/n', Count)
        await node.publish('x/a', 'a text')
        await node.publish('x/n/1', 7n)
        await expect(node.publish('x/b', 5n)).rejects.toBeInstanceOf(ValidationError)
      })

      it("S2.2 S7.4 a subscriber whose payload schema differs from the hub's is refused with SchemaMismatchError", async () => {
        const hub = await h().hub({ topics })
        const subscriber = await h().node(hub, { topics: { '': { schema: Text } } })
        const subscription = subscriber.subscribe('t')
        await expect(subscription.ready).rejects.toBeInstanceOf(SchemaMismatchError)
        expect(await within(subscription.closed, SOON, 'the refused subscription')).toBeInstanceOf(
          SchemaMismatchError,
        )
      })

      it("S2.2 S7.4 a publisher whose payload schema differs from the hub's is refused with SchemaMismatchError, naming both, and nothing is delivered", async () => {
        const hub = await h().hub({ topics })
        const subscriber = await h().node(hub, { topics })
        const subscription = subscriber.subscribe<Payload>('t')
        await subscription.ready
        const publisher = await h().node(hub, { topics: { '': { schema: Text } } })
        const error = await publisher.publish('t/x', 'a text').catch((e: unknown) => e)
        expect(error).toBeInstanceOf(SchemaMismatchError)
        expect((error as SchemaMismatchError).message).toMatch(
          /the hub's payload schema .* and the publisher's .* differ/,
        )
        expect(publisher.metrics.publishErrors).toEqual({ ERR_SCHEMA_MISMATCH: 1 })
        await (await h().node(hub, { topics })).publish('t/x', ev('after', 1))
        expect(payloads(await take(subscription, 1))).toEqual(['after1'])
      })

      it('S7.5 publishing to a group reaches only its members', async () => {
        const hub = await h().hub({ topics })
        const publisher = await h().node(hub, { topics })
        const workers = [
          await h().node(hub, { topics, groups: ['workers'] }),
          await h().node(hub, { topics, groups: ['workers', 'proxies'] }),
        ]
        const proxy = await h().node(hub, { topics, groups: ['proxies'] })
        const loner = await h().node(hub, { topics })
        const subs = [...workers, proxy, loner].map((node) => node.subscribe<Payload>('jobs'))
        await Promise.all(subs.map((s) => s.ready))
        await publisher.publish('jobs/1', ev('w', 1), { group: 'workers' })
        await publisher.publish('jobs/2', ev('all', 2))
        const [w1, w2, p, l] = subs as [
          (typeof subs)[number],
          (typeof subs)[number],
          (typeof subs)[number],
          (typeof subs)[number],
        ]
        for (const worker of [w1, w2]) {
          const got = await take(worker, 2)
          expect(payloads(got)).toEqual(['w1', 'all2'])
          expect(got[0]!.group).toBe('workers')
          expect(got[1]!.group).toBeUndefined()
        }
        expect(payloads(await take(p, 1))).toEqual(['all2'])
        expect(payloads(await take(l, 1))).toEqual(['all2'])
      })

      it('S7.5 a bad group name rejects the publish with TypeError, as a bad topic does, and sends nothing', async () => {
        const { hub, nodes } = await setup(1)
        const [publisher] = nodes as [ConcordNode]
        const { events, eventsRefused } = hub.metrics
        for (const group of ['bad group', '', 'a|b']) {
          let published: Promise<void> | undefined
          expect(() => {
            published = publisher.publish('t', ev('p', 0), { group })
          }).not.toThrow()
          await expect(published).rejects.toBeInstanceOf(TypeError)
        }
        await publisher.publish('t', ev('p', 1))
        expect(hub.metrics.events - events).toBe(1)
        expect(hub.metrics.eventsRefused).toBe(eventsRefused)
      })

      it('S7.5 a group event reaches only the members whose subscription matches its topic', async () => {
        const hub = await h().hub({ topics })
        const publisher = await h().node(hub, { topics })
        const a = (await h().node(hub, { topics, groups: ['workers'] })).subscribe<Payload>('jobs/a')
        const b = (await h().node(hub, { topics, groups: ['workers'] })).subscribe<Payload>('jobs/b')
        await Promise.all([a.ready, b.ready])
        await publisher.publish('jobs/a/1', ev('a', 1), { group: 'workers' })
        await publisher.publish('jobs/b/1', ev('b', 1), { group: 'workers' })
        await publisher.publish('jobs/a/end', ev('end', 2))
        await publisher.publish('jobs/b/end', ev('end', 3))
        expect(payloads(await take(a, 2))).toEqual(['a1', 'end2'])
        expect(payloads(await take(b, 2))).toEqual(['b1', 'end3'])
      })

      it('S7.3 S7.5 events of one topic to a group and to all, published in one turn, reach a member in order; a non-member counts none lost', async () => {
        const hub = await h().hub({ topics })
        const publisher = await h().node(hub, { topics })
        const member = (await h().node(hub, { topics, groups: ['workers'] })).subscribe<Payload>('jobs')
        const other = (await h().node(hub, { topics })).subscribe<Payload>('jobs')
        await Promise.all([member.ready, other.ready])
        await Promise.all([
          publisher.publish('jobs', ev('all', 1)),
          publisher.publish('jobs', ev('w', 2), { group: 'workers' }),
          publisher.publish('jobs', ev('all', 3)),
          publisher.publish('jobs', ev('w', 4), { group: 'workers' }),
          publisher.publish('jobs', ev('w', 5), { group: 'workers' }),
          publisher.publish('jobs', ev('all', 6)),
        ])
        expect(payloads(await take(member, 6))).toEqual(['all1', 'w2', 'all3', 'w4', 'w5', 'all6'])
        expect(payloads(await take(other, 3))).toEqual(['all1', 'all3', 'all6'])
        expect([member.lost, other.lost]).toEqual([0, 0])
      })

      it('S9.1 S7.3 an event too large to deliver is refused with TooLargeError, by the node and by the hub; none is acknowledged that no subscriber can get', async () => {
        // A long heartbeat: the raw link below never says PING.
        const hub = await h().hub({ heartbeat: 60_000 })
        const publisher = await h().node(hub)
        const subscription = (await h().node(hub)).subscribe<Uint8Array>('t')
        await subscription.ready
        const max = h().env.transport.capabilities.maxFrameSize
        // Fits in a frame as a publisher sends it, not as the hub delivers it (topic, numbering):
        // our node refuses it itself, and the hub refuses it from a client that does not.
        const error = await publisher.publish('t', new Uint8Array(max - 40)).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(TooLargeError)
        const raw = await h().rawLink(hub.address)
        raw.endpoint.send(msgpack([PROTOCOL_VERSION, [HELLO, PROTOCOL_VERSION, 'raw-node', [], 0]]))
        await eventually(() => expect(raw.frames.length).toBeGreaterThan(0))
        const size = max - 60
        const head = [0x92, PROTOCOL_VERSION, 0x95, PUBLISH, 1, 0xa1, 0x74, 0xc0, 0xc6]
        const frame = new Uint8Array(head.length + 4 + size)
        frame.set(head)
        new DataView(frame.buffer).setUint32(head.length, size)
        expect(raw.endpoint.send(frame)).toBe(true)
        await eventually(() => expect(raw.frames.some((f) => bytesInclude(f, 'ERR_TOO_LARGE'))).toBe(true))
        expect(hub.metrics.eventsRefused).toBe(1)
        await publisher.publish('t', new Uint8Array([7]))
        const [event] = await take(subscription, 1)
        expect(event!.payload).toEqual(new Uint8Array([7]))
        expect(subscription.lost).toBe(0)
      })

      it('S7.6 a slow subscriber with drop-oldest keeps the newest events and counts the dropped ones', async () => {
        const { nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const slow = subscriber.subscribe<Payload>('t', { bufferSize: 3, overflow: 'drop-oldest' })
        const healthySubscription = subscriber.subscribe<Payload>('t')
        const healthy = record(healthySubscription)
        await Promise.all([slow.ready, healthySubscription.ready])
        for (let i = 0; i < 10; i++) await publisher.publish('t', ev('e', i))
        await eventually(() => expect(healthy.items).toHaveLength(10))
        expect(slow.dropped).toBe(7)
        expect(payloads(await take(slow, 3))).toEqual(['e7', 'e8', 'e9'])
        await publisher.publish('t', ev('e', 10))
        expect(payloads(await take(slow, 1))).toEqual(['e10'])
      })

      it('S7.6 a slow subscriber with disconnect ends with OverflowError, others unaffected', async () => {
        const { nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const slow = subscriber.subscribe<Payload>('t', { bufferSize: 3, overflow: 'disconnect' })
        const healthySubscription = subscriber.subscribe<Payload>('t')
        const healthy = record(healthySubscription)
        await Promise.all([slow.ready, healthySubscription.ready])
        for (let i = 0; i < 10; i++) await publisher.publish('t', ev('e', i))
        await eventually(() => expect(healthy.items).toHaveLength(10))
        expect(await within(slow.closed, SOON, 'the overflowed subscription')).toBeInstanceOf(OverflowError)
        const read = record(slow)
        expect(await within(read.ended, SOON, 'reading the overflowed subscription')).toBeInstanceOf(
          OverflowError,
        )
        expect(payloads(read.items)).toEqual(['e0', 'e1', 'e2'])
        await publisher.publish('t', ev('e', 10))
        await eventually(() => expect(healthy.items).toHaveLength(11))
      })

      it('S7.6 a subscription counts as lost only events published while its node was subscribed', async () => {
        const { nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const first = subscriber.subscribe<Payload>('x')
        await first.ready
        for (let i = 0; i < 3; i++) await publisher.publish('x', ev('a', i))
        expect(payloads(await take(first, 3))).toEqual(['a0', 'a1', 'a2'])
        first.unsubscribe()
        // Nobody on the subscriber's node listens: these are not lost to anyone there.
        for (let i = 0; i < 5; i++) await publisher.publish('x', ev('b', i))
        const second = subscriber.subscribe<Payload>('x')
        await second.ready
        await publisher.publish('x', ev('c', 0))
        expect(payloads(await take(second, 1))).toEqual(['c0'])
        expect(second.lost).toBe(0)
        expect(second.dropped).toBe(0)
      })

      if (probed.has.faults) {
        it('S6.5 S7.6 a subscriber that stops reading never slows publishers or other subscribers, and counts what it lost', async () => {
          const hub = await h().hub({ topics })
          const publisher = await h().node(hub, { topics })
          const fastNode = await h().node(hub, { topics })
          const fastSubscription = fastNode.subscribe<Payload>('t')
          const fast = record(fastSubscription)
          const slowNode = await h().node(hub, { topics, identity: 'slow', staleAfter: 60_000 })
          const slow = slowNode.subscribe<Payload>('t')
          // Both subscribed before the first publish: events are not kept for later (S7.3).
          await Promise.all([fastSubscription.ready, slow.ready])
          await publisher.publish('t', ev('start', 0))
          await eventually(() => expect(fast.items).toHaveLength(1))
          expect(payloads(await take(slow, 1))).toEqual(['start0'])
          h().env.faults!.pause('slow')
          const { peerQueueOverflows } = hub.metrics
          // Each publish completes while the subscriber stays paused (one it held back would
          // hang here), until the paused subscriber's queue at the hub overflows and the hub
          // drops it (S6.5). Its queue is bounded: that takes about as many events as it holds.
          let n = 0
          while (hub.metrics.peerQueueOverflows === peerQueueOverflows && n < 50_000) {
            await publisher.publish('t', ev('e', ++n))
          }
          expect(hub.metrics.peerQueueOverflows).toBeGreaterThan(peerQueueOverflows)
          // The other subscriber got every event, in order, and nobody else lost the link.
          await eventually(() => expect(fast.items).toHaveLength(n + 1))
          expect(payloads(fast.items)).toEqual([
            'start0',
            ...Array.from({ length: n }, (_, i) => `e${i + 1}`),
          ])
          expect(fastSubscription.dropped).toBe(0)
          expect(fastNode.metrics.linksLost).toBe(0)
          expect(publisher.metrics.linksLost).toBe(0)
          h().env.faults!.resume('slow')
          let m = 0
          await eventually(async () => {
            await publisher.publish('t', ev('after', ++m))
            expect(slow.dropped).toBeGreaterThan(0)
          }, 10_000)
          const seen = record(slow)
          await eventually(() => expect(seen.items.some((e) => e.payload.from === 'after')).toBe(true))
        }, 60_000)
      }

      if (probed.has.transportFor) {
        const access: AccessRule[] = [
          { identities: ['admin'], allow: ['publish', 'subscribe'], topics: [''] },
          { identities: ['alice'], allow: ['subscribe'], topics: ['public', 'news'] },
          { identities: ['bob'], allow: ['publish'], topics: ['public'] },
        ]
        const accessHub = async (): Promise<Hub> => h().hub({ topics, access })

        it('S8.1 the hub authorizes the identity the transport authenticated, for publish and subscribe', async () => {
          const seen: string[] = []
          const hub = await h().hub({
            topics,
            authorizer: {
              authorize(identity, action, resource) {
                seen.push(`${identity} ${action} ${resource.topic ?? resource.store}`)
                return true
              },
            },
          })
          const alice = await h().node(hub, { topics, identity: 'alice' })
          const subscription = alice.subscribe<Payload>('news')
          await subscription.ready
          await alice.publish('news/1', ev('a', 1))
          expect(payloads(await take(subscription, 1))).toEqual(['a1'])
          expect(seen).toContain('alice subscribe news')
          expect(seen).toContain('alice publish news/1')
          expect(seen.every((line) => line.startsWith('alice '))).toBe(true)
        })

        it('S8.2 a link is granted raw transport subscriptions only on segment boundaries: a subscriber of public never receives publicity', async () => {
          // Transports deliver every topic a granted subscription is a raw prefix of. A long
          // heartbeat: the raw link never says HELLO to the hub.
          const hub = await h().hub({ topics, access, heartbeat: 60_000 })
          const admin = await h().node(hub, { topics, identity: 'admin' })
          const alice = { topics: [] as string[] }
          const aliceLink = await h().connect(
            hub.address,
            { linkUp() {}, linkDown() {}, frame() {}, broadcast: (topic) => alice.topics.push(topic) },
            'alice',
          )
          for (const raw of [
            'e|pub',
            'e|public',
            'e|',
            'e|publicity|',
            'e|public/x|y|',
            'g|w|public',
            'g|w|',
          ]) {
            expect(await aliceLink.subscribe(raw).catch((e: unknown) => e), raw).toBeInstanceOf(
              ForbiddenError,
            )
          }
          for (const raw of ['e|public|', 'e|public/', 'g|w|public|', 'g|w|public/x/'])
            await aliceLink.subscribe(raw)
          await admin.publish('publicity', ev('secret', 1))
          await admin.publish('publicity', ev('secret', 2), { group: 'w' })
          await admin.publish('public/x', ev('open', 3))
          await admin.publish('public', ev('open', 4), { group: 'w' })
          await admin.publish('public/x/y', ev('open', 5), { group: 'w' })
          await eventually(() =>
            expect(alice.topics).toEqual(['e|public/x|', 'g|w|public|', 'g|w|public/x/y|']),
          )
        })

        it('S8.2 a granted subscription that a restarted hub no longer allows ends with ForbiddenError; one still allowed goes on', async () => {
          const hub = await accessHub()
          const alice = await h().node(hub, { topics, identity: 'alice' })
          const revoked = alice.subscribe<Payload>('public')
          const kept = alice.subscribe<Payload>('news')
          await Promise.all([revoked.ready, kept.ready])
          const reading = record(revoked)
          const rules: AccessRule[] = [
            { identities: ['admin'], allow: ['publish', 'subscribe'], topics: [''] },
            { identities: ['alice'], allow: ['subscribe'], topics: ['news'] },
          ]
          const restarted = await h().restart(hub, { topics, access: rules })
          expect(await within(revoked.closed, 10_000, 'the revoked subscription')).toBeInstanceOf(
            ForbiddenError,
          )
          expect(await within(reading.ended, SOON, 'its reader')).toBeInstanceOf(ForbiddenError)
          const admin = await h().node(restarted, { topics, identity: 'admin' })
          await eventually(async () => {
            await admin.publish('news/x', ev('n', 1))
            expect(payloads(await take(kept, 1))).toEqual(['n1'])
          })
          // Published before a kept event that then arrives: it would have arrived first.
          await admin.publish('public/x', ev('p', 2))
          await admin.publish('news/y', ev('n', 3))
          expect(payloads(await take(kept, 1))).toEqual(['n3'])
          expect(reading.items).toEqual([])
        })

        it('S8.2 a refused publish rejects with ForbiddenError and reaches nobody', async () => {
          const hub = await accessHub()
          const admin = await h().node(hub, { topics, identity: 'admin' })
          const alice = await h().node(hub, { topics, identity: 'alice' })
          const bob = await h().node(hub, { topics, identity: 'bob' })
          const subscription = admin.subscribe<Payload>('')
          await subscription.ready
          for (const [node, topic] of [
            [alice, 'public/x'],
            [bob, 'private/x'],
          ] as const) {
            const error = await node.publish(topic, ev('no', 0)).catch((e: unknown) => e)
            expect(error).toBeInstanceOf(ForbiddenError)
            expect((error as ForbiddenError).code).toBe('ERR_FORBIDDEN')
          }
          await bob.publish('public/x', ev('bob', 1))
          expect(payloads(await take(subscription, 1))).toEqual(['bob1'])
        })

        it('S8.2 a refused subscription ends with ForbiddenError and never receives data', async () => {
          const hub = await accessHub()
          const admin = await h().node(hub, { topics, identity: 'admin' })
          const alice = await h().node(hub, { topics, identity: 'alice' })
          const refused = [alice.subscribe<Payload>('private'), alice.subscribe<Payload>('')]
          const allowed = alice.subscribe<Payload>('public')
          for (const subscription of refused) {
            await expect(subscription.ready).rejects.toBeInstanceOf(ForbiddenError)
            expect(await within(subscription.closed, SOON, 'a refused subscription')).toBeInstanceOf(
              ForbiddenError,
            )
          }
          await allowed.ready
          await admin.publish('private/x', ev('secret', 1))
          await admin.publish('public/x', ev('open', 2))
          expect(payloads(await take(allowed, 1))).toEqual(['open2'])
          for (const subscription of refused) {
            const read = record(subscription)
            expect(await within(read.ended, SOON, 'a refused subscription')).toBeInstanceOf(ForbiddenError)
            expect(read.items).toEqual([])
          }
        })
      }

      it('S8.2 a refused subscription yields nothing, not even events its node already receives for another', async () => {
        const hub = await h().hub({
          topics,
          authorizer: {
            authorize: (_identity, action, resource) =>
              !(action === 'subscribe' && resource.topic === 'a/secret'),
          },
        })
        const node = await h().node(hub, { topics })
        const allowed = node.subscribe<Payload>('a')
        await allowed.ready
        // The node receives 'a/secret/x' for `allowed`; the same frame asks for the refused one,
        // so on most transports the event reaches the node before the refusal does.
        const refused = record(node.subscribe<Payload>('a/secret'))
        await node.publish('a/secret/x', ev('secret', 1))
        expect(payloads(await take(allowed, 1))).toEqual(['secret1'])
        expect(await within(refused.ended, SOON, 'the refused subscription')).toBeInstanceOf(ForbiddenError)
        expect(refused.items).toEqual([])
      })

      it('S8.2 a refused subscription leaves the granted ones of its node, on the same prefix too, receiving', async () => {
        let refuse = false
        const hub = await h().hub({
          topics,
          authorizer: { authorize: (_identity, action) => !(refuse && action === 'subscribe') },
        })
        const [publisher, subscriber] = [await h().node(hub, { topics }), await h().node(hub, { topics })]
        const granted = subscriber.subscribe<Payload>('a')
        await granted.ready
        refuse = true
        const refused = subscriber.subscribe<Payload>('a')
        expect(await within(refused.closed, SOON, 'the refused subscription')).toBeInstanceOf(ForbiddenError)
        await publisher.publish('a/x', ev('p', 1))
        expect(payloads(await take(granted, 1))).toEqual(['p1'])
      })

      it('S10.1 closing a node ends its subscriptions and rejects pending publishes with ClosedError', async () => {
        const hub = await h().hub({ topics })
        const node = await h().node(hub, { topics })
        const subscription = node.subscribe<Payload>('t')
        await subscription.ready
        const reading = record(subscription)
        await h().stopHub(hub)
        await eventually(() => expect(node.status).toBe('connecting'))
        const pending = settle(within(node.publish('t', ev('late', 1)), SOON, 'a pending publish'))
        await node.close()
        const outcome = await pending
        expect(outcome.ok).toBe(false)
        expect((outcome as { error: unknown }).error).toBeInstanceOf(ClosedError)
        expect(await within(reading.ended, SOON, 'the subscription')).toBeInstanceOf(ClosedError)
        expect(await subscription.closed).toBeInstanceOf(ClosedError)
        await expect(node.publish('t', ev('after', 2))).rejects.toBeInstanceOf(ClosedError)
        expect(await node.subscribe('t').closed).toBeInstanceOf(ClosedError)
      })

      it('S10.1 publish and subscribe honour an AbortSignal', async () => {
        const { nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const controller = new AbortController()
        controller.abort()
        await expect(
          publisher.publish('t', ev('x', 1), { signal: controller.signal }),
        ).rejects.toBeInstanceOf(AbortedError)
        const live = new AbortController()
        const subscription = subscriber.subscribe<Payload>('t', { signal: live.signal })
        await subscription.ready
        live.abort()
        expect(await within(subscription.closed, SOON, 'the aborted subscription')).toBeInstanceOf(
          AbortedError,
        )
      })

      it('S10.1 a publish aborted before it left the node is not delivered', async () => {
        const { nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const subscription = subscriber.subscribe<Payload>('t')
        await subscription.ready
        const controller = new AbortController()
        const aborted = publisher.publish('t', ev('aborted', 1), { signal: controller.signal })
        controller.abort()
        await expect(aborted).rejects.toBeInstanceOf(AbortedError)
        // Published after it on the same link and topic: had the first gone, it would come first (S7.3).
        await publisher.publish('t', ev('kept', 2))
        const first = await within(subscription.next(), 5_000, 'the event published after the abort')
        expect(first.done).toBe(false)
        expect(payloads([first.value as ConcordEvent<Payload>])).toEqual(['kept2'])
      })

      it('S10.1 a subscription with an already-aborted signal ends at once: ready, next() and closed give AbortedError', async () => {
        const { nodes } = await setup(1)
        const [node] = nodes as [ConcordNode]
        const reason = new Error('the caller gave up')
        const subscription = node.subscribe<Payload>('t', { signal: AbortSignal.abort(reason) })
        await expect(within(subscription.ready, SOON, 'ready')).rejects.toBeInstanceOf(AbortedError)
        await expect(within(subscription.next(), SOON, 'next()')).rejects.toBeInstanceOf(AbortedError)
        const closed = await within(subscription.closed, SOON, 'closed')
        expect(closed).toBeInstanceOf(AbortedError)
        expect((closed as AbortedError).cause).toBe(reason)
      })

      it('S10.1 a subscription stopped before the hub granted it rejects ready: ClosedError when left, AbortedError when aborted', async () => {
        const { nodes } = await setup(1)
        const [node] = nodes as [ConcordNode]
        const unsubscribed = node.subscribe<Payload>('a')
        unsubscribed.unsubscribe()
        const left = node.subscribe<Payload>('b')
        await left.return() // what leaving a `for await` early does
        let disposed: EventSubscription<Payload> | undefined
        {
          await using subscription = node.subscribe<Payload>('c')
          disposed = subscription
        }
        const controller = new AbortController()
        const aborted = node.subscribe<Payload>('d', { signal: controller.signal })
        controller.abort()
        // One whose `ready` nobody looks at: its rejection must not be reported as unhandled.
        node.subscribe<Payload>('e').unsubscribe()
        for (const subscription of [unsubscribed, left, disposed!]) {
          await expect(within(subscription.ready, SOON, 'ready')).rejects.toBeInstanceOf(ClosedError)
          expect(await within(subscription.closed, SOON, 'closed')).toBeUndefined()
        }
        await expect(within(aborted.ready, SOON, 'ready')).rejects.toBeInstanceOf(AbortedError)
        expect(await within(aborted.closed, SOON, 'closed')).toBeInstanceOf(AbortedError)
      })

      it('S10.1 a subscription stops listening to its signal when it ends, however it ends', async () => {
        const { nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        const { signal } = new AbortController()
        const listeners = () => getEventListeners(signal, 'abort').length
        for (let i = 0; i < 20; i++) {
          const subscription = subscriber.subscribe<Payload>(`t/${i}`, { signal })
          if (i % 2 === 0) await subscription.ready
          subscription.unsubscribe()
        }
        await publisher.publish('t/0', ev('p', 0), { signal })
        expect(listeners()).toBe(0)
        const live = subscriber.subscribe<Payload>('t', { signal })
        await live.ready
        expect(listeners()).toBe(1)
        await subscriber.close()
        expect(await within(live.closed, SOON, 'the subscription')).toBeInstanceOf(ClosedError)
        expect(listeners()).toBe(0)
      })

      it('S10.1 a subscription supports await using, and unsubscribing ends it cleanly', async () => {
        const { nodes } = await setup(2)
        const [publisher, subscriber] = nodes as [ConcordNode, ConcordNode]
        let closed: Promise<Error | undefined> | undefined
        {
          await using subscription = subscriber.subscribe<Payload>('t')
          await subscription.ready
          closed = subscription.closed
          await publisher.publish('t', ev('x', 1))
          expect(payloads(await take(subscription, 1))).toEqual(['x1'])
        }
        expect(await within(closed, SOON, 'the disposed subscription')).toBeUndefined()
        const other = subscriber.subscribe<Payload>('t')
        await other.ready
        other.unsubscribe()
        other.unsubscribe()
        expect(await other.next()).toEqual({ value: undefined, done: true })
      })
    })
  })
}
