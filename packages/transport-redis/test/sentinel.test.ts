/**
 * Sentinel-managed Redis, end to end with core: a real redis-server (the master) and a real
 * Sentinel (`redis-server <conf> --sentinel`) on free loopback ports; the hub and two nodes
 * meet through `redis+sentinel://127.0.0.1:<sentinel>/<master>/<hub>`. Then failovers to a
 * replica — the master crashes (SIGKILL), or `SENTINEL FAILOVER` with it alive — after which
 * every connection finds the new master through the Sentinel, clones resync from the hub (whose
 * data is in its own persistence: Redis only carries messages) and writes continue.
 */
import {
  type ConcordNode,
  constantBackoff,
  createHub,
  createNode,
  type Hub,
  memoryPersistence,
  type Store,
  UnavailableError,
} from '@concord/core'
import { t } from '@concord/schema'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type RedisHubEndpoint,
  type RedisTransport,
  type RedisTransportInit,
  redisTransport,
} from '../src/index.js'
import { later, until } from './probes.js'
import { type RedisSentinel, type RedisServer, startRedisServer, startSentinel } from './redis-server.js'

const fast = (init: RedisTransportInit = {}) =>
  redisTransport({ backoff: constantBackoff(20), handshakeTimeout: 2000, ...init })
const topics = { '': { schema: t.string() } }
const snapshot = (store: Store<string>) => Object.fromEntries(store.entries())

/** A hub listening through `sentinel`, and nodes `a` and `b` with a clone of `kv` each. */
async function cluster(sentinel: RedisSentinel, init: RedisTransportInit = {}) {
  const hubTransport = fast(init)
  const hub: Hub = await createHub({
    transport: hubTransport,
    listen: sentinel.address('hub'),
    persistence: memoryPersistence(),
    stores: { kv: { schema: t.string() } },
    topics,
  })
  later(() => hub.close())
  const transports: RedisTransport[] = []
  const nodes: ConcordNode[] = []
  const clones: Store<string>[] = []
  for (const identity of ['a', 'b']) {
    const transport = fast(init)
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
  const endpoint = hubTransport.hubs()[0] as RedisHubEndpoint
  return { hub, endpoint, transports, nodes, clones: clones as [Store<string>, Store<string>] }
}

/** The Redis ports every connection of the hub and the nodes is connected to now. */
function connectedPorts(endpoint: RedisHubEndpoint, transports: RedisTransport[]): number[] {
  const connections = [endpoint, ...transports.flatMap((transport) => transport.nodes())].flatMap((e) => [
    e.publisher,
    e.subscriber,
  ])
  return connections.map((redis) => (redis.status === 'ready' ? (redis.stream.remotePort ?? 0) : 0))
}

/** Records a clone's status changes from now on. */
function statuses(store: Store<string>): string[] {
  const seen: string[] = []
  void (async () => {
    for await (const change of store.statusChanges()) seen.push(change.status)
  })()
  return seen
}

describe('through a Sentinel', () => {
  let master: RedisServer
  let sentinel: RedisSentinel
  beforeAll(async () => {
    master = await startRedisServer()
    sentinel = await startSentinel({ masterPort: master.port })
  }, 30_000)
  afterAll(async () => {
    await sentinel?.stop()
    await master?.stop()
  })

  it('hub and nodes find the master through the Sentinel: put, get, remove replicate; events arrive', async () => {
    const { hub, endpoint, transports, nodes, clones } = await cluster(sentinel)
    const [a, b] = clones
    expect(hub.address).toBe(`redis+sentinel://127.0.0.1:${sentinel.port}/mymaster/hub`)
    expect(await sentinel.masterAddress()).toEqual({ host: '127.0.0.1', port: master.port })
    // Every connection went to the master the Sentinel named.
    await until(() => expect(new Set(connectedPorts(endpoint, transports))).toEqual(new Set([master.port])))

    await a.put('k', 'from a')
    expect(a.get('k')).toBe('from a')
    await until(() => expect(b.get('k')).toBe('from a'))
    await b.put('k2', 'from b')
    await Promise.all(Array.from({ length: 20 }, (_, i) => a.put(`n${i}`, `${i}`)))
    await until(() => expect(snapshot(b)).toEqual(snapshot(a)))
    expect(a.size).toBe(22)
    await b.remove('k')
    await until(() => expect(a.has('k')).toBe(false))
    expect(a.get('k2')).toBe('from b')
    await until(() => expect(b.seq).toBe(a.seq))
    expect(hub.master('kv')?.committedSeq).toBe(a.seq)

    const [na, nb] = nodes as [ConcordNode, ConcordNode]
    const events = nb.subscribe<string>('news')
    await events.ready
    await na.publish('news/1', 'hello through Sentinel')
    const { value } = await events.next()
    expect(value).toMatchObject({ topic: 'news/1', payload: 'hello through Sentinel' })
  })

  it('listen rejects with UnavailableError when the Sentinel knows no such master, or none answers', async () => {
    const listen = (address: string) =>
      createHub({
        transport: fast(),
        listen: address,
        persistence: memoryPersistence(),
        stores: { kv: { schema: t.string() } },
      })
    // ioredis' own sentinelRetryStrategy would retry these forever: listen never settled.
    const unknown = listen(`redis+sentinel://127.0.0.1:${sentinel.port}/nosuch/hub`)
    await expect(unknown).rejects.toThrow(UnavailableError)
    await expect(unknown).rejects.toThrow(/No such master/)
    // Nothing listens on port 1 (privileged): no Sentinel answers.
    await expect(listen('redis+sentinel://127.0.0.1:1/mymaster/hub')).rejects.toThrow(UnavailableError)
  })
})

/** A master, its replica (in sync) and a Sentinel that knows both; all stopped after the test. */
async function replicated() {
  const master = await startRedisServer()
  later(() => master.stop())
  const replica = await startRedisServer({ replicaOf: master.port })
  later(() => replica.stop())
  await until(async () => expect(await replica.admin.info('replication')).toMatch(/master_link_status:up/))
  const sentinel = await startSentinel({ masterPort: master.port })
  later(() => sentinel.stop())
  // Sentinel learns of the replica from the master's INFO, then connects to it: only then can
  // it promote it.
  await until(async () =>
    expect(await sentinel.replicas()).toContainEqual(
      expect.objectContaining({ port: String(replica.port), flags: 'slave', 'master-link-status': 'ok' }),
    ),
  )
  return { master, replica, sentinel }
}

/**
 * Runs a cluster through `sentinel`, fails the master over to `replica` with `failover()`, and
 * checks that every connection ends up on the replica, the clones resync (resuming from the
 * hub's log: same epoch, no snapshot) and converge, and writes and events go through.
 */
async function survivesFailover(
  { master, replica, sentinel }: Awaited<ReturnType<typeof replicated>>,
  failover: () => Promise<unknown>,
  init: RedisTransportInit = {},
) {
  const { hub, endpoint, transports, nodes, clones } = await cluster(sentinel, init)
  const [a, b] = clones
  await Promise.all(Array.from({ length: 20 }, (_, i) => a.put(`k${i}`, 'v1')))
  await b.remove('k0')
  await until(() => expect(snapshot(b)).toEqual(snapshot(a)))
  expect(new Set(connectedPorts(endpoint, transports))).toEqual(new Set([master.port]))
  const { resumes, snapshots } = hub.metrics
  const seenA = statuses(a)
  const seenB = statuses(b)

  await failover()
  // Issued while the links are going down or coming back: queued, then sent (S3.7).
  const during = a.put('during', 'failover')
  await until(async () => expect((await sentinel.masterAddress())?.port).toBe(replica.port), 20_000)
  // Everyone is on the promoted replica, and both clones went through a resync.
  await until(() => expect(new Set(connectedPorts(endpoint, transports))).toEqual(new Set([replica.port])))
  await until(() => {
    expect(seenA).toContain('live')
    expect(seenB).toContain('live')
  })
  expect(seenB[0]).not.toBe('live')
  expect(await during).toBeGreaterThan(0)
  await b.put('after', 'failover')
  await a.remove('k1')
  await until(() => expect(snapshot(b)).toEqual(snapshot(a)))
  expect(a.get('during')).toBe('failover')
  expect(b.get('after')).toBe('failover')
  expect(b.has('k1')).toBe(false)
  expect(a.size).toBe(20)
  expect(b.seq).toBe(a.seq)
  expect(hub.master('kv')?.committedSeq).toBe(a.seq)
  // The hub kept its epoch (its data is in its persistence, not in Redis): resumed, no snapshot.
  expect(hub.metrics.resumes).toBeGreaterThan(resumes)
  expect(hub.metrics.snapshots).toBe(snapshots)

  const [na, nb] = nodes as [ConcordNode, ConcordNode]
  const events = na.subscribe<string>('after')
  await events.ready
  await nb.publish('after/failover', 'still here')
  const { value } = await events.next()
  expect(value).toMatchObject({ topic: 'after/failover', payload: 'still here' })
}

describe('a Sentinel failover', () => {
  it('the master crashes (SIGKILL), Sentinel promotes the replica: links come back, clones resync, writes continue', async () => {
    const servers = await replicated()
    await survivesFailover(servers, () => servers.master.kill())
  }, 40_000)

  it('SENTINEL FAILOVER with the old master alive: with failoverDetector, everyone moves at +switch-master', async () => {
    const servers = await replicated()
    const { sentinel } = servers
    // Without it, connections stay on the old master until Sentinel demotes it (its next INFO,
    // up to 10 s later) and kills its clients; a node linking meanwhile reaches no hub.
    await survivesFailover(
      servers,
      async () => {
        // Each of the 6 connections (hub, 2 nodes × publisher, subscriber) watches the Sentinel.
        await until(async () => {
          const clients = (await sentinel.admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string
          expect(clients.split('\n').filter((line) => line.includes(' sub=1 '))).toHaveLength(6)
        })
        await sentinel.admin.call('SENTINEL', 'FAILOVER', sentinel.masterName)
      },
      { redis: { failoverDetector: true } },
    )
  }, 40_000)
})
