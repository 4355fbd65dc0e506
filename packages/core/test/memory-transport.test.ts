import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  ClosedError,
  type ConcordError,
  ForbiddenError,
  TooLargeError,
  UnavailableError,
} from '../src/errors.js'
import { type MemoryTransport, memoryNetwork, memoryTransport } from '../src/memory/index.js'
import { constantBackoff } from '../src/ports/backoff.js'
import type {
  HubEndpoint,
  HubHandlers,
  NodeEndpoint,
  NodeHandlers,
  PeerInfo,
  Transport,
} from '../src/ports/index.js'
import { type ManualClock, manualClock } from '../src/util/manual-clock.js'
import { SOON } from './soon.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Records every hub callback, in order, into `log` (shared with nodes when given). */
class HubProbe {
  readonly peers = new Map<string, PeerInfo>()
  readonly frames: Array<[peerId: string, text: string]> = []
  readonly refused: Array<[PeerInfo | undefined, ConcordError]> = []
  readonly left: Array<[peerId: string, reason: string]> = []
  readonly asked: Array<[peerId: string, topic: string]> = []
  allow: (peer: PeerInfo, topic: string) => boolean = () => true
  readonly handlers: HubHandlers

  constructor(readonly log: string[] = []) {
    this.handlers = {
      peerJoined: (peer) => {
        this.peers.set(peer.id, peer)
        this.log.push(`hub:joined:${peer.identity}`)
      },
      peerLeft: (peer, reason) => {
        this.peers.delete(peer.id)
        this.left.push([peer.id, reason])
        this.log.push(`hub:left:${peer.identity}:${reason}`)
      },
      frame: (peer, frame) => {
        this.frames.push([peer.id, dec(frame)])
        this.log.push(`hub:frame:${dec(frame)}`)
      },
      authorizeSubscription: (peer, topic) => {
        this.asked.push([peer.id, topic])
        this.log.push(`hub:authorize:${topic}`)
        return this.allow(peer, topic)
      },
      refused: (peer, error) => {
        this.refused.push([peer, error])
      },
    }
  }

  /** The id of the one live peer with `identity`. */
  idOf(identity: string): string {
    const ids = [...this.peers.values()].filter((p) => p.identity === identity).map((p) => p.id)
    expect(ids).toHaveLength(1)
    return ids[0]!
  }
}

/** Records every node callback, in order. */
class NodeProbe {
  ups = 0
  readonly downs: string[] = []
  readonly frames: string[] = []
  readonly broadcasts: Array<[topic: string, text: string]> = []
  readonly raw: Uint8Array[] = []
  readonly handlers: NodeHandlers

  constructor(
    readonly name: string,
    readonly log: string[] = [],
  ) {
    this.handlers = {
      linkUp: () => {
        this.ups++
        this.log.push(`${name}:up`)
      },
      linkDown: (reason) => {
        this.downs.push(reason)
        this.log.push(`${name}:down:${reason}`)
      },
      frame: (frame) => {
        this.frames.push(dec(frame))
        this.log.push(`${name}:frame:${dec(frame)}`)
      },
      broadcast: (topic, frame) => {
        this.raw.push(frame)
        this.broadcasts.push([topic, dec(frame)])
        this.log.push(`${name}:broadcast:${topic}:${dec(frame)}`)
      },
    }
  }

  /** True when the link is up (ups outnumber downs). */
  get up(): boolean {
    return this.ups > this.downs.length
  }
}

/** `vi.waitFor`, polling every millisecond: delivery takes a turn or two of the event loop. */
const until = <T>(check: () => T): Promise<T> => vi.waitFor(check, { timeout: SOON, interval: 1 })

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

async function listen(transport: Transport, probe: HubProbe, address = 'memory://hub'): Promise<HubEndpoint> {
  const hub = await transport.listen(address, probe.handlers)
  closers.push(() => hub.close())
  return hub
}

async function connect(
  transport: Transport,
  probe: NodeProbe,
  options: { identity?: string; backoff?: (n: number) => number; address?: string } = {},
): Promise<NodeEndpoint> {
  const node = await transport.connect(options.address ?? 'memory://hub', probe.handlers, {
    backoff: options.backoff ?? constantBackoff(10),
    ...(options.identity === undefined ? {} : { identity: options.identity }),
  })
  closers.push(() => node.close())
  return node
}

/** A hub and `names.length` linked nodes (identity = name) on one transport. */
async function setup(names: string[], transport: MemoryTransport = memoryTransport()) {
  const log: string[] = []
  const hubProbe = new HubProbe(log)
  const hub = await listen(transport, hubProbe)
  const nodes: Array<{ probe: NodeProbe; endpoint: NodeEndpoint }> = []
  for (const name of names) {
    const probe = new NodeProbe(name, log)
    const endpoint = await connect(transport, probe, { identity: name })
    nodes.push({ probe, endpoint })
  }
  await until(() => {
    for (const n of nodes) expect(n.probe.up).toBe(true)
  })
  return { transport, log, hubProbe, hub, nodes }
}

/** Waits until the node's reconnect timer is on the manual clock. */
async function retryPending(clock: ManualClock, count = 1): Promise<void> {
  await until(() => expect(clock.pending()).toBe(count))
}

describe('memoryTransport', () => {
  it('declares its capabilities', () => {
    expect(memoryTransport({ maxFrameSize: 1024 }).capabilities).toEqual({
      name: 'memory',
      maxFrameSize: 1024,
      nativePrefixFilter: true,
      authentication: ['named'],
      lossy: false,
      boundedPeerQueues: true,
    })
    expect(memoryTransport().capabilities.maxFrameSize).toBe(16 * 1024 * 1024)
  })

  describe('link lifecycle', () => {
    it('connect resolves at once; then the hub gets peerJoined, then the node linkUp', async () => {
      const transport = memoryTransport()
      const log: string[] = []
      const hubProbe = new HubProbe(log)
      await listen(transport, hubProbe)
      const probe = new NodeProbe('n', log)
      await connect(transport, probe)
      expect(log).toEqual([])
      await until(() => expect(probe.ups).toBe(1))
      expect(log).toEqual(['hub:joined:anonymous', 'n:up'])
      const [peer] = [...hubProbe.peers.values()]
      expect(peer).toEqual({ id: expect.any(String), identity: 'anonymous' })
    })

    it('gives every link a fresh peer id and carries the presented identity', async () => {
      const { hubProbe, nodes } = await setup(['alice', 'bob'])
      const ids = [...hubProbe.peers.values()].map((p) => p.id)
      expect(new Set(ids).size).toBe(2)
      expect([...hubProbe.peers.values()].map((p) => p.identity).sort()).toEqual(['alice', 'bob'])
      const before = hubProbe.idOf('alice')
      nodes[0]!.endpoint.reconnect()
      await until(() => expect(nodes[0]!.probe.ups).toBe(2))
      expect(hubProbe.idOf('alice')).not.toBe(before)
    })

    it('rejects an invalid address or options', async () => {
      const transport = memoryTransport()
      const probe = new NodeProbe('n')
      await expect(transport.listen('tcp://x', new HubProbe().handlers)).rejects.toThrow(TypeError)
      await expect(
        transport.connect('memory://', probe.handlers, { backoff: constantBackoff(1) }),
      ).rejects.toThrow(TypeError)
      await expect(
        transport.connect('memory://hub', probe.handlers, {} as unknown as { backoff: () => number }),
      ).rejects.toThrow(TypeError)
    })

    it('listening on a live address rejects; the address is free again after close', async () => {
      const transport = memoryTransport()
      const hub = await transport.listen('memory://a', new HubProbe().handlers)
      await expect(transport.listen('memory://a', new HubProbe().handlers)).rejects.toBeInstanceOf(
        UnavailableError,
      )
      await hub.close()
      const again = await transport.listen('memory://a', new HubProbe().handlers)
      expect(again.address).toBe('memory://a')
      await again.close()
    })

    it('aborting the signal closes the endpoint; an aborted signal rejects at once', async () => {
      const transport = memoryTransport()
      const hubSignal = new AbortController()
      const hubProbe = new HubProbe()
      const hub = await transport.listen('memory://hub', hubProbe.handlers, { signal: hubSignal.signal })
      closers.push(() => hub.close())
      const nodeSignal = new AbortController()
      const probe = new NodeProbe('n')
      const node = await transport.connect('memory://hub', probe.handlers, {
        backoff: constantBackoff(10),
        signal: nodeSignal.signal,
      })
      await until(() => expect(probe.ups).toBe(1))
      nodeSignal.abort()
      await until(() => expect(hubProbe.left.map(([, r]) => r)).toEqual(['closed']))
      expect(node.send(enc('x'))).toBe(false)
      hubSignal.abort()
      await until(() => expect(transport.network.addresses()).toEqual([]))
      await expect(
        transport.connect('memory://hub', probe.handlers, {
          backoff: constantBackoff(1),
          signal: nodeSignal.signal,
        }),
      ).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    })

    it('memory://* listens on a fresh address', async () => {
      const transport = memoryTransport()
      const a = await listen(transport, new HubProbe(), 'memory://*')
      const b = await listen(transport, new HubProbe(), 'memory://*')
      expect(a.address).toMatch(/^memory:\/\/.+/)
      expect(a.address).not.toBe(b.address)
      expect(transport.network.addresses().sort()).toEqual([a.address, b.address].sort())
    })

    it('has no global registry: separate transports do not see each other, a shared network does', async () => {
      const clock = manualClock()
      const a = memoryTransport({ clock })
      const b = memoryTransport({ clock })
      await listen(a, new HubProbe())
      const lonely = new NodeProbe('lonely')
      await connect(b, lonely)
      await retryPending(clock)
      expect(lonely.ups).toBe(0)

      const network = memoryNetwork()
      const hubSide = memoryTransport({ network })
      const nodeSide = memoryTransport({ network })
      const hubProbe = new HubProbe()
      await listen(hubSide, hubProbe)
      const probe = new NodeProbe('n')
      await connect(nodeSide, probe)
      await until(() => expect(probe.ups).toBe(1))
      expect(hubProbe.peers.size).toBe(1)
      expect(hubSide.stats).toBe(nodeSide.stats)
      expect(() => memoryTransport({ network, seed: 3 })).toThrow(TypeError)
    })
  })

  describe('frames', () => {
    it('delivers asynchronously and in order, both ways', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      const peerId = hubProbe.idOf('n')
      for (let i = 0; i < 5; i++) expect(endpoint.send(enc(`up${i}`))).toBe(true)
      for (let i = 0; i < 5; i++) expect(hub.send(peerId, enc(`down${i}`))).toBe(true)
      // Nothing is delivered inside send.
      expect(hubProbe.frames).toEqual([])
      expect(probe.frames).toEqual([])
      await until(() => expect(probe.frames).toHaveLength(5))
      await until(() => expect(hubProbe.frames).toHaveLength(5))
      expect(hubProbe.frames).toEqual([0, 1, 2, 3, 4].map((i) => [peerId, `up${i}`]))
      expect(probe.frames).toEqual([0, 1, 2, 3, 4].map((i) => `down${i}`))
    })

    it('copies frames on send, so the sender may reuse its buffer', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const buffer = enc('aaa')
      nodes[0]!.endpoint.send(buffer)
      hub.send(hubProbe.idOf('n'), buffer)
      buffer.set(enc('zzz'))
      await until(() => expect(hubProbe.frames).toHaveLength(1))
      await until(() => expect(nodes[0]!.probe.frames).toHaveLength(1))
      expect(hubProbe.frames[0]![1]).toBe('aaa')
      expect(nodes[0]!.probe.frames[0]).toBe('aaa')
    })

    it('frames sent from a handler are delivered later, never re-entrantly', async () => {
      const transport = memoryTransport()
      const log: string[] = []
      const hubProbe = new HubProbe(log)
      let hub!: HubEndpoint
      hubProbe.handlers.frame = (peer, frame) => {
        log.push(`hub:frame:${dec(frame)}`)
        hub.send(peer.id, enc(`echo-${dec(frame)}`))
        log.push('hub:frame-done')
      }
      hub = await listen(transport, hubProbe)
      const probe = new NodeProbe('n', log)
      const node = await connect(transport, probe)
      await until(() => expect(probe.ups).toBe(1))
      node.send(enc('ping'))
      await until(() => expect(probe.frames).toEqual(['echo-ping']))
      expect(log.slice(-3)).toEqual(['hub:frame:ping', 'hub:frame-done', 'n:frame:echo-ping'])
    })

    it('a drain delivers only what was queued when it began: a handler that keeps sending cannot starve the loop', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const { probe } = nodes[0]!
      const id = hubProbe.idOf('n')
      // The node's handler answers each frame with another frame to itself, 50 times.
      probe.handlers.frame = (frame) => {
        probe.frames.push(dec(frame))
        if (probe.frames.length < 50) hub.send(id, enc(`f${probe.frames.length}`))
      }
      hub.send(id, enc('f0'))
      const seenByNextTurn = await new Promise<number>((resolve) =>
        setImmediate(() => setImmediate(() => resolve(probe.frames.length))),
      )
      expect(seenByNextTurn).toBeLessThan(3)
      await until(() => expect(probe.frames).toHaveLength(50))
      expect(probe.frames).toEqual(Array.from({ length: 50 }, (_, i) => `f${i}`))
    })

    it('send returns false once the link is down or the endpoint closed', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const peerId = hubProbe.idOf('n')
      await nodes[0]!.endpoint.close()
      expect(nodes[0]!.endpoint.send(enc('x'))).toBe(false)
      expect(hub.send(peerId, enc('x'))).toBe(false)
      expect(hub.send('no-such-peer', enc('x'))).toBe(false)
    })

    it('frames still queued when a link drops are discarded, in both directions', async () => {
      const { transport, hub, hubProbe, nodes } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      endpoint.send(enc('lost-up'))
      hub.send(hubProbe.idOf('n'), enc('lost-down'))
      endpoint.reconnect()
      await until(() => expect(probe.downs).toEqual(['reconnect requested']))
      await until(() => expect(probe.ups).toBe(2))
      expect(hubProbe.frames).toEqual([])
      expect(probe.frames).toEqual([])
      expect(transport.stats.dropped.linkDown).toBe(2)
    })
  })

  describe('broadcast and subscriptions', () => {
    it('delivers by raw byte prefix, once per node, sharing one bytes object', async () => {
      const { hub, nodes } = await setup(['a', 'b', 'c'])
      const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
      await a.endpoint.subscribe('x/y')
      await a.endpoint.subscribe('x')
      await b.endpoint.subscribe('x/y')
      await c.endpoint.subscribe('other')
      hub.broadcast('x/yz', enc('1'))
      hub.broadcast('x/q', enc('2'))
      hub.broadcast('nothing', enc('3'))
      await until(() => expect(a.probe.broadcasts).toHaveLength(2))
      await until(() => expect(b.probe.broadcasts).toHaveLength(1))
      expect(a.probe.broadcasts).toEqual([
        ['x/yz', '1'],
        ['x/q', '2'],
      ])
      // Raw prefix: 'x/y' receives 'x/yz' (core filters whole segments).
      expect(b.probe.broadcasts).toEqual([['x/yz', '1']])
      expect(a.probe.raw[0]).toBe(b.probe.raw[0])
      await new Promise((r) => setImmediate(r))
      expect(c.probe.broadcasts).toEqual([])
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
      await until(() => expect(probe.log.filter((e) => /frame|broadcast/.test(e))).toHaveLength(4))
      expect(probe.log.filter((e) => /frame|broadcast/.test(e))).toEqual([
        'n:frame:u1',
        'n:broadcast:t:b1',
        'n:frame:u2',
        'n:broadcast:t:b2',
      ])
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
      const clock = manualClock()
      const transport = memoryTransport({ clock })
      const probe = new NodeProbe('n')
      const node = await connect(transport, probe)
      let resolved = false
      const subscribed = node.subscribe('t').then(() => {
        resolved = true
      })
      await retryPending(clock)
      expect(resolved).toBe(false)
      const hubProbe = new HubProbe()
      const hub = await listen(transport, hubProbe)
      clock.advance(10)
      await subscribed
      expect(hubProbe.asked.map(([, t]) => t)).toEqual(['t'])
      hub.broadcast('t/1', enc('hello'))
      await until(() => expect(probe.broadcasts).toEqual([['t/1', 'hello']]))
    })

    it('unsubscribe stops delivery, rejects a pending subscribe, and is idempotent', async () => {
      const { hub, nodes } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      endpoint.unsubscribe('t')
      endpoint.unsubscribe('t')
      hub.broadcast('t', enc('x'))
      const pending = endpoint.subscribe('u')
      endpoint.unsubscribe('u')
      await expect(pending).rejects.toBeInstanceOf(ClosedError)
      await new Promise((r) => setImmediate(r))
      await new Promise((r) => setImmediate(r))
      expect(probe.broadcasts).toEqual([])
    })

    it('subscriptions survive reconnects and are re-authorized before any broadcast', async () => {
      const clock = manualClock()
      const { hub, hubProbe, nodes, log } = await setup(['n'], memoryTransport({ clock }))
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      endpoint.reconnect()
      await until(() => expect(probe.downs).toHaveLength(1))
      expect(hubProbe.left.map(([, r]) => r)).toEqual(['reconnect requested'])
      log.length = 0
      clock.advance(10)
      expect(log).toEqual(['hub:joined:n', 'hub:authorize:t', 'n:up'])
      hub.broadcast('t', enc('after'))
      await until(() => expect(probe.broadcasts).toEqual([['t', 'after']]))
    })

    it('a subscription refused on re-authorization delivers nothing on that link', async () => {
      const clock = manualClock()
      const { hub, hubProbe, nodes } = await setup(['n'], memoryTransport({ clock }))
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      hubProbe.allow = () => false
      endpoint.reconnect()
      await retryPending(clock)
      clock.advance(10)
      expect(probe.ups).toBe(2)
      hub.broadcast('t', enc('no'))
      await new Promise((r) => setImmediate(r))
      await new Promise((r) => setImmediate(r))
      expect(probe.broadcasts).toEqual([])
    })
  })

  describe('reconnect and backoff', () => {
    it('retries per backoff on the clock until the hub listens, then resets the attempt count', async () => {
      const clock = manualClock()
      const transport = memoryTransport({ clock })
      const attempts: number[] = []
      const backoff = (n: number): number => {
        attempts.push(n)
        return 100 * n
      }
      const probe = new NodeProbe('n')
      const node = await connect(transport, probe, { backoff })
      await retryPending(clock)
      expect(attempts).toEqual([1])
      clock.advance(99)
      expect(attempts).toEqual([1])
      clock.advance(1)
      expect(attempts).toEqual([1, 2])
      clock.advance(200)
      expect(attempts).toEqual([1, 2, 3])
      const hubProbe = new HubProbe()
      const hub = await listen(transport, hubProbe)
      clock.advance(299)
      expect(probe.ups).toBe(0)
      clock.advance(1)
      expect(probe.ups).toBe(1)

      hub.disconnect(hubProbe.idOf('anonymous'), 'go away')
      await until(() => expect(probe.downs).toEqual(['go away']))
      expect(hubProbe.left.map(([, r]) => r)).toEqual(['go away'])
      expect(attempts).toEqual([1, 2, 3, 1])
      clock.advance(100)
      expect(probe.ups).toBe(2)
      expect(node.send(enc('x'))).toBe(true)
    })

    it('stops retrying after close', async () => {
      const clock = manualClock()
      const transport = memoryTransport({ clock })
      const node = await connect(transport, new NodeProbe('n'))
      await retryPending(clock)
      await node.close()
      expect(clock.pending()).toBe(0)
    })
  })

  describe('identities', () => {
    it('refuses links from identities not allowed: no linkUp, the hub never sees them', async () => {
      const clock = manualClock()
      const transport = memoryTransport({ clock, identities: ['alice'] })
      const hubProbe = new HubProbe()
      await listen(transport, hubProbe)
      const mallory = new NodeProbe('mallory')
      const alice = new NodeProbe('alice')
      await connect(transport, mallory, { identity: 'mallory' })
      await connect(transport, alice, { identity: 'alice' })
      await until(() => expect(alice.ups).toBe(1))
      await retryPending(clock)
      clock.advance(10)
      clock.advance(10)
      expect(mallory.ups).toBe(0)
      expect([...hubProbe.peers.values()].map((p) => p.identity)).toEqual(['alice'])
      expect(transport.stats.links.refused).toBe(3)
    })
  })

  describe('bounded queues (S6.5)', () => {
    it('a node that stops reading fills its queue; then sends fail and broadcasts skip it only', async () => {
      const transport = memoryTransport({ peerQueueLimit: 3 })
      const { hub, hubProbe, nodes } = await setup(['slow', 'fast'], transport)
      const [slow, fast] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
      await slow.endpoint.subscribe('')
      await fast.endpoint.subscribe('')
      transport.faults.pause('slow')
      const slowId = hubProbe.idOf('slow')
      for (let i = 0; i < 3; i++) hub.broadcast('t', enc(`b${i}`))
      await until(() => expect(fast.probe.broadcasts).toHaveLength(3))
      // The fast node drained its queue; the slow one's is full.
      hub.broadcast('t', enc('b3'))
      expect(hub.send(slowId, enc('u'))).toBe(false)
      await until(() => expect(fast.probe.broadcasts).toHaveLength(4))
      expect(slow.probe.broadcasts).toEqual([])
      expect(transport.stats.peer(slowId)?.toNode.dropped.queueFull).toBe(2)
      expect(transport.stats.peer(hubProbe.idOf('fast'))?.toNode.dropped.queueFull).toBe(0)
      expect(transport.stats.toNode.dropped.queueFull).toBe(2)

      transport.faults.resume('slow')
      await until(() => expect(slow.probe.broadcasts.map(([, t]) => t)).toEqual(['b0', 'b1', 'b2']))
    })

    it('bounds the node→hub direction too', async () => {
      const transport = memoryTransport({ peerQueueLimit: 2 })
      const { hubProbe, nodes } = await setup(['n'], transport)
      const { endpoint } = nodes[0]!
      expect([1, 2, 3].map((i) => endpoint.send(enc(`${i}`)))).toEqual([true, true, false])
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['1', '2']))
      expect(transport.stats.toHub.dropped.queueFull).toBe(1)
      expect(endpoint.send(enc('4'))).toBe(true)
    })
  })

  describe('maxFrameSize', () => {
    it('a node frame over the limit is refused: send false, hub.refused gets TooLargeError', async () => {
      const transport = memoryTransport({ maxFrameSize: 4 })
      const { hubProbe, nodes } = await setup(['n'], transport)
      expect(nodes[0]!.endpoint.send(enc('12345'))).toBe(false)
      expect(nodes[0]!.endpoint.send(enc('1234'))).toBe(true)
      await until(() => expect(hubProbe.refused).toHaveLength(1))
      const [peer, error] = hubProbe.refused[0]!
      expect(peer?.identity).toBe('n')
      expect(error).toBeInstanceOf(TooLargeError)
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['1234']))
      expect(transport.stats.toHub.dropped.tooLarge).toBe(1)
    })

    it('a hub frame over the limit is not sent: send false, nothing delivered', async () => {
      const transport = memoryTransport({ maxFrameSize: 4 })
      const { hub, hubProbe, nodes } = await setup(['n'], transport)
      await nodes[0]!.endpoint.subscribe('')
      expect(hub.send(hubProbe.idOf('n'), enc('12345'))).toBe(false)
      hub.broadcast('t', enc('12345'))
      hub.broadcast('t', enc('ok'))
      await until(() => expect(nodes[0]!.probe.broadcasts).toEqual([['t', 'ok']]))
      expect(nodes[0]!.probe.frames).toEqual([])
      expect(transport.stats.toNode.dropped.tooLarge).toBe(2)
    })
  })

  describe('close', () => {
    it('node close: the hub sees peerLeft, the node hears nothing more, calls fail', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'])
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('')
      const id = hubProbe.idOf('n')
      hub.send(id, enc('in-flight'))
      await endpoint.close()
      await endpoint.close()
      await until(() => expect(hubProbe.left).toEqual([[id, 'closed']]))
      hub.broadcast('t', enc('x'))
      await new Promise((r) => setImmediate(r))
      expect(probe.downs).toEqual([])
      expect(probe.frames).toEqual([])
      expect(probe.broadcasts).toEqual([])
      await expect(endpoint.subscribe('t')).rejects.toBeInstanceOf(ClosedError)
    })

    it('hub close: nodes see linkDown, peerLeft comes before close resolves, nothing after', async () => {
      const clock = manualClock()
      const { hub, hubProbe, nodes } = await setup(['a', 'b'], memoryTransport({ clock }))
      nodes[0]!.endpoint.send(enc('late'))
      await hub.close()
      expect(hubProbe.left.map(([, r]) => r)).toEqual(['hub closed', 'hub closed'])
      await until(() => {
        for (const n of nodes) expect(n.probe.downs).toEqual(['hub closed'])
      })
      expect(nodes[0]!.endpoint.send(enc('x'))).toBe(false)
      expect(hubProbe.frames).toEqual([])
      await hub.close()
    })

    it('a pending subscribe rejects with ClosedError when the node closes', async () => {
      const clock = manualClock()
      const transport = memoryTransport({ clock })
      const node = await connect(transport, new NodeProbe('n'))
      const pending = node.subscribe('t')
      await node.close()
      await expect(pending).rejects.toBeInstanceOf(ClosedError)
    })
  })

  describe('faults', () => {
    it('drop(p) loses frames silently (send still returns true), filtered by direction', async () => {
      const transport = memoryTransport()
      const { hub, hubProbe, nodes } = await setup(['n'], transport)
      const { probe, endpoint } = nodes[0]!
      transport.faults.drop(1, { direction: 'toNode' })
      expect(hub.send(hubProbe.idOf('n'), enc('gone'))).toBe(true)
      expect(endpoint.send(enc('kept'))).toBe(true)
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['kept']))
      expect(probe.frames).toEqual([])
      expect(transport.stats.toNode.dropped.fault).toBe(1)
      expect(transport.stats.toNode.sent.frames).toBe(1)
    })

    it('filters by node identity and by kind; the returned function removes the rule', async () => {
      const transport = memoryTransport()
      const { hub, hubProbe, nodes } = await setup(['a', 'b'], transport)
      const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
      await a.endpoint.subscribe('')
      await b.endpoint.subscribe('')
      const remove = transport.faults.drop(1, { node: 'a', kind: 'broadcast' })
      hub.broadcast('t', enc('1'))
      hub.send(hubProbe.idOf('a'), enc('u'))
      await until(() => expect(b.probe.broadcasts).toHaveLength(1))
      await until(() => expect(a.probe.frames).toEqual(['u']))
      expect(a.probe.broadcasts).toEqual([])
      remove()
      remove()
      hub.broadcast('t', enc('2'))
      await until(() => expect(a.probe.broadcasts).toEqual([['t', '2']]))
    })

    it('a node endpoint selects just that node', async () => {
      const transport = memoryTransport()
      const { hubProbe, nodes } = await setup(['same', 'same'], transport)
      const [x, y] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
      transport.faults.drop(1, { node: x.endpoint })
      x.endpoint.send(enc('x'))
      y.endpoint.send(enc('y'))
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['y']))
    })

    it('duplicate(1) delivers every frame twice, back to back', async () => {
      const transport = memoryTransport()
      const { hubProbe, nodes } = await setup(['n'], transport)
      transport.faults.duplicate(1)
      nodes[0]!.endpoint.send(enc('a'))
      nodes[0]!.endpoint.send(enc('b'))
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['a', 'a', 'b', 'b']))
      expect(transport.stats.faults.duplicated).toBe(2)
    })

    it('reorder(1) swaps each frame with the one queued before it', async () => {
      const transport = memoryTransport()
      const { hubProbe, nodes } = await setup(['n'], transport)
      transport.faults.reorder(1)
      for (const s of ['1', '2', '3', '4']) nodes[0]!.endpoint.send(enc(s))
      // 1; 2 slips before 1; 3 slips before 1; 4 slips before 1.
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['2', '3', '4', '1']))
    })

    it('delay holds frames on the clock and keeps the link FIFO', async () => {
      const clock = manualClock()
      const transport = memoryTransport({ clock })
      const { hubProbe, nodes } = await setup(['n'], transport)
      const remove = transport.faults.delay(50, 50, { direction: 'toHub' })
      nodes[0]!.endpoint.send(enc('held'))
      remove()
      nodes[0]!.endpoint.send(enc('behind'))
      await new Promise((r) => setImmediate(r))
      await new Promise((r) => setImmediate(r))
      expect(hubProbe.frames).toEqual([])
      clock.advance(49)
      await new Promise((r) => setImmediate(r))
      expect(hubProbe.frames).toEqual([])
      clock.advance(1)
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['held', 'behind']))
    })

    it('is deterministic for a seed', async () => {
      async function run(seed: number): Promise<string[]> {
        const transport = memoryTransport({ seed })
        const { hubProbe, nodes } = await setup(['n'], transport)
        transport.faults.drop(0.5)
        for (let i = 0; i < 40; i++) nodes[0]!.endpoint.send(enc(`${i}`))
        await until(() =>
          expect(transport.stats.toHub.delivered.frames + transport.stats.dropped.fault).toBe(40),
        )
        return hubProbe.frames.map(([, t]) => t)
      }
      const first = await run(7)
      expect(await run(7)).toEqual(first)
      expect(await run(8)).not.toEqual(first)
      expect(first.length).toBeGreaterThan(5)
      expect(first.length).toBeLessThan(35)
    })

    it('partition drops the link and keeps it down until heal', async () => {
      const clock = manualClock()
      const transport = memoryTransport({ clock })
      const { hubProbe, nodes } = await setup(['p', 'q'], transport)
      const [p, q] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
      expect(transport.faults.partition('p')).toBe(1)
      await until(() => expect(p.probe.downs).toEqual(['partitioned']))
      expect(hubProbe.left.map(([, r]) => r)).toEqual(['partitioned'])
      expect(p.endpoint.send(enc('x'))).toBe(false)
      clock.advance(10)
      clock.advance(10)
      expect(p.probe.ups).toBe(1)
      expect(q.probe.up).toBe(true)
      transport.faults.heal('p')
      clock.advance(10)
      expect(p.probe.ups).toBe(2)
    })

    it('kill drops the link; the node comes back per backoff', async () => {
      const clock = manualClock()
      const transport = memoryTransport({ clock })
      const { hubProbe, nodes } = await setup(['k'], transport)
      const { probe, endpoint } = nodes[0]!
      expect(transport.faults.kill(endpoint)).toBe(1)
      await until(() => expect(probe.downs).toEqual(['killed']))
      expect(hubProbe.left.map(([, r]) => r)).toEqual(['killed'])
      clock.advance(10)
      expect(probe.ups).toBe(2)
      expect(transport.faults.kill('nobody')).toBe(0)
    })

    it('killHub: no peerLeft, the address is free, nodes see linkDown and come back to a new hub', async () => {
      const clock = manualClock()
      const transport = memoryTransport({ clock })
      const { hub, hubProbe, nodes } = await setup(['a', 'b'], transport)
      await nodes[0]!.endpoint.subscribe('t')
      nodes[0]!.endpoint.send(enc('lost'))
      expect(transport.faults.killHub('memory://hub')).toBe(true)
      expect(transport.faults.killHub('memory://hub')).toBe(false)
      await until(() => {
        for (const n of nodes) expect(n.probe.downs).toEqual(['hub killed'])
      })
      expect(hubProbe.left).toEqual([])
      expect(hubProbe.frames).toEqual([])
      expect(hub.send('peer-1', enc('x'))).toBe(false)
      await hub.close()

      const reborn = new HubProbe()
      const hub2 = await listen(transport, reborn)
      clock.advance(10)
      expect(nodes.map((n) => n.probe.ups)).toEqual([2, 2])
      expect(reborn.asked.map(([, t]) => t)).toEqual(['t'])
      hub2.broadcast('t', enc('again'))
      await until(() => expect(nodes[0]!.probe.broadcasts).toEqual([['t', 'again']]))
    })

    it('clear() removes every fault', async () => {
      const clock = manualClock()
      const transport = memoryTransport({ clock })
      const { hubProbe, nodes } = await setup(['n'], transport)
      transport.faults.drop(1)
      transport.faults.partition('n')
      await until(() => expect(nodes[0]!.probe.downs).toHaveLength(1))
      transport.faults.clear()
      clock.advance(10)
      expect(nodes[0]!.probe.ups).toBe(2)
      nodes[0]!.endpoint.send(enc('through'))
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['through']))
    })
  })

  it('stats count frames and bytes sent and delivered, per peer and in total', async () => {
    const transport = memoryTransport()
    const { hub, hubProbe, nodes } = await setup(['n'], transport)
    const id = hubProbe.idOf('n')
    nodes[0]!.endpoint.send(enc('abc'))
    hub.send(id, enc('de'))
    await until(() => expect(transport.stats.delivered).toEqual({ frames: 2, bytes: 5 }))
    expect(transport.stats.sent).toEqual({ frames: 2, bytes: 5 })
    expect(transport.stats.peer(id)?.toHub.delivered).toEqual({ frames: 1, bytes: 3 })
    expect(transport.stats.peer(id)?.toNode.sent).toEqual({ frames: 1, bytes: 2 })
    expect(transport.stats.links.established).toBe(1)
    transport.stats.reset()
    expect(transport.stats.delivered).toEqual({ frames: 0, bytes: 0 })
    expect(transport.stats.peers()).toEqual([])
  })
})
