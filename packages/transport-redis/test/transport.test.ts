/**
 * Port-level behaviour against a real redis-server, mirroring core's memory-transport tests:
 * the observable semantics are the same, except where Redis differs (documented in the README).
 */
import {
  AbortedError,
  ClosedError,
  ConcordError,
  constantBackoff,
  ForbiddenError,
  type HubEndpoint,
  type NodeEndpoint,
  ProtocolError,
  TooLargeError,
  UnavailableError,
} from '@concord/core'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import {
  type RedisHubEndpoint,
  type RedisNodeEndpoint,
  type RedisTransportInit,
  redisTransport,
} from '../src/index.js'
import { encodeHello } from '../src/wire.js'
import { connect, dec, enc, HubProbe, later, listen, NodeProbe, turns, until } from './probes.js'
import { useRedisServer } from './redis-server.js'

const redis = useRedisServer()
const fast = (init: RedisTransportInit = {}) =>
  redisTransport({ backoff: constantBackoff(20), handshakeTimeout: 2000, ...init })

/** A hub and linked nodes (identity = name) on one transport. */
async function setup(names: string[], init: RedisTransportInit = {}) {
  const transport = fast(init)
  const log: string[] = []
  const hubProbe = new HubProbe(log)
  const hub = await listen(transport, hubProbe, redis.address())
  const nodes: Array<{ probe: NodeProbe; endpoint: NodeEndpoint }> = []
  for (const name of names) {
    const probe = new NodeProbe(name, log)
    const endpoint = await connect(transport, probe, hub.address, { identity: name })
    nodes.push({ probe, endpoint })
  }
  await until(() => {
    for (const n of nodes) expect(n.probe.up).toBe(true)
  })
  return { transport, log, hubProbe, hub, nodes }
}

/** A raw client publishing on the hub's request channels, as a foreign or buggy client would. */
function rawClient(): Redis {
  const client = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true })
  later(async () => {
    client.disconnect()
  })
  return client
}

/** How many clients wait on a PUBLISH that CLIENT PAUSE holds. */
async function blockedPublishes(): Promise<number> {
  const list = (await redis.admin.client('LIST')) as string
  return list.split('\n').filter((line) => / flags=b /.test(line) && / cmd=publish /.test(line)).length
}

describe('redisTransport', () => {
  it('declares its capabilities and does no I/O when created', () => {
    const transport = redisTransport({ maxFrameSize: 1024, redis: { host: '192.0.2.1' } })
    expect(transport.capabilities).toEqual({
      name: 'redis',
      maxFrameSize: 1024,
      nativePrefixFilter: true,
      authentication: ['none', 'acl'],
      lossy: true,
      boundedPeerQueues: true,
    })
    expect(redisTransport().capabilities.maxFrameSize).toBe(16 * 1024 * 1024)
    expect(transport.hubs()).toEqual([])
    expect(transport.nodes()).toEqual([])
    expect(() => redisTransport({ maxFrameSize: 0 })).toThrow(RangeError)
    expect(() => redisTransport({ maxFrameSize: 600 * 1024 * 1024 })).toThrow(RangeError)
    expect(() => redisTransport({ prefix: 'a:b' })).toThrow(TypeError)
    expect(() => redisTransport({ peerQueueLimit: -1 })).toThrow(RangeError)
  })

  describe('link lifecycle', () => {
    it('connect resolves at once; then the hub gets peerJoined, then the node linkUp', async () => {
      const transport = fast()
      const log: string[] = []
      const hubProbe = new HubProbe(log)
      const hub = await listen(transport, hubProbe, redis.address())
      const probe = new NodeProbe('n', log)
      await connect(transport, probe, hub.address)
      expect(log).toEqual([])
      await until(() => expect(probe.ups).toBe(1))
      expect(log).toEqual(['hub:joined:anonymous', 'n:up'])
      expect([...hubProbe.peers.values()]).toEqual([{ id: expect.any(String), identity: 'anonymous' }])
    })

    it('gives every link a fresh peer id and carries the presented identity', async () => {
      const { hubProbe, nodes } = await setup(['alice', 'bob'])
      const ids = [...hubProbe.peers.values()].map((p) => p.id)
      expect(new Set(ids).size).toBe(2)
      expect([...hubProbe.peers.values()].map((p) => p.identity).sort()).toEqual(['alice', 'bob'])
      const before = hubProbe.idOf('alice')
      nodes[0]!.endpoint.reconnect()
      await until(() => expect(nodes[0]!.probe.ups).toBe(2))
      expect(nodes[0]!.probe.downs).toEqual(['reconnect requested'])
      await until(() => expect(hubProbe.left).toEqual([[before, 'reconnect requested']]))
      expect(hubProbe.idOf('alice')).not.toBe(before)
    })

    it('rejects an invalid address or options', async () => {
      const transport = fast()
      const probe = new NodeProbe('n')
      const backoff = constantBackoff(1)
      await expect(transport.listen('tcp://x', new HubProbe().handlers)).rejects.toThrow(TypeError)
      await expect(transport.listen(`${redis.url}/a:b`, new HubProbe().handlers)).rejects.toThrow(TypeError)
      await expect(transport.listen(`redis://u:p@127.0.0.1/h`, new HubProbe().handlers)).rejects.toThrow(
        /credentials/,
      )
      await expect(transport.connect(redis.address(), probe.handlers, { backoff })).rejects.toThrow(TypeError)
      await expect(
        transport.connect(redis.address('h'), probe.handlers, {} as unknown as { backoff: () => number }),
      ).rejects.toThrow(TypeError)
      await expect(
        transport.connect(redis.address('h'), probe.handlers, { backoff, identity: '' }),
      ).rejects.toThrow(TypeError)
      expect(transport.nodes()).toEqual([])
    })

    it('listening on a live hub name rejects; the name is free again after close; * picks fresh names', async () => {
      const transport = fast()
      const hub = await transport.listen(redis.address('taken'), new HubProbe().handlers)
      expect(hub.address).toBe(redis.address('taken'))
      await expect(transport.listen(redis.address('taken'), new HubProbe().handlers)).rejects.toBeInstanceOf(
        UnavailableError,
      )
      await hub.close()
      const again = await listen(transport, new HubProbe(), redis.address('taken'))
      expect(again.address).toBe(redis.address('taken'))
      const a = await listen(transport, new HubProbe(), redis.address('*'))
      const b = await listen(transport, new HubProbe(), redis.address('*'))
      expect(a.address).toMatch(new RegExp(`^${redis.url}/hub-[0-9a-f]+$`))
      expect(a.address).not.toBe(b.address)
      expect(transport.hubs()).toHaveLength(3)
    })

    it.each([2, 3])(
      'of %i hubs starting on one name at once, exactly one listens; the others reject with UnavailableError',
      async (count) => {
        const transport = fast()
        const address = redis.address(`race-${count}`)
        const probes = Array.from({ length: count }, () => new HubProbe())
        // Redis holds every PUBLISH (CLIENT PAUSE WRITE) until each hub has sent its first one:
        // then the hubs are as far as they get before hearing of each other, and go on together.
        await redis.admin.client('PAUSE', 30_000, 'WRITE')
        let starts: Array<Promise<HubEndpoint>>
        try {
          starts = probes.map((probe) => transport.listen(address, probe.handlers))
          await until(async () => expect(await blockedPublishes()).toBe(count))
        } finally {
          await redis.admin.client('UNPAUSE')
        }
        const results = await Promise.allSettled(starts)
        const listening = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
        for (const hub of listening) later(() => hub.close())
        expect(listening).toHaveLength(1)
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(UnavailableError)
        }
        expect(transport.hubs()).toEqual(listening)
        // A node links once, to the one that listens.
        const node = new NodeProbe('n')
        await connect(transport, node, address)
        await until(() => expect(node.ups).toBe(1))
        const winner = probes[results.findIndex((r) => r.status === 'fulfilled')]!
        expect(probes.map((p) => p.joined.length)).toEqual(probes.map((p) => (p === winner ? 1 : 0)))
        await expect(transport.listen(address, new HubProbe().handlers)).rejects.toBeInstanceOf(
          UnavailableError,
        )
      },
    )

    it('a subscriber of the request channels that is no hub, and does not answer a claim, makes listen reject', async () => {
      const transport = fast({ handshakeTimeout: 100 })
      const raw = rawClient()
      await raw.psubscribe('concord:*')
      const error = await transport.listen(redis.address('watched'), new HubProbe().handlers).catch((e) => e)
      expect(error).toBeInstanceOf(UnavailableError)
      expect(error.message).toMatch(/1 of the 1 other subscribers .* did not answer within 100 ms/)
      await raw.punsubscribe()
      await listen(transport, new HubProbe(), redis.address('watched'))
    })

    it('listen rejects with UnavailableError when Redis is unreachable', async () => {
      const transport = fast({ redis: { connectTimeout: 1000 } })
      // Port 1 on loopback: nothing listens there.
      const error = await transport.listen('redis://127.0.0.1:1/h', new HubProbe().handlers).catch((e) => e)
      expect(error).toBeInstanceOf(UnavailableError)
      expect(transport.hubs()).toEqual([])
    })

    it('an aborted signal rejects at once; aborting later closes the endpoint', async () => {
      const transport = fast()
      const aborted = AbortSignal.abort()
      await expect(
        transport.listen(redis.address(), new HubProbe().handlers, { signal: aborted }),
      ).rejects.toBeInstanceOf(AbortedError)
      await expect(
        transport.connect(redis.address('h'), new NodeProbe('n').handlers, {
          backoff: constantBackoff(1),
          signal: aborted,
        }),
      ).rejects.toMatchObject({ code: 'ERR_ABORTED' })

      const hubSignal = new AbortController()
      const hubProbe = new HubProbe()
      const hub = await transport.listen(redis.address(), hubProbe.handlers, { signal: hubSignal.signal })
      later(() => hub.close())
      const nodeSignal = new AbortController()
      const probe = new NodeProbe('n')
      const node = await transport.connect(hub.address, probe.handlers, {
        backoff: constantBackoff(20),
        signal: nodeSignal.signal,
      })
      await until(() => expect(probe.ups).toBe(1))
      nodeSignal.abort()
      await until(() => expect(hubProbe.left.map(([, r]) => r)).toEqual(['closed']))
      expect(node.send(enc('x'))).toBe(false)
      expect(transport.nodes()).toEqual([])
      hubSignal.abort()
      await until(() => expect(transport.hubs()).toEqual([]))
    })

    it('listen aborted while Redis holds its commands rejects at once, without waiting for QUIT', async () => {
      const transport = fast({ closeTimeout: 60_000 })
      const controller = new AbortController()
      // CLIENT PAUSE WRITE holds the hub's first PUBLISH, and a QUIT queued behind it on that connection.
      await redis.admin.client('PAUSE', 30_000, 'WRITE')
      try {
        let settled = false
        const listening = transport
          .listen(redis.address('paused'), new HubProbe().handlers, { signal: controller.signal })
          .catch((error: unknown) => error)
          .finally(() => (settled = true))
        await until(async () => expect(await blockedPublishes()).toBe(1))
        controller.abort()
        // Well before closeTimeout, while Redis still holds everything.
        await until(() => expect(settled).toBe(true), 5000)
        expect(await listening).toBeInstanceOf(AbortedError)
        expect(transport.hubs()).toEqual([])
      } finally {
        await redis.admin.client('UNPAUSE')
      }
    })

    it('retries per backoff until the hub listens, then restarts the attempt count', async () => {
      const transport = fast()
      const attempts: number[] = []
      const probe = new NodeProbe('n')
      const address = redis.address('late-hub')
      const node = await connect(transport, probe, address, {
        backoff: (n) => {
          attempts.push(n)
          return 20
        },
      })
      await until(() => expect(attempts.length).toBeGreaterThanOrEqual(3))
      expect(attempts.slice(0, 3)).toEqual([1, 2, 3])
      expect(probe.ups).toBe(0)
      const hubProbe = new HubProbe()
      const hub = await listen(transport, hubProbe, address)
      await until(() => expect(probe.ups).toBe(1))
      attempts.length = 0
      hub.disconnect(hubProbe.idOf('anonymous'), 'go away')
      await until(() => expect(probe.downs).toEqual(['go away']))
      await until(() => expect(hubProbe.left.map(([, r]) => r)).toEqual(['go away']))
      await until(() => expect(probe.ups).toBe(2))
      expect(attempts[0]).toBe(1)
      expect(node.send(enc('x'))).toBe(true)
    })
  })

  describe('frames', () => {
    it('delivers asynchronously and in order, both ways', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      const peerId = hubProbe.idOf('n')
      for (let i = 0; i < 50; i++) expect(endpoint.send(enc(`up${i}`))).toBe(true)
      for (let i = 0; i < 50; i++) expect(hub.send(peerId, enc(`down${i}`))).toBe(true)
      expect(hubProbe.frames).toEqual([])
      expect(probe.frames).toEqual([])
      await until(() => expect(probe.frames).toHaveLength(50))
      await until(() => expect(hubProbe.frames).toHaveLength(50))
      expect(hubProbe.frames).toEqual(Array.from({ length: 50 }, (_, i) => [peerId, `up${i}`]))
      expect(probe.frames).toEqual(Array.from({ length: 50 }, (_, i) => `down${i}`))
    })

    it('copies frames on send, and hands out frames the receiver may keep', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const buffer = enc('aaa')
      nodes[0]!.endpoint.send(buffer)
      hub.send(hubProbe.idOf('n'), buffer)
      buffer.set(enc('zzz'))
      // Large frames are reassembled by ioredis' parser in a pooled buffer it reuses.
      const big = (c: string) => enc(c.repeat(100_000))
      hub.send(hubProbe.idOf('n'), big('b'))
      hub.send(hubProbe.idOf('n'), big('c'))
      await until(() => expect(hubProbe.frames).toHaveLength(1))
      await until(() => expect(nodes[0]!.probe.frames).toHaveLength(3))
      expect(hubProbe.frames[0]![1]).toBe('aaa')
      expect(nodes[0]!.probe.frames[0]).toBe('aaa')
      const [, first, second] = nodes[0]!.probe.raw
      expect(dec(first!)).toBe('b'.repeat(100_000))
      expect(dec(second!)).toBe('c'.repeat(100_000))
    })

    it('send returns false once the link is down or the endpoint closed', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const peerId = hubProbe.idOf('n')
      await nodes[0]!.endpoint.close()
      expect(nodes[0]!.endpoint.send(enc('x'))).toBe(false)
      await until(() => expect(hub.send(peerId, enc('x'))).toBe(false))
      expect(hub.send('no-such-peer', enc('x'))).toBe(false)
    })

    it('bounds what is in flight per link, both ways', async () => {
      const { hub, hubProbe, nodes, transport } = await setup(['n'], { peerQueueLimit: 2 })
      const { endpoint, probe } = nodes[0]!
      // Sent in one turn: Redis has not answered the first two yet, so the third is refused.
      // (A frame of the link's own still unanswered, under CPU load, may take the second's
      // place: the bound holds either way, and what was accepted is what arrives.)
      const up = [1, 2, 3].map((i) => endpoint.send(enc(`${i}`)))
      const id = hubProbe.idOf('n')
      const down = [1, 2, 3].map((i) => hub.send(id, enc(`${i}`)))
      for (const accepted of [up, down]) {
        expect(accepted[0]).toBe(true)
        expect(accepted[2]).toBe(false)
      }
      const sent = (accepted: boolean[]) => ['1', '2', '3'].filter((_, i) => accepted[i])
      expect(transport.stats.dropped.queueFull).toBe(6 - sent(up).length - sent(down).length)
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(sent(up)))
      await until(() => expect(probe.frames).toEqual(sent(down)))
      await until(() => expect(endpoint.send(enc('4'))).toBe(true))
    })
  })

  describe('broadcast and subscriptions', () => {
    it('delivers by byte prefix, once per node, the same encoded bytes to every peer', async () => {
      const { hub, nodes, transport } = await setup(['a', 'b', 'c'])
      const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
      await a.endpoint.subscribe('x/y')
      await a.endpoint.subscribe('x')
      await b.endpoint.subscribe('x/y')
      await c.endpoint.subscribe('other')
      const sentBefore = transport.stats.sent.toNode
      hub.broadcast('x/yz', enc('1'))
      hub.broadcast('x/q', enc('2'))
      hub.broadcast('nothing', enc('3'))
      hub.broadcast('other', enc('marker'))
      await until(() => expect(a.probe.broadcasts).toHaveLength(2))
      await until(() => expect(b.probe.broadcasts).toHaveLength(1))
      await until(() => expect(c.probe.broadcasts).toEqual([['other', 'marker']]))
      expect(a.probe.broadcasts).toEqual([
        ['x/yz', '1'],
        ['x/q', '2'],
      ])
      // Byte prefix: 'x/y' receives 'x/yz' (core filters whole segments).
      expect(b.probe.broadcasts).toEqual([['x/yz', '1']])
      // 1 → a, b; 2 → a; 3 → nobody; marker → c: one PUBLISH per receiving peer.
      expect(transport.stats.sent.toNode - sentBefore).toBe(4)
    })

    it('treats glob metacharacters in topics literally', async () => {
      const { hub, nodes } = await setup(['n'])
      const { endpoint, probe } = nodes[0]!
      for (const prefix of ['x*', 'q?', '[ab]', 'back\\', 'h[^x]']) await endpoint.subscribe(prefix)
      const sent = [
        'xy',
        'x*y',
        'qz',
        'q?z',
        'a',
        'b',
        '[ab]/c',
        'back',
        'back\\slash',
        'hy',
        'h[^x]/1',
        'end',
      ]
      for (const topic of sent) hub.broadcast(topic, enc(topic))
      await endpoint.subscribe('end')
      hub.broadcast('end', enc('end'))
      await until(() => expect(probe.broadcasts.at(-1)).toEqual(['end', 'end']))
      expect(probe.broadcasts.map(([t]) => t)).toEqual([
        'x*y',
        'q?z',
        '[ab]/c',
        'back\\slash',
        'h[^x]/1',
        'end',
      ])
    })

    it('unicast and broadcast to one node share one FIFO', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('')
      const id = hubProbe.idOf('n')
      hub.send(id, enc('u1'))
      hub.broadcast('t', enc('b1'))
      hub.send(id, enc('u2'))
      hub.broadcast('t', enc('b2'))
      const events = () => probe.log.filter((e) => /frame|broadcast/.test(e))
      await until(() => expect(events()).toHaveLength(4))
      expect(events()).toEqual(['n:frame:u1', 'n:broadcast:t:b1', 'n:frame:u2', 'n:broadcast:t:b2'])
    })

    it('asks authorizeSubscription; a refusal rejects with ForbiddenError and delivers nothing', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      hubProbe.allow = (_, topic) => !topic.startsWith('secret')
      const error = await endpoint.subscribe('secret/').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ForbiddenError)
      expect(hubProbe.asked).toEqual([[hubProbe.idOf('n'), 'secret/']])
      await endpoint.subscribe('public/')
      hub.broadcast('secret/plans', enc('no'))
      hub.broadcast('public/news', enc('yes'))
      await until(() => expect(probe.broadcasts).toEqual([['public/news', 'yes']]))
      // The refused subscription is not kept: a reconnect does not ask for it again.
      hubProbe.asked.length = 0
      endpoint.reconnect()
      await until(() => expect(probe.ups).toBe(2))
      expect(hubProbe.asked.map(([, t]) => t)).toEqual(['public/'])
    })

    it('subscribe while the link is down resolves when the next link grants it', async () => {
      const transport = fast()
      const probe = new NodeProbe('n')
      const address = redis.address('later')
      const node = await connect(transport, probe, address)
      let resolved = false
      const subscribed = node.subscribe('t').then(() => {
        resolved = true
      })
      await turns()
      expect(resolved).toBe(false)
      const hubProbe = new HubProbe()
      const hub = await listen(transport, hubProbe, address)
      await subscribed
      expect(hubProbe.asked.map(([, t]) => t)).toEqual(['t'])
      hub.broadcast('t/1', enc('hello'))
      await until(() => expect(probe.broadcasts).toEqual([['t/1', 'hello']]))
    })

    it('unsubscribe stops delivery, rejects a pending subscribe, and is idempotent', async () => {
      const { hub, nodes } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      await endpoint.subscribe('marker')
      endpoint.unsubscribe('t')
      endpoint.unsubscribe('t')
      hub.broadcast('t', enc('x'))
      const pending = endpoint.subscribe('u')
      endpoint.unsubscribe('u')
      await expect(pending).rejects.toBeInstanceOf(ClosedError)
      hub.broadcast('marker', enc('m'))
      await until(() => expect(probe.broadcasts).toEqual([['marker', 'm']]))
    })

    it('subscriptions survive reconnects and are re-authorized before any broadcast', async () => {
      const { hub, hubProbe, nodes, log } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      log.length = 0
      endpoint.reconnect()
      await until(() => expect(probe.ups).toBe(2))
      expect(log.filter((e) => !e.startsWith('hub:left'))).toEqual([
        'n:down:reconnect requested',
        'hub:joined:n',
        'hub:authorize:t',
        'n:up',
      ])
      hub.broadcast('t', enc('after'))
      await until(() => expect(probe.broadcasts).toEqual([['t', 'after']]))
      expect(hubProbe.peers.size).toBe(1)
    })

    it('a subscription refused on re-authorization delivers nothing on that link', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      hubProbe.allow = (_, topic) => topic !== 't'
      endpoint.reconnect()
      await until(() => expect(probe.ups).toBe(2))
      await endpoint.subscribe('marker')
      hub.broadcast('t', enc('no'))
      hub.broadcast('marker', enc('m'))
      await until(() => expect(probe.broadcasts).toEqual([['marker', 'm']]))
    })
  })

  describe('peers joining and leaving', () => {
    it('hub.disconnect: the node sees linkDown(reason), the hub peerLeft(reason); the node links again', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const id = hubProbe.idOf('n')
      hub.disconnect(id, 'slow consumer')
      expect(hubProbe.left).toEqual([])
      await until(() => expect(hubProbe.left).toEqual([[id, 'slow consumer']]))
      await until(() => expect(nodes[0]!.probe.downs).toEqual(['slow consumer']))
      await until(() => expect(nodes[0]!.probe.ups).toBe(2))
    })

    it('node close: the hub sees peerLeft(closed), the node hears nothing more, calls fail', async () => {
      const { hub, hubProbe, nodes, transport } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('')
      const id = hubProbe.idOf('n')
      hub.send(id, enc('in-flight'))
      const closing = endpoint.close()
      expect(endpoint.close()).toBe(closing)
      await closing
      await until(() => expect(hubProbe.left).toEqual([[id, 'closed']]))
      hub.broadcast('t', enc('x'))
      await turns()
      expect(probe.downs).toEqual([])
      expect(probe.broadcasts).toEqual([])
      await expect(endpoint.subscribe('t')).rejects.toBeInstanceOf(ClosedError)
      expect(transport.nodes()).toEqual([])
    })

    it('a node that vanishes without a word is dropped at the next frame the hub sends it', async () => {
      const { hub, hubProbe, nodes } = await setup(['stays'])
      await nodes[0]!.endpoint.subscribe('')
      // A hand-made node: HELLO, then its connections die (as with its process), no BYE.
      const hubName = hub.address.slice(hub.address.lastIndexOf('/') + 1)
      const sub = rawClient()
      const pub = rawClient()
      await Promise.all([sub.connect(), pub.connect()])
      await sub.subscribe(`concord:${hubName}:to:deadbeef:ghost`)
      await pub.publish(`concord:${hubName}:req:deadbeef:ghost`, encodeHello(1024, ['']))
      await until(() => expect(hubProbe.joined.map((p) => p.identity)).toContain('ghost'))
      const ghost = hubProbe.idOf('ghost')
      sub.disconnect()
      pub.disconnect()
      await until(async () =>
        expect(await redis.admin.call('PUBSUB', 'NUMSUB', `concord:${hubName}:to:deadbeef:ghost`)).toEqual([
          `concord:${hubName}:to:deadbeef:ghost`,
          0,
        ]),
      )
      expect(hubProbe.left).toEqual([])
      hub.broadcast('t', enc('beat'))
      await until(() => expect(hubProbe.left).toEqual([[ghost, expect.stringMatching(/unreachable/)]]))
      await until(() => expect(nodes[0]!.probe.broadcasts).toEqual([['t', 'beat']]))
      expect([...hubProbe.peers.values()].map((p) => p.identity)).toEqual(['stays'])
    })

    it('hub close: nodes see linkDown, peerLeft comes before close resolves, nothing after', async () => {
      const { hub, hubProbe, nodes, transport } = await setup(['a', 'b'])
      const closing = hub.close()
      expect(hub.close()).toBe(closing)
      await closing
      expect(hubProbe.left.map(([, r]) => r)).toEqual(['hub closed', 'hub closed'])
      await until(() => {
        for (const n of nodes) expect(n.probe.downs).toEqual(['hub closed'])
      })
      expect(nodes[0]!.endpoint.send(enc('x'))).toBe(false)
      expect(transport.hubs()).toEqual([])
    })

    it('a hub restarted on the same name is found again by its nodes', async () => {
      const transport = fast()
      const address = redis.address('phoenix')
      const first = new HubProbe()
      const hub = await transport.listen(address, first.handlers)
      const probe = new NodeProbe('n')
      const node = await connect(transport, probe, address)
      await node.subscribe('t')
      await until(() => expect(probe.ups).toBe(1))
      await hub.close()
      const second = new HubProbe()
      const hub2 = await listen(transport, second, address)
      await until(() => expect(probe.ups).toBe(2))
      expect(second.asked.map(([, t]) => t)).toEqual(['t'])
      hub2.broadcast('t', enc('again'))
      await until(() => expect(probe.broadcasts).toEqual([['t', 'again']]))
    })
  })

  describe('bounded queues (S6.5)', () => {
    it('a node that stops reading fills its queue; then sends fail and broadcasts skip it only', async () => {
      const { hub, hubProbe, nodes, transport } = await setup(['slow', 'fast'], { peerQueueLimit: 40 })
      const [slow, fast] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
      await slow.endpoint.subscribe('')
      await fast.endpoint.subscribe('')
      const slowId = hubProbe.idOf('slow')
      ;(slow.endpoint as RedisNodeEndpoint).subscriber.stream.pause()
      const dropped = transport.stats.dropped.queueFull
      let sent = 0
      // Unacknowledged frames pile up until the bound (what the node acked before counts off).
      while (hub.send(slowId, enc(`u${sent}`))) {
        hub.broadcast('t', enc(`b${sent}`))
        sent++
        expect(sent).toBeLessThanOrEqual(20)
      }
      // Each round queues two frames (a unicast and a broadcast).
      expect(sent).toBeGreaterThan(10)
      hub.broadcast('t', enc('skipped'))
      expect(transport.stats.dropped.queueFull).toBe(dropped + 2)
      await until(() => expect(fast.probe.broadcasts).toHaveLength(sent + 1))
      expect(slow.probe.frames).toEqual([])
      // Reading again, it gets what was queued, acknowledges, and the queue drains.
      ;(slow.endpoint as RedisNodeEndpoint).subscriber.stream.resume()
      await until(() => expect(slow.probe.frames).toHaveLength(sent))
      expect(slow.probe.broadcasts.map(([, t]) => t)).not.toContain('skipped')
      await until(() => expect(hub.send(slowId, enc('again'))).toBe(true))
      expect(slow.probe.downs).toEqual([])
    })
  })

  describe('a hub that dies without a word', () => {
    it('abort(): no handler runs again; idle nodes notice by their probe and find the next hub', async () => {
      const transport = fast({ probeInterval: 50 })
      const address = redis.address('crashing')
      const first = new HubProbe()
      const hub = (await transport.listen(address, first.handlers)) as RedisHubEndpoint
      const probe = new NodeProbe('n')
      await connect(transport, probe, address)
      await until(() => expect(probe.ups).toBe(1))
      hub.abort()
      await hub.close()
      expect(transport.hubs()).toEqual([])
      await until(() => expect(probe.downs).toHaveLength(1))
      expect(first.left).toEqual([])
      const second = new HubProbe()
      await listen(transport, second, address)
      await until(() => expect(probe.ups).toBe(2))
      expect(second.joined).toHaveLength(1)
    })
  })

  it('an idle node whose hub was replaced at once is told by the new hub (DROP) and links to it', async () => {
    const transport = fast({ probeInterval: 50 })
    const address = redis.address('replaced')
    const hub = (await transport.listen(address, new HubProbe().handlers)) as RedisHubEndpoint
    const probe = new NodeProbe('n')
    await connect(transport, probe, address)
    await until(() => expect(probe.ups).toBe(1))
    hub.abort()
    const second = new HubProbe()
    // Listening may race Redis noticing the old hub's connections closed: retry until free.
    await until(async () => {
      await listen(transport, second, address)
    })
    await until(() => expect(probe.ups).toBe(2))
    expect(probe.downs[0]).toMatch(/unknown link|hub is gone/)
    expect(second.joined).toHaveLength(1)
  })

  describe('maxFrameSize and bad input (S9.1)', () => {
    it('a node frame over the limit is refused: send false, hub.refused gets TooLargeError', async () => {
      const { hubProbe, nodes, transport } = await setup(['n'], { maxFrameSize: 4 })
      expect(nodes[0]!.endpoint.send(enc('12345'))).toBe(false)
      expect(nodes[0]!.endpoint.send(enc('1234'))).toBe(true)
      await until(() => expect(hubProbe.refused).toHaveLength(1))
      const [peer, error] = hubProbe.refused[0]!
      expect(peer?.identity).toBe('n')
      expect(error).toBeInstanceOf(TooLargeError)
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['1234']))
      expect(transport.stats.dropped.tooLarge).toBe(1)
    })

    it('a hub frame over the limit is not sent: send false, nothing delivered', async () => {
      const { hub, hubProbe, nodes, transport } = await setup(['n'], { maxFrameSize: 4 })
      await nodes[0]!.endpoint.subscribe('')
      expect(hub.send(hubProbe.idOf('n'), enc('12345'))).toBe(false)
      hub.broadcast('t', enc('12345'))
      hub.broadcast('t', enc('ok'))
      await until(() => expect(nodes[0]!.probe.broadcasts).toEqual([['t', 'ok']]))
      expect(nodes[0]!.probe.frames).toEqual([])
      expect(transport.stats.dropped.tooLarge).toBe(2)
    })

    it('a link takes the smaller limit of its two ends', async () => {
      const hubSide = fast({ maxFrameSize: 1000 })
      const nodeSide = fast({ maxFrameSize: 10 })
      const hubProbe = new HubProbe()
      const hub = await listen(hubSide, hubProbe, redis.address())
      const probe = new NodeProbe('n')
      const node = await connect(nodeSide, probe, hub.address)
      await until(() => expect(probe.ups).toBe(1))
      expect(hub.send(hubProbe.idOf('anonymous'), new Uint8Array(11))).toBe(false)
      expect(node.send(new Uint8Array(11))).toBe(false)
      expect(hub.send(hubProbe.idOf('anonymous'), new Uint8Array(10))).toBe(true)
      await until(() => expect(probe.frames).toHaveLength(1))
    })

    it('malformed and oversized messages from foreign clients are refused and counted; peers are undisturbed', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'], { maxFrameSize: 1024 })
      const base = hub.address.slice(hub.address.lastIndexOf('/') + 1)
      const raw = rawClient()
      await raw.connect()
      const channel = (rest: string) => `concord:${base}:req:${rest}`
      await raw.publish(channel('abc:mallory'), Buffer.of(0x02, 1, 2, 3)) // DATA on an unknown link: told DROP
      await raw.publish(channel('abc:mallory'), Buffer.alloc(0)) // empty
      await raw.publish(channel('abc:mallory'), Buffer.of(0x7f)) // unknown kind
      await raw.publish(channel('abc:mallory'), Buffer.of(0x01, 1, 0)) // truncated HELLO
      await raw.publish(channel('no-link-segment'), Buffer.of(0x01)) // malformed channel
      await raw.publish(channel('abc:mallory'), Buffer.alloc(5000, 0x02)) // oversized DATA
      await raw.publish(channel('abc:mallory'), Buffer.alloc(1024 + 1024 * 1024 + 2, 0x01)) // oversized HELLO
      await until(() => expect(hubProbe.refused).toHaveLength(6))
      const errors = hubProbe.refused.map(([, e]) => e)
      for (const e of errors) expect(e).toBeInstanceOf(ConcordError)
      expect(errors.filter((e) => e instanceof ProtocolError)).toHaveLength(4)
      expect(errors.filter((e) => e instanceof TooLargeError)).toHaveLength(2)
      expect(hubProbe.joined.map((p) => p.identity)).toEqual(['n'])
      nodes[0]!.endpoint.send(enc('still fine'))
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['still fine']))
    })

    it('a malformed message from the hub side drops the link; the node links again', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const { probe } = nodes[0]!
      const hubName = hub.address.slice(hub.address.lastIndexOf('/') + 1)
      const [channel] = (await redis.admin.call('PUBSUB', 'CHANNELS', `concord:${hubName}:to:*`)) as string[]
      expect(channel).toBeDefined()
      await redis.admin.publish(channel!, Buffer.of(0x83, 0, 0, 0, 9, 1)) // BCAST with a cut topic
      await until(() => expect(probe.downs).toHaveLength(1))
      expect(probe.downs[0]).toMatch(/malformed/)
      await until(() => expect(probe.ups).toBe(2))
      expect(hubProbe.peers.size).toBe(1)
    })
  })

  it('close releases every connection', async () => {
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length
    // The admin connection of the harness may be open: count from here.
    await redis.admin.ping()
    const baseline = sockets()
    const transport = fast()
    const hubProbe = new HubProbe()
    const hub = await transport.listen(redis.address(), hubProbe.handlers)
    const probes = [new NodeProbe('a'), new NodeProbe('b')]
    const nodes = await Promise.all(
      probes.map((p) => transport.connect(hub.address, p.handlers, { backoff: constantBackoff(20) })),
    )
    await until(() => expect(probes.map((p) => p.ups)).toEqual([1, 1]))
    expect(sockets()).toBe(baseline + 6)
    const down = await transport.connect(redis.address('nobody-here'), new NodeProbe('c').handlers, {
      backoff: constantBackoff(10),
    })
    await turns()
    await Promise.all([...nodes.map((n) => n.close()), down.close(), hub.close()])
    await Promise.all([...nodes.map((n) => n.close()), down.close(), hub.close()])
    await until(() => expect(sockets()).toBe(baseline))
    for (const endpoint of [hub, ...nodes, down] as unknown as Array<{
      publisher: Redis
      subscriber: Redis
    }>) {
      expect([endpoint.publisher.status, endpoint.subscriber.status]).toEqual(['end', 'end'])
    }
  })
})
