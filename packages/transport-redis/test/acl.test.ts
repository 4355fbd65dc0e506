/**
 * Identity (S8.1) and access control (S8.2) with Redis ACL users: the hub sees the ACL user of
 * each node, Redis refuses a user that tries to speak as another, a wrong password gets nothing.
 */
import {
  constantBackoff,
  createHub,
  createNode,
  ForbiddenError,
  memoryPersistence,
  UnavailableError,
} from '@concord/core'
import { t } from '@concord/schema'
import { Redis } from 'ioredis'
import { beforeAll, describe, expect, it } from 'vitest'
import { redisAclRules, redisTransport } from '../src/index.js'
import { encodeHello } from '../src/wire.js'
import { connect, enc, HubProbe, later, listen, NodeProbe, turns, until } from './probes.js'
import { useRedisServer } from './redis-server.js'

const redis = useRedisServer()
const HUB = 'acl-hub'

beforeAll(async () => {
  await redis.createUser('hubber', 'hub-secret', redisAclRules('hub', 'hubber', { hub: HUB }))
  for (const user of ['alice', 'bob', 'eve', 'we:ird*user']) {
    await redis.createUser(user, `${user}-secret`, redisAclRules('node', user))
  }
  await redis.createUser(
    'elsewhere',
    'elsewhere-secret',
    redisAclRules('node', 'elsewhere', { hub: 'other-hub' }),
  )
})

const as = (user: string, password = `${user}-secret`) =>
  redisTransport({ username: user, password, backoff: constantBackoff(20), handshakeTimeout: 2000 })
const hubTransport = () => as('hubber', 'hub-secret')

/** A client logged in as `user`, for poking at Redis directly. */
async function client(user: string): Promise<Redis> {
  const c = new Redis({
    host: '127.0.0.1',
    port: redis.port,
    username: user,
    password: `${user}-secret`,
    lazyConnect: true,
    enableReadyCheck: false,
  })
  later(async () => c.disconnect())
  await c.connect()
  return c
}

describe('ACL identities', () => {
  it('the hub sees each node as its Redis ACL user; the minimal ACL rules suffice', async () => {
    const hubProbe = new HubProbe()
    const hub = await listen(hubTransport(), hubProbe, redis.address(HUB))
    const probes = ['alice', 'bob', 'we:ird*user'].map((user) => new NodeProbe(user))
    const nodes = await Promise.all(probes.map((p) => connect(as(p.name), p, hub.address)))
    await until(() => expect(probes.map((p) => p.ups)).toEqual([1, 1, 1]))
    expect([...hubProbe.peers.values()].map((p) => p.identity).sort()).toEqual([
      'alice',
      'bob',
      'we:ird*user',
    ])
    await nodes[0]!.subscribe('t')
    nodes[1]!.send(enc('from bob'))
    await until(() => expect(hubProbe.frames).toEqual([[hubProbe.idOf('bob'), 'from bob']]))
    hub.broadcast('t/1', enc('to alice'))
    await until(() => expect(probes[0]!.broadcasts).toEqual([['t/1', 'to alice']]))
  })

  it('a claimed identity must be the ACL user', async () => {
    const transport = as('alice')
    const probe = new NodeProbe('x')
    await expect(
      transport.connect(redis.address(HUB), probe.handlers, {
        backoff: constantBackoff(10),
        identity: 'bob',
      }),
    ).rejects.toThrow(/ACL user/)
    const node = await transport.connect(redis.address(HUB), probe.handlers, {
      backoff: constantBackoff(10),
      identity: 'alice',
    })
    expect((node as unknown as { identity: string }).identity).toBe('alice')
    await node.close()
  })

  it('Redis refuses a user publishing or listening as another', async () => {
    const hubProbe = new HubProbe()
    await listen(hubTransport(), hubProbe, redis.address(HUB))
    const eve = await client('eve')
    await expect(eve.publish(`concord:${HUB}:req:abc:alice`, encodeHello(1024, ['']))).rejects.toThrow(
      /NOPERM/,
    )
    await expect(eve.publish(`concord:${HUB}:req:abc:alic`, Buffer.of(1))).rejects.toThrow(/NOPERM/)
    await expect(eve.publish(`concord:${HUB}:req:abc:eve:alice`, Buffer.of(1))).rejects.toThrow(/NOPERM/)
    const eveListens = await client('eve')
    await expect(eveListens.subscribe(`concord:${HUB}:to:abc:alice`)).rejects.toThrow(/NOPERM/)
    await expect(eveListens.psubscribe(`concord:${HUB}:*`)).rejects.toThrow(/NOPERM/)
    // What eve may do is speak as eve.
    expect(await eve.publish(`concord:${HUB}:req:abc:eve`, encodeHello(1024, []))).toBe(1)
    await until(() => expect(hubProbe.joined.map((p) => p.identity)).toEqual(['eve']))
  })

  it('a wrong password gets nothing: no link, the hub never hears of it', async () => {
    const hubProbe = new HubProbe()
    const hub = await listen(hubTransport(), hubProbe, redis.address(HUB))
    let attempts = 0
    const probe = new NodeProbe('mallory')
    const node = await connect(as('alice', 'wrong'), probe, hub.address, {
      backoff: () => {
        attempts++
        return 10
      },
    })
    await until(() => expect(attempts).toBeGreaterThanOrEqual(3))
    expect(probe.ups).toBe(0)
    expect(hubProbe.joined).toEqual([])
    expect(node.send(enc('x'))).toBe(false)
    // Hubs likewise: a wrong password, or a hub name the user's rules do not cover, fails listen.
    const wrong = await as('hubber', 'wrong')
      .listen(redis.address('acl-hub-2'), new HubProbe().handlers)
      .catch((e) => e)
    expect(wrong).toBeInstanceOf(UnavailableError)
    expect(wrong.message).toMatch(/WRONGPASS|NOAUTH/)
    const confined = await hubTransport()
      .listen(redis.address('not-mine'), new HubProbe().handlers)
      .catch((e) => e)
    expect(confined).toBeInstanceOf(UnavailableError)
    expect(confined.message).toMatch(/NOPERM/)
  })

  it('a user confined to another hub never links to this one', async () => {
    const hubProbe = new HubProbe()
    const hub = await listen(hubTransport(), hubProbe, redis.address(HUB))
    const probe = new NodeProbe('elsewhere')
    let attempts = 0
    await connect(as('elsewhere'), probe, hub.address, {
      backoff: () => {
        attempts++
        return 10
      },
    })
    await until(() => expect(attempts).toBeGreaterThanOrEqual(3))
    await turns()
    expect(probe.ups).toBe(0)
    expect(hubProbe.joined).toEqual([])
  })

  it('end to end: the hub authorizes by ACL user; a refused identity gets ForbiddenError and no data', async () => {
    const hub = await createHub({
      transport: hubTransport(),
      topics: { '': { schema: t.string() } },
      listen: redis.address(HUB),
      persistence: memoryPersistence(),
      stores: { kv: { schema: t.string() } },
      access: [
        {
          identities: ['alice'],
          allow: ['read', 'write', 'publish', 'subscribe'],
          stores: ['*'],
          topics: [''],
        },
        { identities: ['bob'], allow: ['subscribe'], topics: ['public'] },
      ],
    })
    later(() => hub.close())
    const topics = { '': { schema: t.string() } }
    const alice = await createNode({
      transport: as('alice'),
      hub: hub.address,
      backoff: constantBackoff(20),
      topics,
    })
    later(() => alice.close())
    const bob = await createNode({
      transport: as('bob'),
      hub: hub.address,
      backoff: constantBackoff(20),
      topics,
    })
    later(() => bob.close())
    const kv = await alice.open('kv', { schema: t.string() })
    await kv.put('k', 'v')
    await expect(bob.open('kv', { schema: t.string() })).rejects.toBeInstanceOf(ForbiddenError)
    const secret = bob.subscribe('secret')
    expect(await secret.closed).toBeInstanceOf(ForbiddenError)
    const news = bob.subscribe<string>('public')
    await news.ready
    await alice.publish('secret/plan', 'no')
    await alice.publish('public/news', 'yes')
    await expect(news.next()).resolves.toEqual({
      done: false,
      value: { topic: 'public/news', payload: 'yes' },
    })
  })
})
