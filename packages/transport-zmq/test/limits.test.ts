import { ProtocolError, TooLargeError } from '@concord/core'
import { describe, expect, it } from 'vitest'
import { Router } from 'zeromq'
import { zmqTransport } from '../src/index.js'
import { WIRE_VERSION } from '../src/wire.js'
import {
  cleanup,
  connect,
  enc,
  HubProbe,
  listen,
  NodeProbe,
  RawNode,
  setup,
  turns,
  until,
} from './helpers.js'

describe('bounded queues: high-water marks (S6.5)', () => {
  it('a node that stops reading fills its window: sends fail, broadcasts skip it (counted), other peers are unaffected', async () => {
    const transport = zmqTransport({ highWaterMark: 4 })
    const { hub, hubProbe, nodes } = await setup(['fast'], transport)
    const fast = nodes[0]!
    await fast.endpoint.subscribe('')
    // The slow node links and subscribes, then never reads (so never returns credit).
    const slow = new RawNode(hub.address, { routingId: 'slow-node' })
    slow.hello({ name: 'slow', subs: [''] })
    await until(() => expect(hubProbe.peers.size).toBe(2))
    const slowId = hubProbe.idOf('slow')
    const fastId = hubProbe.idOf('fast')

    // One at a time: the fast node returns its credit as it goes (the window holds 4).
    for (let i = 0; i < 10; i++) {
      hub.broadcast('t', enc(`b${i}`))
      await until(() => expect(fast.probe.broadcasts).toHaveLength(i + 1))
    }
    expect(hub.send(slowId, enc('unicast'))).toBe(false)
    expect(hub.send(fastId, enc('still fine'))).toBe(true)
    await until(() => expect(fast.probe.frames).toEqual(['still fine']))

    expect(hub.peerStats(slowId)).toMatchObject({
      sent: { frames: 4 },
      dropped: { queueFull: 7, tooLarge: 0, zmq: 0 },
      queued: { frames: 4 },
    })
    expect(hub.peerStats(fastId)?.dropped).toEqual({ queueFull: 0, tooLarge: 0, zmq: 0 })
    expect(hub.stats.dropped.queueFull).toBe(7)

    // It reads again: it got exactly what fitted, in order, and returns the credit.
    slow.read()
    await until(() => expect(slow.kinds()).toEqual(['W', 'T', 'T', 'T', 'T']))
    expect(slow.received.slice(1).map((parts) => parts[2]!.toString())).toEqual(['b0', 'b1', 'b2', 'b3'])
    slow.send('A', '4')
    await until(() => expect(hub.peerStats(slowId)?.queued.frames).toBe(0))
    expect(hub.send(slowId, enc('room again'))).toBe(true)
    await until(() => expect(slow.kinds().at(-1)).toBe('D'))
  })

  it('bounds the node→hub direction too: a hub that does not consume makes send return false', async () => {
    // A hub that welcomes, then never acknowledges anything.
    const router = new Router({ linger: 0, sendTimeout: 0 })
    await router.bind('tcp://127.0.0.1:0')
    cleanup(() => router.close())
    void (async () => {
      try {
        for await (const [rid, kind] of router) {
          if (kind?.toString() === 'H') {
            await router.send([
              rid!,
              'W',
              JSON.stringify({ v: WIRE_VERSION, window: [100, 1 << 20], max: 1 << 20, granted: [] }),
            ])
          }
        }
      } catch {
        // closed
      }
    })()
    const transport = zmqTransport({ highWaterMark: 2 })
    const probe = new NodeProbe('n')
    const node = await connect(transport, router.lastEndpoint!, probe)
    await until(() => expect(probe.ups).toBe(1))
    expect([1, 2, 3].map((i) => node.send(enc(`${i}`)))).toEqual([true, true, false])
    expect(node.stats.dropped.queueFull).toBe(1)
  })

  it('sizes the window in bytes as well; a single frame always fits an empty window', async () => {
    const transport = zmqTransport({ highWaterMarkBytes: 100 })
    const { hub, hubProbe } = await setup([], transport)
    const raw = new RawNode(hub.address)
    raw.hello({ name: 'r' })
    await until(() => expect(hubProbe.peers.size).toBe(1))
    const id = hubProbe.idOf('r')
    expect(hub.send(id, new Uint8Array(150))).toBe(true)
    expect(hub.send(id, new Uint8Array(1))).toBe(false)
    expect(hub.peerStats(id)?.queued).toEqual({ frames: 1, bytes: 150 })
  })
})

describe('maxFrameSize', () => {
  it('a node frame over the limit is not sent: send false, the hub counts a TooLargeError', async () => {
    const transport = zmqTransport({ maxFrameSize: 64 })
    const { hubProbe, hub, nodes } = await setup(['n'], transport)
    expect(nodes[0]!.endpoint.send(new Uint8Array(65))).toBe(false)
    expect(nodes[0]!.endpoint.send(enc('fits'))).toBe(true)
    await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['fits']))
    await until(() => expect(hubProbe.refusals()).toEqual(['ERR_TOO_LARGE:n']))
    expect(hubProbe.refused[0]![1]).toBeInstanceOf(TooLargeError)
    expect(nodes[0]!.endpoint.stats.dropped.tooLarge).toBe(1)
    expect(hub.stats.refused.tooLarge).toBe(1)
  })

  it('a hub frame over the limit is not sent: send false, broadcast skips (counted)', async () => {
    const transport = zmqTransport({ maxFrameSize: 64 })
    const { hub, hubProbe, nodes } = await setup(['n'], transport)
    await nodes[0]!.endpoint.subscribe('')
    expect(hub.send(hubProbe.idOf('n'), new Uint8Array(65))).toBe(false)
    hub.broadcast('t', new Uint8Array(65))
    hub.broadcast('t', enc('ok'))
    await until(() => expect(nodes[0]!.probe.broadcasts).toEqual([['t', 'ok']]))
    expect(nodes[0]!.probe.frames).toEqual([])
    expect(hub.stats.dropped.tooLarge).toBe(2)
  })

  it('the smaller limit of hub and node applies on a link', async () => {
    const hubSide = zmqTransport({ maxFrameSize: 1000 })
    const nodeSide = zmqTransport({ maxFrameSize: 100 })
    const hubProbe = new HubProbe()
    const hub = await listen(hubSide, hubProbe)
    const probe = new NodeProbe('n')
    const node = await connect(nodeSide, hub.address, probe)
    await until(() => expect(probe.ups).toBe(1))
    const id = [...hubProbe.peers.keys()][0]!
    expect(hub.send(id, new Uint8Array(101))).toBe(false)
    expect(hub.send(id, new Uint8Array(100))).toBe(true)
    await until(() => expect(probe.frames).toHaveLength(1))
    expect(node.send(new Uint8Array(101))).toBe(false)
  })
})

describe('bad input from nodes (S9.1)', () => {
  it('refuses and counts malformed, unknown, empty and oversized messages; the peer and its neighbours carry on', async () => {
    const transport = zmqTransport({ maxFrameSize: 1024 })
    const { hub, hubProbe, nodes } = await setup(['good'], transport)
    const good = nodes[0]!
    await good.endpoint.subscribe('')
    const raw = new RawNode(hub.address)
    raw.read()
    raw.hello({ name: 'bad' })
    await until(() => expect(raw.kinds()).toEqual(['W']))

    raw.send('D') // no frame part
    raw.send('D', '') // empty frame
    raw.send('Q', 'x') // unknown kind
    raw.send('DD', 'x') // a kind is one byte
    raw.send('', 'x') // empty kind
    raw.send('S', 'not-a-number', 't') // bad request id
    raw.send('A', '99') // acknowledges more than was sent
    raw.send('H', '{}') // HELLO again on a linked connection
    raw.send('D', Buffer.alloc(1025)) // over maxFrameSize (within libzmq's margin)
    raw.send('D', ...Array(9).fill(Buffer.alloc(128))) // over maxFrameSize in parts
    raw.send('D', 'still', ' works') // a frame in parts is joined
    await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['still works']))
    expect(hubProbe.refusals()).toEqual([
      ...Array(8).fill('ERR_PROTOCOL:bad'),
      'ERR_TOO_LARGE:bad',
      'ERR_TOO_LARGE:bad',
    ])
    expect(hubProbe.refused.every(([, e]) => e instanceof ProtocolError || e instanceof TooLargeError)).toBe(
      true,
    )
    expect(hub.stats.refused).toEqual({ malformed: 8, tooLarge: 2, unauthenticated: 0 })
    expect(hubProbe.peers.size).toBe(2)

    // The good node never noticed.
    hub.broadcast('t', enc('all well'))
    good.endpoint.send(enc('from good'))
    await until(() => expect(good.probe.broadcasts).toEqual([['t', 'all well']]))
    await until(() => expect(hubProbe.frames.map(([, t]) => t)).toContain('from good'))
    expect(good.probe.downs).toEqual([])
  })

  it('a frame far over the limit makes libzmq cut that connection: the peer leaves, the hub and others carry on', async () => {
    const transport = zmqTransport({ maxFrameSize: 1024 })
    const { hub, hubProbe, nodes } = await setup(['good'], transport)
    const raw = new RawNode(hub.address)
    raw.hello({ name: 'huge' })
    await until(() => expect(hubProbe.peers.size).toBe(2))
    const id = hubProbe.idOf('huge')
    raw.send('D', Buffer.alloc(1024 + 128 * 1024))
    await until(() => expect(hubProbe.left).toEqual([[id, 'disconnected']]))
    expect(hubProbe.frames).toEqual([])
    nodes[0]!.endpoint.send(enc('fine'))
    await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['fine']))
  })

  it('before HELLO: frames are refused with a drop notice, a malformed HELLO is refused', async () => {
    const transport = zmqTransport()
    const { hub, hubProbe } = await setup([], transport)
    const raw = new RawNode(hub.address)
    raw.read()
    raw.send('D', 'too early')
    raw.send('H', 'not json')
    raw.send('H', JSON.stringify({ v: 99, window: [1, 1], max: 1, subs: [] }))
    raw.send('H', JSON.stringify({ v: WIRE_VERSION, window: [0, 1], max: 1, subs: [] }))
    raw.send('H', JSON.stringify({ v: WIRE_VERSION, window: [1, 1], max: 1, subs: [42] }))
    raw.send('Q')
    await until(() => expect(raw.kinds()).toEqual(['Z', 'X', 'X', 'X', 'X']))
    await until(() => expect(hubProbe.refused).toHaveLength(6))
    expect(hubProbe.refusals()).toEqual(Array(6).fill('ERR_PROTOCOL:-'))
    expect(hubProbe.joined).toEqual([])
    expect(hubProbe.frames).toEqual([])
  })

  it('S9.1 frames a node sent before it read the drop notice of a link the hub dropped are late, not malformed', async () => {
    const transport = zmqTransport()
    const { hub, hubProbe, nodes } = await setup(['n'], transport)
    const node = nodes[0]!
    hub.disconnect(hubProbe.idOf('n'), 'heartbeat timeout')
    // In the same turn: the node has not read the notice, so these leave on the old link.
    expect(node.endpoint.send(enc('in flight 1'))).toBe(true)
    expect(node.endpoint.send(enc('in flight 2'))).toBe(true)
    await until(() => expect(hub.stats.late).toBe(2))
    await until(() => expect(node.probe.downs).toEqual(['heartbeat timeout']))
    expect(hubProbe.refused).toEqual([])
    expect(hub.stats.refused).toEqual({ malformed: 0, tooLarge: 0, unauthenticated: 0 })
    expect(hubProbe.frames).toEqual([])
    // A connection the hub never linked still breaks the protocol.
    const raw = new RawNode(hub.address)
    raw.send('D', 'never said hello')
    await until(() => expect(hubProbe.refusals()).toEqual(['ERR_PROTOCOL:-']))
    expect(hub.stats.late).toBe(2)
  })

  it('S9.1 what a node sent before its connection went is late, not malformed, when the hub learns of the loss first', async () => {
    const transport = zmqTransport()
    const { hub, hubProbe } = await setup([], transport)
    const raw = new RawNode(hub.address, { linger: 1000 })
    raw.hello({ name: 'gone' })
    await until(() => expect(hubProbe.peers.size).toBe(1))
    const id = hubProbe.idOf('gone')
    raw.send('D', 'sent before the connection went')
    raw.socket.close()
    // The hub's thread is busy meanwhile: libzmq takes the frame and the connection's end,
    // and the hub sends to the node before it reads what came.
    const end = performance.now() + 300
    while (performance.now() < end) {
      // held up on purpose
    }
    hub.send(id, enc('to a connection that went'))
    await until(() => expect(hubProbe.left).toEqual([[id, 'unreachable']]))
    await until(() => expect(hub.stats.late).toBe(1))
    expect(hubProbe.refused).toEqual([])
    expect(hub.stats.refused.malformed).toBe(0)
  })

  it('malformed messages from the hub are ignored and counted by the node', async () => {
    const router = new Router({ linger: 0, sendTimeout: 0 })
    await router.bind('tcp://127.0.0.1:0')
    cleanup(() => router.close())
    void (async () => {
      try {
        for await (const [rid, kind] of router) {
          if (kind?.toString() !== 'H') continue
          await router.send([
            rid!,
            'W',
            JSON.stringify({ v: WIRE_VERSION, window: [100, 1 << 20], max: 1 << 20, granted: [] }),
          ])
          for (const bad of [
            ['Q'],
            ['D'],
            ['T', 'only-topic'],
            ['s', 'x', '1'],
            ['A', '5'],
            // Bundles: no layout; a layout of one message; a kind that cannot be bundled; a
            // frame of no parts; a broadcast without its frame; parts left over.
            ['M'],
            ['M', 'D\x01', 'x'],
            ['M', 'A\x01D\x01', '5', 'x'],
            ['M', 'D\x00D\x01', 'x'],
            ['M', 'D\x01T\x01', 'x', 'topic'],
            ['M', 'D\x01D\x01', 'x', 'y', 'z'],
          ]) {
            await router.send([rid!, ...bad])
          }
          // A good bundle: a frame in one part, then one in two parts.
          await router.send([rid!, 'M', 'D\x01D\x02', 'ok1', 'o', 'k2'])
          await router.send([rid!, 'D', 'ok'])
        }
      } catch {
        // closed
      }
    })()
    const probe = new NodeProbe('n')
    const node = await connect(zmqTransport(), router.lastEndpoint!, probe)
    await until(() => expect(probe.frames).toEqual(['ok1', 'ok2', 'ok']))
    expect(node.stats.malformed).toBe(11)
    await turns()
    expect(probe.downs).toEqual([])
  })
})
