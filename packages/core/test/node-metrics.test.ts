/**
 * `node.metrics`: each counter in a scenario that makes it move, on the in-memory transport,
 * and every counter still in a plain run. The causes of a resync a real hub cannot be made to
 * show (another epoch while the link stays up, a replay that does not continue) and the
 * frames a node refuses come from a hand-driven hub speaking the wire protocol.
 */
import { t } from '@concord/schema'
import { DecodeError } from '@concord/schema/contract'
import { pack } from 'msgpackr'
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import {
  type ConcordNode,
  ConflictError,
  constantBackoff,
  createHub,
  createNode,
  ForbiddenError,
  memoryPersistence,
  memoryTransport,
  type NodeMetrics,
  OverflowError,
  PersistenceError,
  type ResyncCause,
  UnavailableError,
  UnknownOperationError,
  ValidationError,
} from '../src/index.js'
import { newNodeMetrics } from '../src/node/node-metrics.js'
import { decodeFrame, encodeFrame } from '../src/protocol/codec.js'
import {
  type HubMessage,
  MessageType,
  MutationKind,
  type Mutations,
  type NodeMessage,
  type Open,
  PROTOCOL_VERSION,
} from '../src/protocol/messages.js'
import { Topics } from '../src/util/names.js'
import { flakyText } from './flaky-text.js'
import { restartableHub, useMemoryClusters } from './memory-cluster.js'
import { soon } from './soon.js'

const cluster = useMemoryClusters()
const Text = t.string()
/**
 * Heartbeats an hour apart, where a test needs none: nothing but what it does reaches the
 * nodes, and a stall of a busy machine is never taken for silence.
 */
const QUIET = { heartbeat: '1h' } as const
/** What the hubs and nodes made here without `cluster` need closed after each test. */
const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** What a node that counted nothing shows. */
const ZERO: NodeMetrics = newNodeMetrics()

/** The resync counters with `counts` set and every other cause at 0. */
const onlyResyncs = (counts: Partial<Record<ResyncCause, number>>) => ({ ...ZERO.resyncs, ...counts })

describe('node.metrics', () => {
  it('is public API: a NodeMetrics with every resync cause; refusedFrames stays a number', () => {
    expectTypeOf<ConcordNode['metrics']>().toEqualTypeOf<NodeMetrics>()
    expectTypeOf<NodeMetrics['resyncs']>().toEqualTypeOf<Record<ResyncCause, number>>()
    expectTypeOf<NodeMetrics['writeErrors']>().toEqualTypeOf<Record<string, number>>()
    expectTypeOf<ConcordNode['refusedFrames']>().toEqualTypeOf<number>()
  })

  it('count writes, links, the first snapshot and events in a plain run, and nothing else', async () => {
    const { node } = await cluster(QUIET)
    const writerNode = await node('writer')
    const readerNode = await node('reader')
    const writer = await writerNode.open('kv', { schema: Text })
    const reader = await readerNode.open('kv', { schema: Text })
    // Two subscriptions that both take every event: each event still counts once.
    const all = readerNode.subscribe('zeek')
    const conn = readerNode.subscribe('zeek/conn')
    await Promise.all([all.ready, conn.ready])
    let seq = 0
    for (let i = 0; i < 5; i++) seq = await writer.put(`k${i}`, `v${i}`)
    for (let i = 0; i < 3; i++) await writerNode.publish('zeek/conn/new', new Uint8Array([i]))
    await reader.reached(seq)
    for (const subscription of [all, conn]) {
      const received = []
      for (let i = 0; i < 3; i++) received.push((await subscription.next()).value)
      expect(received.map((event) => event.payload)).toEqual([0, 1, 2].map((i) => new Uint8Array([i])))
    }

    expect(writerNode.metrics).toEqual({ ...ZERO, writesSent: 5, snapshots: 1, linksUp: 1 })
    expect(readerNode.metrics).toEqual({ ...ZERO, snapshots: 1, linksUp: 1, events: 3 })
    expect(readerNode.refusedFrames).toBe(0)
  })

  describe('resyncs, by cause', () => {
    it('S6.3 gap: a lost broadcast seen from the next one; the clone resumes from the log', async () => {
      // No heartbeat: only the next broadcast can show the clone its gap.
      const { hub, transport, node } = await cluster(QUIET)
      const writer = await (await node('writer')).open('kv', { schema: Text })
      const readerNode = await node('reader')
      const reader = await readerNode.open('kv', { schema: Text })
      const lose = transport.faults.drop(1, { direction: 'toNode', kind: 'broadcast', node: 'reader' })
      await writer.put('a', 'missed')
      lose()
      const seq = await writer.put('b', 'shows the gap')
      await soon(() => {
        expect(reader.status).toBe('live')
        expect(reader.seq).toBe(seq)
      })
      expect(readerNode.metrics.resyncs).toEqual(onlyResyncs({ gap: 1 }))
      expect(readerNode.metrics).toMatchObject({ resumes: 1, snapshots: 1, linksLost: 0 })
      expect(hub.metrics.resumes).toBe(1)
      expect([...reader.entries()]).toEqual([...writer.entries()])
    })

    it('S6.3 behind: a lost last broadcast seen from a heartbeat', async () => {
      // Heartbeats, a few hundred ms apart (a stall of a busy machine is not silence); the
      // reader gives up on nothing by itself.
      const { transport, node } = await cluster({ heartbeat: 250 })
      const writer = await (await node('writer')).open('kv', { schema: Text })
      const readerNode = await node('reader', { staleAfter: '1m' })
      const reader = await readerNode.open('kv', { schema: Text })
      const lose = transport.faults.drop(1, { direction: 'toNode', kind: 'broadcast', node: 'reader' })
      const seq = await writer.put('a', 'missed')
      lose()
      // No write follows: the master's next heartbeat is what shows the clone behind.
      await soon(() => expect(reader.seq).toBe(seq))
      await soon(() => expect(reader.status).toBe('live'))
      expect(readerNode.metrics.resyncs).toEqual(onlyResyncs({ behind: 1 }))
      expect(readerNode.metrics).toMatchObject({ resumes: 1, snapshots: 1 })
    })

    it('S6.3 decode: a broadcast the clone cannot decode; it takes a snapshot', async () => {
      const { node } = await cluster(QUIET)
      const writer = await (await node('writer')).open('kv', { schema: Text })
      const readerNode = await node('reader')
      const reader = await readerNode.open('kv', { schema: flakyText() })
      const seq = await writer.put('p', 'poison')
      await soon(() => {
        expect(reader.seq).toBe(seq)
        expect(reader.status).toBe('live')
      })
      expect(reader.get('p')).toBe('poison')
      expect(readerNode.metrics.resyncs).toEqual(onlyResyncs({ decode: 1 }))
      expect(readerNode.metrics).toMatchObject({ snapshots: 2, resumes: 0 })
    })

    it('S6.3 stalled: a sync whose answers are lost starts over after staleAfter', async () => {
      const { node, transport } = await cluster({ heartbeat: 50 })
      const cloneNode = await node('clone')
      await soon(() => expect(cloneNode.status).toBe('connected'))
      // What the hub sends this node alone is lost; its broadcasts (heartbeats) keep the link up.
      const lose = transport.faults.drop(1, { direction: 'toNode', kind: 'unicast', node: 'clone' })
      const opening = cloneNode.open('kv', { schema: Text })
      await soon(() => expect(cloneNode.metrics.resyncs.stalled).toBeGreaterThanOrEqual(1))
      lose()
      const clone = await opening
      expect(clone.status).toBe('live')
      // How many times it started over depends on how long the test took to let it through.
      expect(cloneNode.metrics.resyncs).toEqual(onlyResyncs({ stalled: cloneNode.metrics.resyncs.stalled }))
      expect(cloneNode.metrics.snapshots).toBeGreaterThanOrEqual(1)
    })

    it('S6.4 epoch and protocol: another epoch while the link stays up; a replay that does not continue from the clone', async () => {
      const fake = await handDrivenHub()
      const node = await fake.node()
      const opening = node.open('kv', { schema: Text })
      const first = await fake.nextOpen()
      expect(first.resumeEpoch).toBeNull()
      fake.send(opened(first.openId, 'e1', 0, 0), {
        type: MessageType.SYNC_END,
        openId: first.openId,
        seq: 0,
      })
      const store = await opening
      fake.broadcastMutations('e1', 0, 1, [1, MutationKind.PUT, 'a', Text.encode('one')])
      await soon(() => expect(store.get('a')).toBe('one'))
      expect(node.metrics.resyncs).toEqual(ZERO.resyncs)

      // A broadcast of another epoch: the master restarted while the link stayed up.
      fake.broadcastMutations('e2', 0, 1, [1, MutationKind.PUT, 'a', Text.encode('two')])
      const resume = await fake.nextOpen()
      expect(resume).toMatchObject({ resumeEpoch: 'e1', resumeSeq: 1 })
      expect(node.metrics.resyncs).toEqual(onlyResyncs({ epoch: 1 }))

      // A log replay from seq 0, where the clone is at 1: it asks for a snapshot instead.
      fake.send(opened(resume.openId, 'e1', 1, 0))
      const retry = await fake.nextOpen()
      expect(retry.resumeEpoch).toBeNull()
      expect(node.metrics.resyncs).toEqual(onlyResyncs({ epoch: 1, protocol: 1 }))
      expect(node.metrics.resumes).toBe(0)

      fake.send(
        opened(retry.openId, 'e2', 0, 1),
        { type: MessageType.SNAPSHOT_CHUNK, openId: retry.openId, entries: ['a', Text.encode('two'), 1] },
        { type: MessageType.SYNC_END, openId: retry.openId, seq: 1 },
      )
      await soon(() => expect(store.get('a')).toBe('two'))
      expect(store.epoch).toBe('e2')
      expect(node.metrics).toMatchObject({ snapshots: 2, resumes: 0, linksUp: 1, linksLost: 0 })
    })
  })

  describe('writes', () => {
    it('S3.3 refused by the master, by error code, as the hub counts them', async () => {
      const { hub, node } = await cluster(QUIET)
      const writerNode = await node('writer')
      const kv = await writerNode.open('kv', { schema: Text })
      await kv.put('a', 'one')
      await expect(kv.update('a', 1n, { op: 'nope' })).rejects.toBeInstanceOf(UnknownOperationError)
      await expect(kv.compareAndSet('a', 7, 'two')).rejects.toBeInstanceOf(ConflictError)
      await expect(kv.compareAndSet('a', 5, 'three')).rejects.toBeInstanceOf(ConflictError)
      expect(writerNode.metrics.writeErrors).toEqual({ ERR_UNKNOWN_OPERATION: 1, ERR_CONFLICT: 2 })
      expect(writerNode.metrics.writeErrors).toEqual(hub.metrics.writeErrors)
      expect(writerNode.metrics).toMatchObject({ writesSent: 4, writesResent: 0, writeTimeouts: 0 })
    })

    it('S3.7 resent on a new link when the one they went out on was lost before the answer; the link counts as lost', async () => {
      const { hub, transport, node } = await cluster(QUIET)
      const writerNode = await node('writer', { backoff: constantBackoff(10) })
      const kv = await writerNode.open('kv', { schema: Text })
      // The node stops reading: the master commits the write, its answer waits in the queue.
      transport.faults.pause('writer')
      const write = kv.put('a', 'once')
      await soon(() => expect(hub.metrics.mutations).toBe(1))
      transport.faults.kill('writer')
      transport.faults.resume('writer')
      expect(await write).toBe(1)
      expect(hub.metrics.duplicateWrites).toBe(1)
      expect(writerNode.metrics).toMatchObject({
        writesSent: 1,
        writesResent: 1,
        writesInDoubt: 0,
        linksUp: 2,
        linksLost: 1,
      })
      // The clone came back on the new link by resuming from the log, not by a resync.
      expect(writerNode.metrics.resyncs).toEqual(ZERO.resyncs)
      expect(writerNode.metrics.resumes).toBe(1)
    })

    it('S3.7 timed out after writeTimeout, sent (no answer) or not (no link)', async () => {
      const { transport, node } = await cluster()
      const options = { writeTimeout: 200, staleAfter: '1m' } as const
      const unanswered = await node('unanswered', options)
      const kv = await unanswered.open('kv', { schema: Text })
      transport.faults.pause('unanswered')
      await expect(kv.put('a', 'no answer')).rejects.toBeInstanceOf(UnavailableError)
      expect(unanswered.metrics).toMatchObject({ writesSent: 1, writeTimeouts: 1 })
      transport.faults.resume('unanswered')

      const cutOff = await node('cut-off', options)
      const other = await cutOff.open('kv', { schema: Text })
      transport.faults.partition('cut-off')
      await soon(() => expect(cutOff.status).toBe('connecting'))
      await expect(other.put('b', 'no link')).rejects.toBeInstanceOf(UnavailableError)
      expect(cutOff.metrics).toMatchObject({ writesSent: 0, writeTimeouts: 1, linksUp: 1, linksLost: 1 })
    })

    it('S3.7 refused at once beyond maxPendingWrites, counted in writesOverLimit; the queued ones go through', async () => {
      const { transport, node } = await cluster(QUIET)
      const writerNode = await node('writer', { maxPendingWrites: 2, backoff: constantBackoff(10) })
      const kv = await writerNode.open('kv', { schema: Text })
      transport.faults.partition('writer')
      await soon(() => expect(writerNode.status).toBe('connecting'))
      const queued = [kv.put('a', 'one'), kv.put('b', 'two')]
      await expect(kv.put('c', 'over the bound')).rejects.toThrow(UnavailableError)
      expect(writerNode.metrics).toMatchObject({ writesOverLimit: 1, writesSent: 0, publishesOverLimit: 0 })
      transport.faults.heal()
      expect(await Promise.all(queued)).toEqual([1, 2])
      expect(kv.has('c')).toBe(false)
      expect(writerNode.metrics).toMatchObject({ writesOverLimit: 1, writesSent: 2, writeTimeouts: 0 })
    })

    it('S3.7 in doubt: sent but not answered when the hub restarted', async () => {
      const restartable = await restartableHub(closers, QUIET)
      const node = await restartable.node('writer')
      const kv = await node.open('kv', { schema: Text })
      restartable.transport.faults.pause('writer')
      const write = kv.put('a', 'maybe')
      await soon(() => expect(restartable.hub.metrics.mutations).toBe(1))
      await restartable.restart()
      restartable.transport.faults.resume('writer')
      await expect(write).rejects.toThrow(/may or may not have been applied/)
      expect(node.metrics).toMatchObject({ writesSent: 1, writesInDoubt: 1, writesResent: 0, writesLost: 0 })
      expect(node.metrics).toMatchObject({ linksUp: 2, linksLost: 1 })
    })

    it('S6.4 lost: acknowledged, then a restarted master does not hold it', async () => {
      const restartable = await restartableHub(closers, QUIET)
      const node = await restartable.node('writer')
      const kv = await node.open('kv', { schema: Text })
      await kv.put('a', 'kept')
      // The write's broadcast is lost, so the clone has not applied it when the hub restarts.
      const lose = restartable.transport.faults.drop(1, {
        direction: 'toNode',
        kind: 'broadcast',
        node: 'writer',
      })
      const write = kv.put('b', 'lost')
      await soon(() => expect(restartable.hub.metrics.mutations).toBe(2))
      // Acknowledged on the same ordered link before this publish's answer.
      await node.publish('probe', new Uint8Array([1]))
      // Restarted on empty storage: a new epoch from seq 0, which does not hold seq 2.
      await restartable.restart()
      lose()
      await expect(write).rejects.toBeInstanceOf(PersistenceError)
      expect(node.metrics).toMatchObject({ writesSent: 2, writesLost: 1, writesInDoubt: 0 })
    })
  })

  describe('events', () => {
    it('S7.6 lost events count once per node, however many subscriptions count them', async () => {
      const queue = 8
      // No heartbeat: nothing but the events goes to the paused subscriber.
      const { transport, node } = await cluster({ peerQueueLimit: queue, ...QUIET })
      const publisher = await node('publisher')
      const subscriber = await node('subscriber')
      const all = subscriber.subscribe('a')
      const some = subscriber.subscribe('a/b')
      await Promise.all([all.ready, some.ready])
      transport.faults.pause('subscriber')
      const published = 20
      for (let i = 0; i < published; i++) await publisher.publish('a/b/c', new Uint8Array([i]))
      transport.faults.resume('subscriber')
      // The next event shows the subscriber what its full queue at the hub skipped.
      await publisher.publish('a/b/c', new Uint8Array([published]))
      await soon(() => expect(subscriber.metrics.events).toBe(queue + 1))
      expect(all.lost).toBe(published - queue)
      expect(some.lost).toBe(published - queue)
      expect(subscriber.metrics.eventsLost).toBe(published - queue)
    })

    it("S7.6 events a slow reader's drop-oldest buffer dropped count in eventsDropped, summed over the subscriptions", async () => {
      const { node } = await cluster(QUIET)
      const publisher = await node('publisher')
      const subscriber = await node('subscriber')
      const four = subscriber.subscribe('t', { bufferSize: 4 })
      const eight = subscriber.subscribe('t', { bufferSize: 8, overflow: 'drop-oldest' })
      const roomy = subscriber.subscribe('t', { bufferSize: 100 })
      await Promise.all([four.ready, eight.ready, roomy.ready])
      const published = 10
      for (let i = 0; i < published; i++) await publisher.publish('t', new Uint8Array([i]))
      await soon(() => expect(subscriber.metrics.events).toBe(published))
      // Nobody read: each buffer kept the newest events it had room for.
      const newest = async (subscription: typeof four, n: number) => {
        const payloads: number[] = []
        for (let i = 0; i < n; i++)
          payloads.push(((await subscription.next()).value.payload as Uint8Array)[0]!)
        return payloads
      }
      expect(await newest(four, 4)).toEqual([6, 7, 8, 9])
      expect(await newest(eight, 8)).toEqual([2, 3, 4, 5, 6, 7, 8, 9])
      expect([four.dropped, eight.dropped, roomy.dropped]).toEqual([6, 2, 0])
      expect(subscriber.metrics).toMatchObject({ eventsDropped: 8, eventsLost: 0 })
    })

    it('S7.6 subscriptions the disconnect policy ended count in subscriptionsOverflowed; drop-oldest ones do not', async () => {
      const { node } = await cluster(QUIET)
      const publisher = await node('publisher')
      const subscriber = await node('subscriber')
      const strict = subscriber.subscribe('t', { bufferSize: 2, overflow: 'disconnect' })
      const lenient = subscriber.subscribe('t', { bufferSize: 2 })
      const reader = subscriber.subscribe('t', { bufferSize: 100 })
      await Promise.all([strict.ready, lenient.ready, reader.ready])
      for (let i = 0; i < 5; i++) await publisher.publish('t', new Uint8Array([i]))
      await soon(() => expect(subscriber.metrics.events).toBe(5))
      expect(await strict.closed).toBeInstanceOf(OverflowError)
      expect(subscriber.metrics).toMatchObject({ subscriptionsOverflowed: 1, eventsDropped: 3 })
      // Ending it otherwise counts nothing more.
      lenient.unsubscribe()
      reader.unsubscribe()
      expect(subscriber.metrics.subscriptionsOverflowed).toBe(1)
    })

    it('S7.6 events lost just before one that cannot be decoded still count as lost', async () => {
      const queue = 8
      const { transport, node } = await cluster({ peerQueueLimit: queue, ...QUIET })
      // No payload schema at the hub: it routes the bytes as they are.
      const publisher = await node('publisher')
      const subscriber = await node('subscriber', { topics: { t: { schema: Text } } })
      const subscription = subscriber.subscribe('t')
      await subscription.ready
      transport.faults.pause('subscriber')
      const published = 20
      for (let i = 0; i < published; i++) await publisher.publish('t', Text.encode(`e${i}`))
      transport.faults.resume('subscriber')
      // The first event after the gap cannot be decoded; the one after it can.
      await publisher.publish('t', Uint8Array.from([0xc1]))
      await publisher.publish('t', Text.encode('readable'))
      await soon(() => expect(subscriber.metrics.events).toBe(queue + 1))
      expect(subscriber.metrics.refused).toEqual({ [DecodeError.code]: 1 })
      expect(subscription.lost).toBe(published - queue)
      expect(subscriber.metrics.eventsLost).toBe(published - queue)
    })

    it('S9.1 an event payload its topic schema cannot decode is refused and counted by code; the next is delivered', async () => {
      const { node } = await cluster(QUIET)
      // No payload schema at the hub: it routes the bytes as they are.
      const publisher = await node('publisher')
      const subscriber = await node('subscriber', { topics: { t: { schema: Text } } })
      const subscription = subscriber.subscribe('t')
      await subscription.ready
      await publisher.publish('t', Uint8Array.from([0xc1]))
      await publisher.publish('t', Text.encode('readable'))
      expect((await subscription.next()).value).toEqual({ topic: 't', payload: 'readable' })
      expect(subscriber.metrics.refused).toEqual({ [DecodeError.code]: 1 })
      expect(subscriber.metrics).toMatchObject({ events: 1, eventsLost: 0 })
      expect(subscriber.refusedFrames).toBe(1)
    })
  })

  describe('publishes', () => {
    it('S3.7 S7.2 timed out after writeTimeout, sent (no answer) or not (no link), counted in publishTimeouts', async () => {
      const { transport, node } = await cluster()
      const options = { writeTimeout: 200, staleAfter: '1m' } as const
      const unanswered = await node('unanswered', options)
      await soon(() => expect(unanswered.status).toBe('connected'))
      transport.faults.pause('unanswered')
      await expect(unanswered.publish('t', new Uint8Array([1]))).rejects.toThrow(UnavailableError)
      expect(unanswered.metrics).toMatchObject({ publishTimeouts: 1, writeTimeouts: 0, publishErrors: {} })
      transport.faults.resume('unanswered')

      const cutOff = await node('cut-off', options)
      await soon(() => expect(cutOff.status).toBe('connected'))
      transport.faults.partition('cut-off')
      await soon(() => expect(cutOff.status).toBe('connecting'))
      await expect(cutOff.publish('t', new Uint8Array([2]))).rejects.toThrow(UnavailableError)
      expect(cutOff.metrics).toMatchObject({ publishTimeouts: 1, writeTimeouts: 0, linksLost: 1 })
    })

    it('S7.3 sent on a link that dropped before the answer: rejected at once, counted in publishesInDoubt', async () => {
      const { transport, hub, node } = await cluster(QUIET)
      const publisher = await node('publisher', { writeTimeout: '1h' })
      await soon(() => expect(publisher.status).toBe('connected'))
      // The hub routes the event; its answer never reaches the publisher, whose link then drops.
      const deaf = transport.faults.drop(1, { direction: 'toNode', node: 'publisher' })
      const sent = publisher.publish('t', new Uint8Array([1]))
      await soon(() => expect(hub.metrics.events).toBe(1))
      transport.faults.kill('publisher')
      deaf()
      await expect(sent).rejects.toThrow(/may or may not have been delivered/)
      expect(publisher.metrics).toMatchObject({ publishesInDoubt: 1, publishTimeouts: 0, linksLost: 1 })
      // One published while the link is down is not in doubt: it goes when the link is back.
      await publisher.publish('t', new Uint8Array([2]))
      expect(publisher.metrics).toMatchObject({ publishesInDoubt: 1, publishTimeouts: 0 })
    })

    it('S7.4 S8.2 refused by the hub, by error code, as the hub counts them in eventsRefused', async () => {
      const transport = memoryTransport()
      const hub = await createHub({
        transport,
        listen: 'memory://*',
        persistence: memoryPersistence(),
        heartbeat: '1h',
        topics: { typed: { schema: Text } },
        access: [{ identities: ['publisher'], allow: ['publish'], topics: ['typed', 'open'] }],
      })
      closers.push(() => hub.close())
      // No payload schemas on the node: it sends bytes the hub checks.
      const publisher = await createNode({ transport, hub: hub.address, identity: 'publisher' })
      closers.push(() => publisher.close())
      await expect(publisher.publish('secret', new Uint8Array([1]))).rejects.toThrow(ForbiddenError)
      await expect(publisher.publish('typed', Uint8Array.from([0xc1]))).rejects.toThrow(ValidationError)
      // An event is refused by the hub, which routes it; no master takes part.
      await expect(publisher.publish('typed', Uint8Array.from([0xc1]))).rejects.toThrow(/^refused by the hub/)
      await expect(publisher.publish('typed/more', Uint8Array.from([0xc1]))).rejects.toThrow(ValidationError)
      await publisher.publish('open', new Uint8Array([2]))
      expect(publisher.metrics.publishErrors).toEqual({ ERR_FORBIDDEN: 1, ERR_SCHEMA_INVALID: 3 })
      expect(hub.metrics).toMatchObject({ eventsRefused: 4, events: 1 })
      expect(publisher.metrics.refusedByHub).toEqual({})
    })

    it('S3.7 refused at once beyond maxPendingWrites, counted in publishesOverLimit; the queued ones go through', async () => {
      const { transport, node } = await cluster(QUIET)
      const publisherNode = await node('publisher', { maxPendingWrites: 2, backoff: constantBackoff(10) })
      await soon(() => expect(publisherNode.status).toBe('connected'))
      const subscriberNode = await node('subscriber')
      const subscription = subscriberNode.subscribe('t')
      await subscription.ready
      transport.faults.partition('publisher')
      await soon(() => expect(publisherNode.status).toBe('connecting'))
      const queued = [1, 2].map((i) => publisherNode.publish('t', new Uint8Array([i])))
      await expect(publisherNode.publish('t', new Uint8Array([3]))).rejects.toThrow(UnavailableError)
      expect(publisherNode.metrics).toMatchObject({ publishesOverLimit: 1, writesOverLimit: 0 })
      transport.faults.heal()
      await Promise.all(queued)
      const received = [(await subscription.next()).value, (await subscription.next()).value]
      expect(received.map((event) => event.payload)).toEqual([new Uint8Array([1]), new Uint8Array([2])])
      expect(publisherNode.metrics).toMatchObject({ publishesOverLimit: 1, publishTimeouts: 0 })
    })
  })

  it('S9.1 frames from the hub refused by code, the hub refusing frames of ours, and refusedFrames as their sum', async () => {
    const fake = await handDrivenHub()
    const node = await fake.node()
    const garbage = [
      Uint8Array.from([0xc1, 0xc1]), // not msgpack
      pack([PROTOCOL_VERSION + 1, [MessageType.PONG, 1]]), // another version
      encodeFrame([{ type: MessageType.PING, nonce: 1 }]), // a message for hubs
    ]
    for (const frame of garbage) fake.sendRaw(frame)
    // An answer to one node, broadcast.
    fake.broadcast(Topics.hub, { type: MessageType.PUBLISH_ACK, pubId: 1 })
    // The hub refusing something this node sent, that no request of it waits for.
    for (const code of ['ERR_PROTOCOL', 'ERR_TOO_LARGE'])
      fake.send({
        type: MessageType.ERROR,
        reqKind: MessageType.SNAPSHOT_CREDIT,
        reqId: 9,
        code,
        message: 'no',
        details: null,
      })
    await soon(() => expect(node.refusedFrames).toBe(6))
    expect(node.metrics.refused).toEqual({ ERR_PROTOCOL: 4 })
    expect(node.metrics.refusedByHub).toEqual({ ERR_PROTOCOL: 1, ERR_TOO_LARGE: 1 })
    expect(node.status).toBe('connected')
    expect(node.metrics).toMatchObject({ linksUp: 1, linksLost: 0 })
  })
})

function opened(openId: number, epoch: string, mode: 0 | 1, fromSeq: number): HubMessage {
  return { type: MessageType.OPENED, openId, epoch, mode, fromSeq, fingerprint: Text.fingerprint }
}

/**
 * A hub played by hand over the in-memory transport: it welcomes one node and otherwise
 * sends what the test tells it to, keeping what the node sends.
 */
async function handDrivenHub() {
  const transport = memoryTransport()
  const received: NodeMessage[] = []
  let peer: string | undefined
  const sendRaw = (frame: Uint8Array) => expect(endpoint.send(peer!, frame)).toBe(true)
  const send = (...messages: HubMessage[]) => sendRaw(encodeFrame(messages))
  const endpoint = await transport.listen('memory://hand-driven', {
    peerJoined: (info) => {
      peer = info.id
    },
    peerLeft: () => {},
    frame: (_info, frame) => {
      for (const message of decodeFrame(frame, 1 << 24) as NodeMessage[]) {
        if (message.type !== MessageType.HELLO) received.push(message)
        else {
          send({
            type: MessageType.WELCOME,
            version: PROTOCOL_VERSION,
            hubInstance: 'hand-driven',
            heartbeatMs: 3_600_000,
            maxFrameSize: 1 << 20,
          })
        }
      }
    },
    authorizeSubscription: () => true,
    refused: () => {},
  })
  closers.push(() => endpoint.close())
  let opens = 0
  return {
    send,
    sendRaw,
    broadcast: (topic: string, ...messages: HubMessage[]) => endpoint.broadcast(topic, encodeFrame(messages)),
    broadcastMutations(epoch: string, from: number, to: number, muts: Mutations['muts']): void {
      endpoint.broadcast(
        Topics.store('kv'),
        encodeFrame([{ type: MessageType.MUTATIONS, store: 'kv', epoch, from, to, muts }]),
      )
    },
    /** The node's next OPEN, once it arrived. */
    nextOpen(): Promise<Open> {
      const n = ++opens
      return soon(() => {
        const all = received.filter((message) => message.type === MessageType.OPEN)
        expect(all.length).toBeGreaterThanOrEqual(n)
        return all[n - 1]!
      })
    },
    async node(): Promise<ConcordNode> {
      const node = await createNode({ transport, hub: endpoint.address, identity: 'n' })
      closers.push(() => node.close())
      await soon(() => expect(node.status).toBe('connected'))
      return node
    },
  }
}
