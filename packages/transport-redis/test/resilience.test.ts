/**
 * Healing without help: a Redis restart, a killed connection, a slow subscriber Redis drops.
 * Port level; the same with core and clones is in e2e.test.ts.
 */
import { constantBackoff } from '@concord/core'
import type { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type RedisHubEndpoint,
  type RedisNodeEndpoint,
  type RedisTransportInit,
  redisTransport,
} from '../src/index.js'
import { connect, enc, HubProbe, listen, NodeProbe, until } from './probes.js'
import { useRedisServer } from './redis-server.js'

const redis = useRedisServer()
const fast = (init: RedisTransportInit = {}) =>
  redisTransport({ backoff: constantBackoff(20), handshakeTimeout: 2000, ...init })

async function setup(names: string[], init: RedisTransportInit = {}) {
  const transport = fast(init)
  const hubProbe = new HubProbe()
  const hub = await listen(transport, hubProbe, redis.address())
  const nodes: Array<{ probe: NodeProbe; endpoint: RedisNodeEndpoint }> = []
  for (const name of names) {
    const probe = new NodeProbe(name)
    const endpoint = (await connect(transport, probe, hub.address, { identity: name })) as RedisNodeEndpoint
    await endpoint.subscribe('t')
    nodes.push({ probe, endpoint })
  }
  await until(() => {
    for (const n of nodes) expect(n.probe.up).toBe(true)
  })
  return { transport, hubProbe, hub, nodes }
}

/** Makes Redis close one of our connections (as a network failure or `CLIENT KILL` would). */
const kill = (connection: Redis) =>
  redis.admin.client('KILL', 'ADDR', `127.0.0.1:${connection.stream.localPort}`)

afterEach(async () => {
  await redis.admin.config('SET', 'client-output-buffer-limit', 'pubsub 33554432 8388608 60')
})

describe('healing', () => {
  it('a Redis restart: linkDown then linkUp, subscriptions re-authorized, frames flow again', async () => {
    const { hub, hubProbe, nodes } = await setup(['a', 'b'])
    // Counted from here: under CPU load a link may have flapped while the test set up.
    const joinedBefore = hubProbe.joined.length
    const leftBefore = hubProbe.left.length
    await redis.restart()
    await until(() => {
      for (const n of nodes) expect(n.probe.downs).toHaveLength(1)
    })
    expect(hubProbe.left).toHaveLength(leftBefore + 2)
    await until(() => {
      for (const n of nodes) expect(n.probe.ups).toBe(2)
    })
    expect(hubProbe.joined.length).toBe(joinedBefore + 2)
    expect(hubProbe.asked.filter(([, topic]) => topic === 't')).toHaveLength(4)
    hub.broadcast('t/x', enc('after'))
    for (const n of nodes) await until(() => expect(n.probe.broadcasts).toEqual([['t/x', 'after']]))
    nodes[0]!.endpoint.send(enc('up again'))
    await until(() => expect(hubProbe.frames.map(([, text]) => text)).toEqual(['up again']))
  })

  it("killing the hub's connection drops its peers; the nodes link again by themselves", async () => {
    const { hub, hubProbe, nodes } = await setup(['a', 'b'])
    const endpoint = hub as unknown as { subscriber: Redis }
    await kill(endpoint.subscriber)
    await until(() =>
      expect(hubProbe.left.map(([, r]) => r)).toEqual([
        expect.stringMatching(/Redis/),
        expect.stringMatching(/Redis/),
      ]),
    )
    // The nodes' connections are fine: they learn it from the hub (DROP) or from a PUBLISH nobody hears.
    await until(() => {
      for (const n of nodes) expect(n.probe.ups).toBe(2)
    })
    hub.broadcast('t', enc('back'))
    for (const n of nodes) await until(() => expect(n.probe.broadcasts).toEqual([['t', 'back']]))
  })

  it('peers dropped by a PUBLISH that failed as the connection broke: their idle nodes are told once it is back', async () => {
    // No idle probe during the test: only the hub's DROP can tell the nodes.
    const { hub, hubProbe, nodes } = await setup(['a', 'b'], { probeInterval: 600_000 })
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    const [aId, bId] = [hubProbe.idOf('a'), hubProbe.idOf('b')]
    // The socket closes and the hub publishes before ioredis has seen it go ('close' comes
    // later): such a PUBLISH fails at once, and the peer is dropped then, not at 'close'.
    ;(hub as RedisHubEndpoint).publisher.stream.destroy()
    expect(hub.send(aId, enc('lost'))).toBe(true)
    hub.disconnect(bId, 'go away')
    await until(() => {
      expect(hubProbe.left.filter(([id]) => id === aId)).toEqual([
        [aId, expect.stringMatching(/^publish failed/)],
      ])
      expect(hubProbe.left.filter(([id]) => id === bId)).toEqual([[bId, 'go away']])
    })
    await until(() => {
      expect(a.probe.downs).toEqual(['the hub lost its connection to Redis'])
      expect(b.probe.downs).toEqual(['go away'])
    })
    await until(() => {
      for (const n of nodes) expect(n.probe.ups).toBe(2)
    })
    hub.broadcast('t', enc('back'))
    for (const n of nodes) await until(() => expect(n.probe.broadcasts).toEqual([['t', 'back']]))
  })

  it("killing a node's subscriber: that link ends (the hub hears BYE) and comes back", async () => {
    const { hub, hubProbe, nodes } = await setup(['a', 'b'])
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    await kill(a.endpoint.subscriber)
    await until(() => expect(a.probe.downs).toEqual(['lost the connection to Redis']))
    await until(() => expect(hubProbe.left.map(([, r]) => r)).toEqual(['lost the connection to Redis']))
    await until(() => expect(a.probe.ups).toBe(2))
    expect(b.probe.downs).toEqual([])
    hub.broadcast('t', enc('x'))
    for (const n of nodes) await until(() => expect(n.probe.broadcasts).toEqual([['t', 'x']]))
  })

  it('a subscriber that stops reading is dropped by Redis (client-output-buffer-limit), others are not slowed; it links again', async () => {
    const { hub, hubProbe, nodes, transport } = await setup(['slow', 'fast'])
    const [slow, fast] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    await redis.admin.config('SET', 'client-output-buffer-limit', 'pubsub 256kb 128kb 1')
    const slowId = hubProbe.idOf('slow')
    slow.endpoint.subscriber.stream.pause()
    const chunk = new Uint8Array(64 * 1024)
    let sent = 0
    // Broadcast until Redis has dropped the slow one (the hub notices: PUBLISH reaches nobody).
    await until(() => {
      for (let i = 0; i < 20; i++) hub.broadcast('t', chunk)
      sent += 20
      expect(hubProbe.left.map(([id]) => id)).toContain(slowId)
    }, 15_000)
    expect(hubProbe.left.find(([id]) => id === slowId)?.[1]).toMatch(/unreachable/)
    await until(() => expect(fast.probe.broadcasts.length).toBe(sent))
    expect(fast.probe.downs).toEqual([])
    slow.endpoint.subscriber.stream.resume()
    await until(() => expect(slow.probe.downs).toHaveLength(1))
    await until(() => expect(slow.probe.ups).toBe(2))
    expect(slow.probe.broadcasts.length).toBeLessThan(sent)
    expect(transport.stats.links.dropped).toBeGreaterThanOrEqual(2)
  })
})
