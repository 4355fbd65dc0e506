/**
 * End to end with core: a hub and two nodes meeting through a real Redis. Stores, events,
 * a Redis restart and a slow subscriber Redis drops: clones resync (S6.3) by themselves.
 */
import {
  type ConcordNode,
  constantBackoff,
  createHub,
  createNode,
  type Hub,
  memoryPersistence,
  type Store,
} from '@concord/core'
import { t } from '@concord/schema'
import { afterEach, describe, expect, it } from 'vitest'
import { type RedisTransport, type RedisTransportInit, redisModule, redisTransport } from '../src/index.js'
import { later, until } from './probes.js'
import { useRedisServer } from './redis-server.js'

const redis = useRedisServer()
const fast = (init: RedisTransportInit = {}) =>
  redisTransport({ backoff: constantBackoff(20), handshakeTimeout: 2000, ...init })
const topics = { '': { schema: t.string() } }

const DEFAULT_PUBSUB_LIMIT = 'pubsub 33554432 8388608 60'
afterEach(async () => {
  await redis.admin.config('SET', 'client-output-buffer-limit', DEFAULT_PUBSUB_LIMIT)
})

async function cluster(options: { heartbeat?: number } = {}) {
  const hub: Hub = await createHub({
    transport: fast(),
    listen: redis.address(),
    persistence: memoryPersistence(),
    stores: { kv: { schema: t.string() } },
    topics,
    ...(options.heartbeat === undefined ? {} : { heartbeat: options.heartbeat }),
  })
  later(() => hub.close())
  const transports: RedisTransport[] = []
  const nodes: ConcordNode[] = []
  const clones: Store<string>[] = []
  for (const identity of ['a', 'b']) {
    const transport = fast()
    const node = await createNode({
      transport,
      hub: hub.address,
      identity,
      topics,
      backoff: constantBackoff(20),
    })
    later(() => node.close())
    transports.push(transport)
    nodes.push(node)
    clones.push(await node.open('kv', { schema: t.string() }))
  }
  return { hub, transports, nodes, clones }
}

const snapshot = (store: Store<string>) => Object.fromEntries(store.entries())

describe('with core', () => {
  it('stores: writes from either node reach both clones, in one order', async () => {
    const { clones, hub } = await cluster()
    const [a, b] = clones as [Store<string>, Store<string>]
    const seq = await a.put('k', 'from a')
    expect(a.get('k')).toBe('from a')
    await until(() => expect(b.get('k')).toBe('from a'))
    await b.put('k2', 'from b')
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.put(`n${i}`, `${i}`)))
    await until(() => expect(snapshot(b)).toEqual(snapshot(a)))
    expect(a.size).toBe(52)
    expect(b.seq).toBe(a.seq)
    expect(a.seq).toBeGreaterThan(seq)
    expect(hub.master('kv')?.committedSeq).toBe(a.seq)
  })

  it('events: whole-segment prefixes; glob characters are plain text', async () => {
    const { nodes } = await cluster()
    const [a, b] = nodes as [ConcordNode, ConcordNode]
    const ab = b.subscribe<string>('a/b')
    const star = b.subscribe<string>('x*')
    const all = b.subscribe<string>('')
    await Promise.all([ab.ready, star.ready, all.ready])
    for (const topic of ['a/bc', 'a/b', 'a/b/c', 'xy', 'x*', 'x*/1', 'end']) await a.publish(topic, topic)
    const take = async (sub: AsyncIterator<{ topic: string }>, until: string) => {
      const seen: string[] = []
      for (;;) {
        const { value } = await sub.next()
        seen.push(value.topic)
        if (value.topic === until) return seen
      }
    }
    expect(await take(all, 'end')).toEqual(['a/bc', 'a/b', 'a/b/c', 'xy', 'x*', 'x*/1', 'end'])
    expect(await take(ab, 'a/b/c')).toEqual(['a/b', 'a/b/c'])
    expect(await take(star, 'x*/1')).toEqual(['x*', 'x*/1'])
    expect(ab.dropped + star.dropped + all.dropped).toBe(0)
  })

  it('redisModule binds the transport for createHub/createNode', async () => {
    const hub = await createHub({
      modules: [redisModule({ backoff: constantBackoff(20) })],
      listen: redis.address(),
      stores: { kv: { schema: t.string() } },
    })
    later(() => hub.close())
    const node = await createNode({
      modules: [redisModule()],
      hub: hub.address,
      backoff: constantBackoff(20),
    })
    later(() => node.close())
    const kv = await node.open('kv', { schema: t.string() })
    await kv.put('via', 'module')
    expect(kv.get('via')).toBe('module')
  })

  it('a Redis restart: clones resume from their seq and converge; writes made meanwhile go through', async () => {
    const { clones, hub } = await cluster()
    const [a, b] = clones as [Store<string>, Store<string>]
    await Promise.all(Array.from({ length: 20 }, (_, i) => a.put(`k${i}`, 'v1')))
    await until(() => expect(b.seq).toBe(a.seq))
    const { resumes, snapshots } = hub.metrics
    const statuses: string[] = []
    void (async () => {
      for await (const change of b.statusChanges()) statuses.push(change.status)
    })()
    await redis.restart()
    // Issued while the links are down or coming back: queued, then sent in order (S3.7).
    const during = a.put('during', 'restart')
    await until(() => expect(statuses).toContain('live'))
    expect(statuses[0]).not.toBe('live')
    await during
    await b.put('after', 'restart')
    await until(() => expect(snapshot(b)).toEqual(snapshot(a)))
    expect(a.get('during')).toBe('restart')
    expect(b.get('after')).toBe('restart')
    // Same master epoch: resumed from the hub's log, not a fresh snapshot.
    expect(hub.metrics.resumes).toBeGreaterThan(resumes)
    expect(hub.metrics.snapshots).toBe(snapshots)
  })

  it('a slow subscriber that Redis drops resyncs and converges; the others are not held up', async () => {
    const { clones, transports } = await cluster()
    const [a, b] = clones as [Store<string>, Store<string>]
    await a.put('start', 'x')
    await until(() => expect(b.get('start')).toBe('x'))
    // Small enough for the paused node to hit soon, large enough for everyone reading to stay under.
    await redis.admin.config('SET', 'client-output-buffer-limit', 'pubsub 1mb 512kb 2')
    const slow = transports[1]!.nodes()[0]!
    const port = slow.subscriber.stream.localPort
    const dropped = transports[0]!.stats.links.dropped
    slow.subscriber.stream.pause()
    const big = 'v'.repeat(16 * 1024)
    const subscribers = async () => (await redis.admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string
    // Write, in rounds of 128 KiB, until Redis has dropped the slow node's subscriber.
    const deadline = Date.now() + 15_000
    for (let round = 0; (await subscribers()).includes(`:${port} `); round++) {
      expect(Date.now()).toBeLessThan(deadline)
      await Promise.all(Array.from({ length: 8 }, (_, i) => a.put(`big${(round * 8 + i) % 64}`, big)))
    }
    expect(transports[0]!.stats.links.dropped).toBe(dropped)
    // Back to Redis' defaults before it reads again: its resync (a 1 MiB snapshot window) must fit.
    await redis.admin.config('SET', 'client-output-buffer-limit', DEFAULT_PUBSUB_LIMIT)
    const statuses: string[] = []
    void (async () => {
      for await (const change of b.statusChanges()) statuses.push(change.status)
    })()
    slow.subscriber.stream.resume()
    await until(() => expect(statuses.at(-1)).toBe('live'))
    expect(statuses[0]).not.toBe('live')
    await a.put('end', 'y')
    await until(() => expect(snapshot(b)).toEqual(snapshot(a)), 15_000)
    expect(b.seq).toBe(a.seq)
  })
})
