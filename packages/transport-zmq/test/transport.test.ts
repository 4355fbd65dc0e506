import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ClosedError,
  constantBackoff,
  ForbiddenError,
  type PeerInfo,
  Tokens,
  UnavailableError,
} from '@concord/core'
import { manualClock } from '@concord/core/testing'
import { describe, expect, it } from 'vitest'
import { type ZmqHubEndpoint, zmqModule, zmqTransport } from '../src/index.js'
import {
  cleanup,
  connect,
  dec,
  enc,
  HubProbe,
  listen,
  NodeProbe,
  RawNode,
  setup,
  turns,
  until,
} from './helpers.js'

describe('zmqTransport', () => {
  it('declares its capabilities', () => {
    expect(zmqTransport({ maxFrameSize: 1024 }).capabilities).toEqual({
      name: 'zmq',
      maxFrameSize: 1024,
      nativePrefixFilter: true,
      authentication: ['none', 'curve'],
      lossy: false,
      boundedPeerQueues: true,
    })
    expect(zmqTransport().capabilities.maxFrameSize).toBe(16 * 1024 * 1024)
  })

  it('validates its options without doing any I/O', () => {
    expect(() => zmqTransport({ highWaterMark: 0 })).toThrow(RangeError)
    expect(() => zmqTransport({ maxFrameSize: 1.5 })).toThrow(RangeError)
    expect(() => zmqTransport({ curve: { server: { publicKey: 'x', secretKey: 'y' } } })).toThrow(TypeError)
    expect(() => zmqTransport({ curve: { clients: new Map() } })).toThrow(/needs curve.server/)
    expect(() => zmqTransport({ curve: { serverKey: 'nope' } })).toThrow(/serverKey/)
  })

  it('exports a container module binding Tokens.Transport', async () => {
    const { Container } = await import('inversify')
    const container = new Container()
    container.load(zmqModule({ maxFrameSize: 2048 }))
    expect(container.get(Tokens.Transport).capabilities).toMatchObject({ name: 'zmq', maxFrameSize: 2048 })
  })

  describe('link lifecycle', () => {
    it('connect resolves at once; then the hub gets peerJoined, then the node linkUp', async () => {
      const transport = zmqTransport()
      const log: string[] = []
      const hubProbe = new HubProbe(log)
      const hub = await listen(transport, hubProbe)
      expect(hub.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
      expect(hub.address).not.toBe('tcp://127.0.0.1:0')
      const probe = new NodeProbe('n', log)
      await connect(transport, hub.address, probe)
      expect(log).toEqual([])
      await until(() => expect(probe.ups).toBe(1))
      expect(log).toEqual(['hub:joined:anonymous', 'n:up'])
      expect([...hubProbe.peers.values()]).toEqual([{ id: expect.any(String), identity: 'anonymous' }])
    })

    it('gives every link a fresh peer id and carries the presented (unauthenticated) identity', async () => {
      const { hubProbe, nodes } = await setup(['alice', 'bob'], zmqTransport())
      const ids = [...hubProbe.peers.values()].map((p) => p.id)
      expect(new Set(ids).size).toBe(2)
      expect([...hubProbe.peers.values()].map((p) => p.identity).sort()).toEqual(['alice', 'bob'])
      const before = hubProbe.idOf('alice')
      nodes[0]!.endpoint.reconnect()
      await until(() => expect(nodes[0]!.probe.ups).toBe(2))
      expect(nodes[0]!.probe.downs).toEqual(['reconnect requested'])
      expect(hubProbe.idOf('alice')).not.toBe(before)
      await until(() => expect(hubProbe.left).toEqual([[before, 'reconnect requested']]))
    })

    it('rejects invalid addresses and options', async () => {
      const transport = zmqTransport()
      const probe = new NodeProbe('n')
      const handlers = new HubProbe().handlers
      await expect(transport.listen('memory://x', handlers)).rejects.toThrow(TypeError)
      await expect(transport.listen('tcp://127.0.0.1', handlers)).rejects.toThrow(TypeError)
      await expect(transport.listen('tcp://127.0.0.1:99999', handlers)).rejects.toThrow(TypeError)
      await expect(
        transport.connect('tcp://127.0.0.1:0', probe.handlers, { backoff: constantBackoff(1) }),
      ).rejects.toThrow(TypeError)
      await expect(
        transport.connect('tcp://127.0.0.1:7', probe.handlers, {} as unknown as { backoff: () => number }),
      ).rejects.toThrow(TypeError)
    })

    it('without CURVE keys refuses non-loopback addresses unless allowRemote', async () => {
      const transport = zmqTransport()
      const handlers = new HubProbe().handlers
      await expect(transport.listen('tcp://0.0.0.0:0', handlers)).rejects.toThrow(/without CURVE keys/)
      await expect(transport.listen('tcp://*:0', handlers)).rejects.toThrow(/without CURVE keys/)
      await expect(
        transport.connect('tcp://192.0.2.1:7420', new NodeProbe('n').handlers, {
          backoff: constantBackoff(1),
        }),
      ).rejects.toThrow(/without CURVE keys/)
      // Loopback in its other spellings is fine.
      const hub = await listen(transport, new HubProbe(), 'tcp://localhost:0')
      expect(hub.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
      const remote = zmqTransport({ allowRemote: true })
      const node = await remote
        .connect('tcp://192.0.2.1:7420', new NodeProbe('n').handlers, {
          backoff: constantBackoff(10_000),
          signal: AbortSignal.abort(),
        })
        .catch((e: unknown) => e)
      // Passed the address check; only the (already aborted) signal stopped it.
      expect(node).toMatchObject({ code: 'ERR_ABORTED' })
    })

    it('listening on a live address rejects with UnavailableError; the port is free again after close', async () => {
      const transport = zmqTransport()
      const hub = await transport.listen('tcp://127.0.0.1:0', new HubProbe().handlers)
      await expect(transport.listen(hub.address, new HubProbe().handlers)).rejects.toBeInstanceOf(
        UnavailableError,
      )
      await hub.close()
      await hub.close()
      const again = await transport.listen(hub.address, new HubProbe().handlers)
      expect(again.address).toBe(hub.address)
      await again.close()
    })

    it('works over ipc://, and refuses an ipc path a live hub holds', async () => {
      const path = join(tmpdir(), `concord-zmq-${process.pid}-${Date.now()}.sock`)
      cleanup(() => rmSync(path, { force: true }))
      const transport = zmqTransport()
      const hubProbe = new HubProbe()
      const hub = await listen(transport, hubProbe, `ipc://${path}`)
      expect(hub.address).toBe(`ipc://${path}`)
      await expect(transport.listen(`ipc://${path}`, new HubProbe().handlers)).rejects.toBeInstanceOf(
        UnavailableError,
      )
      const probe = new NodeProbe('n')
      const node = await connect(transport, hub.address, probe)
      await until(() => expect(probe.ups).toBe(1))
      node.send(enc('over ipc'))
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['over ipc']))
    })

    it('aborting the signal closes the endpoint; an aborted signal rejects at once', async () => {
      const transport = zmqTransport()
      const hubSignal = new AbortController()
      const hubProbe = new HubProbe()
      const hub = await transport.listen('tcp://127.0.0.1:0', hubProbe.handlers, { signal: hubSignal.signal })
      cleanup(() => hub.close())
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
      hubSignal.abort()
      await until(async () => {
        const again = await transport.listen(hub.address, new HubProbe().handlers)
        await again.close()
      })
      await expect(
        transport.listen('tcp://127.0.0.1:0', hubProbe.handlers, { signal: nodeSignal.signal }),
      ).rejects.toMatchObject({ code: 'ERR_ABORTED' })
      await expect(
        transport.connect(hub.address, probe.handlers, {
          backoff: constantBackoff(1),
          signal: nodeSignal.signal,
        }),
      ).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    })
  })

  describe('frames', () => {
    it('delivers asynchronously and in order, both ways', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'], zmqTransport())
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

    it('copies frames on send, so the sender may reuse its buffer', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'], zmqTransport())
      await nodes[0]!.endpoint.subscribe('t')
      // Split into copied parts, and one part of its own.
      const sizes = [1000, 100_000]
      for (const size of sizes) {
        const buffer = new Uint8Array(size).fill(97)
        nodes[0]!.endpoint.send(buffer)
        hub.send(hubProbe.idOf('n'), buffer)
        hub.broadcast('t', buffer)
        buffer.fill(122)
      }
      await until(() => expect(hubProbe.frames).toHaveLength(2))
      await until(() => expect(nodes[0]!.probe.frames).toHaveLength(2))
      expect(hubProbe.frames.map(([, text]) => text)).toEqual(sizes.map((size) => 'a'.repeat(size)))
      expect(nodes[0]!.probe.frames).toEqual(sizes.map((size) => 'a'.repeat(size)))
      await until(() => expect(nodes[0]!.probe.broadcasts).toHaveLength(2))
      expect(nodes[0]!.probe.broadcasts).toEqual(sizes.map((size) => ['t', 'a'.repeat(size)]))
    })

    it('frames of every size arrive whole, whether sent in one part or split into 128-byte parts', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'], zmqTransport())
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      const sizes = [1, 127, 128, 129, 256, 1000, 1023, 1024, 1025, 5000]
      const text = (size: number) =>
        Array.from({ length: size }, (_, i) => String.fromCharCode(97 + (i % 26))).join('')
      for (const size of sizes) {
        endpoint.send(enc(text(size)))
        hub.send(hubProbe.idOf('n'), enc(text(size)))
        hub.broadcast('t', enc(text(size)))
      }
      await until(() => expect(probe.broadcasts).toHaveLength(sizes.length))
      expect(hubProbe.frames.map(([, t]) => t)).toEqual(sizes.map(text))
      expect(probe.frames).toEqual(sizes.map(text))
      expect(probe.broadcasts).toEqual(sizes.map((size) => ['t', text(size)]))
    })

    it('send returns false once the link is down or the endpoint closed', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'], zmqTransport())
      const peerId = hubProbe.idOf('n')
      await nodes[0]!.endpoint.close()
      expect(nodes[0]!.endpoint.send(enc('x'))).toBe(false)
      await until(() => expect(hubProbe.left).toEqual([[peerId, 'closed']]))
      expect(hub.send(peerId, enc('x'))).toBe(false)
      expect(hub.send('no-such-peer', enc('x'))).toBe(false)
    })
  })

  describe('broadcast and subscriptions', () => {
    it('delivers by raw byte prefix, once per node: a/b also gets a/bc (a superset; core filters)', async () => {
      const { hub, nodes } = await setup(['a', 'b', 'c'], zmqTransport())
      const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
      await a.endpoint.subscribe('x/y')
      await a.endpoint.subscribe('x')
      await b.endpoint.subscribe('x/y')
      await c.endpoint.subscribe('other')
      hub.broadcast('x/yz', enc('1'))
      hub.broadcast('x/q', enc('2'))
      hub.broadcast('nothing', enc('3'))
      hub.broadcast('other/end', enc('4'))
      await until(() => expect(a.probe.broadcasts).toHaveLength(2))
      await until(() => expect(b.probe.broadcasts).toHaveLength(1))
      await until(() => expect(c.probe.broadcasts).toHaveLength(1))
      expect(a.probe.broadcasts).toEqual([
        ['x/yz', '1'],
        ['x/q', '2'],
      ])
      expect(b.probe.broadcasts).toEqual([['x/yz', '1']])
      expect(c.probe.broadcasts).toEqual([['other/end', '4']])
      expect(hub.stats.sent.frames).toBe(4)
    })

    it('unicast and broadcast to one node share one FIFO', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'], zmqTransport())
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('')
      const id = hubProbe.idOf('n')
      // 100 messages in one turn: more than one bundle holds.
      for (let i = 0; i < 50; i++) {
        hub.send(id, enc(`u${i}`))
        hub.broadcast('t', enc(`b${i}`))
      }
      const seen = () => probe.log.filter((e) => /frame|broadcast/.test(e))
      await until(() => expect(seen()).toHaveLength(100))
      expect(seen()).toEqual(
        Array.from({ length: 50 }, (_, i) => [`n:frame:u${i}`, `n:broadcast:t:b${i}`]).flat(),
      )
    })

    it('what the hub sends a node in one turn leaves as one ZeroMQ message (a bundle), in order', async () => {
      const { hub, hubProbe } = await setup([], zmqTransport())
      const raw = new RawNode(hub.address)
      raw.read()
      raw.hello({ name: 'raw', subs: ['t'] })
      await until(() => expect(hubProbe.peers.size).toBe(1))
      const id = hubProbe.idOf('raw')
      // A write's acknowledgement and its broadcast, as a hub sends them.
      hub.send(id, enc('ack'))
      hub.broadcast('t', enc('mutation'))
      await until(() => expect(raw.kinds()).toEqual(['W', 'M']))
      const [, layout, ...rest] = raw.received[1]!
      expect([...layout!]).toEqual([0x44, 1, 0x54, 1])
      expect(rest.map((part) => part.toString())).toEqual(['ack', 't', 'mutation'])
      // Alone in its turn, a message goes as itself.
      hub.send(id, enc('alone'))
      await until(() => expect(raw.kinds()).toEqual(['W', 'M', 'D']))
    })

    it('a handler that throws on one message of a bundle loses neither the rest nor their credit', async () => {
      const hubProbe = new HubProbe()
      const transport = zmqTransport()
      const hub = await listen(transport, hubProbe)
      const probe = new NodeProbe('n')
      // Handlers must not throw; one that does loses only its own message, as unbundled.
      const handlers = {
        ...probe.handlers,
        frame: (bytes: Uint8Array) => {
          probe.handlers.frame(bytes)
          if (dec(bytes) === 'boom') throw new Error('a buggy handler')
        },
      }
      const endpoint = await transport.connect(hub.address, handlers, {
        identity: 'n',
        backoff: constantBackoff(20),
      })
      cleanup(() => endpoint.close())
      await endpoint.subscribe('t')
      const id = hubProbe.idOf('n')
      hub.send(id, enc('boom'))
      hub.send(id, enc('after'))
      hub.broadcast('t', enc('broadcast'))
      await until(() => expect(probe.broadcasts).toEqual([['t', 'broadcast']]))
      expect(probe.frames).toEqual(['boom', 'after'])
      // Every frame's credit went back: the hub's window for the node is empty again.
      await until(() => expect(hub.peerStats(id)!.queued.frames).toBe(0))
    })

    it('asks authorizeSubscription; a refusal rejects with ForbiddenError and delivers nothing', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'], zmqTransport())
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
      const transport = zmqTransport()
      // Find a free port, then leave it: the node retries until a hub listens there.
      const scout = await transport.listen('tcp://127.0.0.1:0', new HubProbe().handlers)
      const address = scout.address
      await scout.close()
      const probe = new NodeProbe('n')
      const node = await connect(transport, address, probe, { backoff: constantBackoff(10) })
      let resolved = false
      const subscribed = node.subscribe('t').then(() => {
        resolved = true
      })
      await until(() => expect(node.stats.links.failed).toBeGreaterThan(1))
      expect(resolved).toBe(false)
      const hubProbe = new HubProbe()
      const hub = await listen(transport, hubProbe, address)
      await subscribed
      expect(hubProbe.asked.map(([, t]) => t)).toEqual(['t'])
      hub.broadcast('t/1', enc('hello'))
      await until(() => expect(probe.broadcasts).toEqual([['t/1', 'hello']]))
    })

    it('unsubscribe stops delivery, rejects a pending subscribe, and is idempotent', async () => {
      const { hub, nodes } = await setup(['n'], zmqTransport())
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      await endpoint.subscribe('z')
      endpoint.unsubscribe('t')
      endpoint.unsubscribe('t')
      hub.broadcast('t', enc('x'))
      const pending = endpoint.subscribe('u')
      endpoint.unsubscribe('u')
      await expect(pending).rejects.toBeInstanceOf(ClosedError)
      hub.broadcast('z', enc('marker'))
      await until(() => expect(probe.broadcasts).toEqual([['z', 'marker']]))
    })

    it('subscriptions survive reconnects and are re-authorized before linkUp and any broadcast', async () => {
      const { hub, hubProbe, nodes, log } = await setup(['n'], zmqTransport())
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      log.length = 0
      endpoint.reconnect()
      await until(() => expect(probe.ups).toBe(2))
      expect(log.indexOf('hub:authorize:t')).toBeLessThan(log.indexOf('n:up'))
      expect(log.indexOf('hub:joined:n')).toBeLessThan(log.indexOf('hub:authorize:t'))
      hub.broadcast('t', enc('after'))
      await until(() => expect(probe.broadcasts).toEqual([['t', 'after']]))
      expect(hubProbe.peers.size).toBe(1)
    })

    it('a subscription refused on re-authorization delivers nothing on that link', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'], zmqTransport())
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('t')
      await endpoint.subscribe('ok')
      hubProbe.allow = (_, topic) => topic !== 't'
      endpoint.reconnect()
      await until(() => expect(probe.ups).toBe(2))
      hub.broadcast('t', enc('no'))
      hub.broadcast('ok', enc('marker'))
      await until(() => expect(probe.broadcasts).toEqual([['ok', 'marker']]))
      // Still kept: asked again on the next link.
      expect(endpoint.subscriptions().sort()).toEqual(['ok', 't'])
    })
  })

  describe('reconnect and backoff', () => {
    it('retries per the injected backoff on the clock, resets the count after a link, and heals after disconnect', async () => {
      const clock = manualClock()
      const transport = zmqTransport({ clock })
      const scout = await transport.listen('tcp://127.0.0.1:0', new HubProbe().handlers)
      const address = scout.address
      await scout.close()
      const attempts: number[] = []
      const backoff = (n: number): number => {
        attempts.push(n)
        return 100 * n
      }
      const probe = new NodeProbe('n')
      const node = await connect(transport, address, probe, { backoff })
      // Attempt 1 fails (nothing listens): backoff(1) is asked and its timer set.
      await until(() => expect(clock.pending()).toBe(1))
      expect(attempts).toEqual([1])
      clock.advance(99)
      expect(node.stats.links.failed).toBe(1)
      clock.advance(1)
      await until(() => expect(attempts).toEqual([1, 2]))
      await until(() => expect(clock.pending()).toBe(1))
      const hubProbe = new HubProbe()
      const hub = await listen(transport, hubProbe, address)
      clock.advance(200)
      await until(() => expect(probe.ups).toBe(1))
      expect(attempts).toEqual([1, 2])

      hub.disconnect(hubProbe.idOf('anonymous'), 'go away')
      await until(() => expect(probe.downs).toEqual(['go away']))
      await until(() => expect(hubProbe.left.map(([, r]) => r)).toEqual(['go away']))
      expect(attempts).toEqual([1, 2, 1])
      clock.advance(100)
      await until(() => expect(probe.ups).toBe(2))
      expect(node.send(enc('x'))).toBe(true)
      await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['x']))
    })

    it('stops retrying after close', async () => {
      const clock = manualClock()
      const transport = zmqTransport({ clock })
      const scout = await transport.listen('tcp://127.0.0.1:0', new HubProbe().handlers)
      await scout.close()
      const node = await connect(transport, scout.address, new NodeProbe('n'))
      await until(() => expect(clock.pending()).toBe(1))
      await node.close()
      expect(clock.pending()).toBe(0)
    })

    it('a hub that dies and comes back on the same address heals without user action', async () => {
      const transport = zmqTransport()
      const hubProbe = new HubProbe()
      const hub = (await transport.listen('tcp://127.0.0.1:0', hubProbe.handlers)) as ZmqHubEndpoint
      const address = hub.address
      const nodes = ['a', 'b'].map((name) => new NodeProbe(name))
      const endpoints = await Promise.all(
        nodes.map((p) => connect(transport, address, p, { identity: p.name, backoff: constantBackoff(20) })),
      )
      await until(() => expect(nodes.every((n) => n.up)).toBe(true))
      await endpoints[0]!.subscribe('t')
      void hub.abort()
      await until(() => {
        for (const n of nodes) expect(n.downs).toEqual(['disconnected'])
      })
      expect(hubProbe.left).toEqual([])
      expect(hub.send('whoever', enc('x'))).toBe(false)
      await hub.close()

      const reborn = new HubProbe()
      const hub2 = await listen(transport, reborn, address)
      await until(() => expect(nodes.map((n) => n.ups)).toEqual([2, 2]))
      expect(reborn.asked.map(([, t]) => t)).toEqual(['t'])
      hub2.broadcast('t', enc('again'))
      await until(() => expect(nodes[0]!.broadcasts).toEqual([['t', 'again']]))
    })
  })

  describe('close', () => {
    it('node close: the hub sees peerLeft(closed), the node hears nothing more, calls fail', async () => {
      const { hub, hubProbe, nodes } = await setup(['n'], zmqTransport())
      const { probe, endpoint } = nodes[0]!
      await endpoint.subscribe('')
      const id = hubProbe.idOf('n')
      hub.send(id, enc('in-flight'))
      await endpoint.close()
      await endpoint.close()
      await until(() => expect(hubProbe.left).toEqual([[id, 'closed']]))
      hub.broadcast('t', enc('x'))
      await turns()
      expect(probe.downs).toEqual([])
      expect(probe.broadcasts).toEqual([])
      await expect(endpoint.subscribe('t')).rejects.toBeInstanceOf(ClosedError)
    })

    it('hub close: nodes see linkDown(hub closed), peerLeft comes before close resolves, nothing after', async () => {
      const { hub, hubProbe, nodes } = await setup(['a', 'b'], zmqTransport())
      const closing = hub.close()
      expect(hubProbe.left).toEqual([])
      await closing
      expect(hubProbe.left.map(([, r]) => r)).toEqual(['hub closed', 'hub closed'])
      await until(() => {
        for (const n of nodes) expect(n.probe.downs).toEqual(['hub closed'])
      })
      expect(nodes[0]!.endpoint.send(enc('x'))).toBe(false)
      expect(hubProbe.frames).toEqual([])
      await hub.close()
    })

    it('a pending subscribe rejects with ClosedError when the node closes', async () => {
      const transport = zmqTransport()
      const scout = await transport.listen('tcp://127.0.0.1:0', new HubProbe().handlers)
      await scout.close()
      const node = await connect(transport, scout.address, new NodeProbe('n'))
      const pending = node.subscribe('t')
      await node.close()
      await expect(pending).rejects.toBeInstanceOf(ClosedError)
    })
  })

  it('peer info is frozen and the same object in every callback', async () => {
    const { hub, hubProbe, nodes } = await setup(['n'], zmqTransport())
    nodes[0]!.endpoint.send(enc('x'))
    const seen: PeerInfo[] = []
    hubProbe.handlers.frame = (peer) => seen.push(peer)
    await until(() => expect(seen).toHaveLength(1))
    expect(seen[0]).toBe(hubProbe.joined[0])
    expect(Object.isFrozen(seen[0])).toBe(true)
    expect(dec(enc('ok'))).toBe('ok')
    expect(hub.peers()).toEqual([seen[0]])
  })
})
