import {
  type ConcordError,
  ForbiddenError,
  type HubEndpoint,
  type HubHandlers,
  type NodeEndpoint,
  type NodeHandlers,
  type PeerInfo,
} from '@concord/core'
import { describe, expect, it } from 'vitest'
import type { SuiteOptions, TransportEnv } from './env.js'
import { expectTransportCapabilities, type Harness, probe, useHarness } from './harness.js'
import { bytesOf, eventually, SOON, settle, within } from './helpers.js'

/** What a hub endpoint reported, in order. */
class HubLog implements HubHandlers {
  readonly events: string[] = []
  readonly joined: PeerInfo[] = []
  readonly left: { peer: PeerInfo; reason: string }[] = []
  readonly frames: { peer: PeerInfo; bytes: Uint8Array }[] = []
  readonly refusals: ConcordError[] = []
  readonly asked: string[] = []
  /** Decides subscriptions; everything is granted unless a test says otherwise. */
  allow: (peer: PeerInfo, topic: string) => boolean = () => true

  peerJoined(peer: PeerInfo): void {
    this.events.push(`join ${peer.id}`)
    this.joined.push(peer)
  }
  peerLeft(peer: PeerInfo, reason: string): void {
    this.events.push(`leave ${peer.id}`)
    this.left.push({ peer, reason })
  }
  frame(peer: PeerInfo, frame: Uint8Array): void {
    this.events.push(`frame ${peer.id}`)
    this.frames.push({ peer, bytes: frame.slice() })
  }
  authorizeSubscription(peer: PeerInfo, topic: string): boolean {
    this.asked.push(topic)
    return this.allow(peer, topic)
  }
  refused(_peer: PeerInfo | undefined, error: ConcordError): void {
    this.refusals.push(error)
  }
  /** The frames from one peer, as text. */
  textFrom(peerId: string): string[] {
    return this.frames.filter((f) => f.peer.id === peerId).map((f) => text(f.bytes))
  }
}

/** What a node endpoint reported, in order. */
class NodeLog implements NodeHandlers {
  readonly events: string[] = []
  ups = 0
  readonly downs: string[] = []
  readonly frames: Uint8Array[] = []
  readonly broadcasts: { topic: string; bytes: Uint8Array }[] = []

  linkUp(): void {
    this.events.push('up')
    this.ups++
  }
  linkDown(reason: string): void {
    this.events.push('down')
    this.downs.push(reason)
  }
  frame(frame: Uint8Array): void {
    this.events.push('frame')
    this.frames.push(frame.slice())
  }
  broadcast(topic: string, frame: Uint8Array): void {
    this.events.push(`broadcast ${topic}`)
    this.broadcasts.push({ topic, bytes: frame.slice() })
  }
  /** Broadcast payloads received, as text. */
  get texts(): string[] {
    return this.broadcasts.map((b) => text(b.bytes))
  }
  get topics(): string[] {
    return this.broadcasts.map((b) => b.topic)
  }
}

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/**
 * The transport suite: the `Transport` port itself (docs/custom-transport.md), with no hub or
 * node of core on top. Frames are opaque bytes here.
 */
export function transportSuite<E extends TransportEnv>(options: SuiteOptions<E>): void {
  describe(options.name, async () => {
    const probed = await probe(options)
    const caps = probed.transport!
    const h = useHarness(options)

    /** A listening endpoint and `count` linked nodes (with identities `n0`, `n1`… when the env can). */
    const linked = async (count: number, log = new HubLog()) => {
      const hub = await h().listen(log)
      const nodes: { endpoint: NodeEndpoint; log: NodeLog; peer: PeerInfo }[] = []
      for (let i = 0; i < count; i++) nodes.push(await link(h(), hub, log, `n${i}`))
      return { hub, log, nodes }
    }

    describe('transport suite', () => {
      it('S2.7 S8.1 the transport declares well-formed capabilities', () => {
        expectTransportCapabilities(h().env.transport.capabilities)
        expect(h().env.transport.capabilities).toEqual(caps)
      })

      it('S8.1 a node links up and the hub sees it join, with an identity, before any frame', async () => {
        const { log, nodes } = await linked(1)
        const { endpoint, peer } = nodes[0]!
        expect(typeof peer.id).toBe('string')
        expect(peer.identity.length).toBeGreaterThan(0)
        endpoint.send(bytes('hello'))
        await eventually(() => expect(log.frames).toHaveLength(1))
        expect(log.events).toEqual([`join ${peer.id}`, `frame ${peer.id}`])
        expect(log.frames[0]!.peer).toEqual(peer)
      })

      if (probed.has.transportFor) {
        it('S8.1 the hub sees the identity a node authenticated with', async () => {
          const log = new HubLog()
          const hub = await h().listen(log)
          const alice = await link(h(), hub, log, 'alice')
          const bob = await link(h(), hub, log, 'bob')
          expect(alice.peer.identity).toBe('alice')
          expect(bob.peer.identity).toBe('bob')
          expect(alice.peer.id).not.toBe(bob.peer.id)
        })
      }

      it('S3.4 frames from a node arrive at the hub in order and intact', async () => {
        const { log, nodes } = await linked(1)
        const { endpoint, peer } = nodes[0]!
        // Each frame is handed over (NodeEndpoint.send): the transport may send it without
        // copying, so the caller never writes to it again.
        for (let i = 0; i < 300; i++) {
          const frame = new Uint8Array(4)
          new DataView(frame.buffer).setUint32(0, i)
          expect(endpoint.send(frame)).toBe(true)
        }
        await eventually(() => expect(log.frames).toHaveLength(300))
        const got = log.frames.map((f) => new DataView(f.bytes.buffer, f.bytes.byteOffset).getUint32(0))
        expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i))
        expect(log.frames.every((f) => f.peer.id === peer.id)).toBe(true)
      })

      it('S3.4 unicast frames reach only their peer, in order', async () => {
        const { hub, nodes } = await linked(2)
        const [a, b] = nodes as [(typeof nodes)[number], (typeof nodes)[number]]
        for (let i = 0; i < 100; i++) expect(hub.send(a.peer.id, bytes(`a${i}`))).toBe(true)
        expect(hub.send(b.peer.id, bytes('b0'))).toBe(true)
        await eventually(() => {
          expect(a.log.frames).toHaveLength(100)
          expect(b.log.frames).toHaveLength(1)
        })
        expect(a.log.frames.map(text)).toEqual(Array.from({ length: 100 }, (_, i) => `a${i}`))
        expect(b.log.frames.map(text)).toEqual(['b0'])
        expect(hub.send('no-such-peer', bytes('x'))).toBe(false)
      })

      it('S7.1 S7.2 a broadcast reaches every peer with a matching subscription, once', async () => {
        const { hub, nodes } = await linked(3)
        const [a, b, c] = nodes as [(typeof nodes)[number], (typeof nodes)[number], (typeof nodes)[number]]
        await a.endpoint.subscribe('e|a')
        await a.endpoint.subscribe('e|')
        await b.endpoint.subscribe('e|a/b')
        await c.endpoint.subscribe('x|')
        hub.broadcast('e|a/b', bytes('1'))
        hub.broadcast('e|ab', bytes('2'))
        hub.broadcast('e|z', bytes('3'))
        hub.broadcast('x|done', bytes('done'))
        hub.broadcast('e|a/b/done', bytes('done'))
        await eventually(() => {
          expect(a.log.texts).toContain('done')
          expect(b.log.texts).toContain('done')
          expect(c.log.texts).toContain('done')
        })
        // A raw prefix: `e|a` matches `e|ab` too (core filters whole segments itself).
        expect(a.log.texts).toEqual(['1', '2', '3', 'done'])
        expect(a.log.topics).toEqual(['e|a/b', 'e|ab', 'e|z', 'e|a/b/done'])
        expect(b.log.texts.filter((t) => t !== 'done')).toEqual(
          caps.nativePrefixFilter ? ['1'] : expect.arrayContaining(['1']),
        )
        if (caps.nativePrefixFilter) expect(c.log.texts).toEqual(['done'])
        expect(c.log.texts.filter((t) => t === 'done')).toHaveLength(1)
      })

      it('S7.2 one broadcast frame is shared, not re-serialized: every receiver gets the same bytes', async () => {
        const { hub, nodes } = await linked(3)
        for (const node of nodes) await node.endpoint.subscribe('t|')
        const frame = bytesOf(1000, 0x42)
        hub.broadcast('t|x', frame)
        await eventually(() => {
          for (const node of nodes) expect(node.log.broadcasts).toHaveLength(1)
        })
        for (const node of nodes) expect(node.log.broadcasts[0]!.bytes).toEqual(bytesOf(1000, 0x42))
      })

      it('S8.2 a subscription the hub refuses rejects with ForbiddenError and receives nothing', async () => {
        const log = new HubLog()
        log.allow = (_peer, topic) => !topic.startsWith('secret|')
        const { hub, nodes } = await linked(1, log)
        const { endpoint, log: node } = nodes[0]!
        const error = await endpoint.subscribe('secret|').catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ForbiddenError)
        expect(log.asked).toContain('secret|')
        await endpoint.subscribe('open|')
        hub.broadcast('secret|x', bytes('secret'))
        hub.broadcast('open|x', bytes('open'))
        await eventually(() => expect(node.texts).toContain('open'))
        expect(node.texts).toEqual(['open'])
      })

      it('S7.3 after unsubscribe a node receives nothing more on that topic', async () => {
        const { hub, nodes } = await linked(1)
        const { endpoint, log: node } = nodes[0]!
        await endpoint.subscribe('a|')
        await endpoint.subscribe('b|')
        hub.broadcast('a|1', bytes('a1'))
        await eventually(() => expect(node.texts).toEqual(['a1']))
        endpoint.unsubscribe('a|')
        endpoint.unsubscribe('a|')
        hub.broadcast('a|2', bytes('a2'))
        hub.broadcast('b|1', bytes('b1'))
        await eventually(() => expect(node.texts).toContain('b1'))
        expect(node.texts).toEqual(['a1', 'b1'])
      })

      it('S3.4 S7.3 unicast and broadcast frames to one node keep their order', async () => {
        const { hub, nodes } = await linked(1)
        const { endpoint, peer, log: node } = nodes[0]!
        await endpoint.subscribe('t|')
        for (let i = 0; i < 50; i++) {
          hub.send(peer.id, bytes(`u${i}`))
          hub.broadcast('t|x', bytes(`b${i}`))
        }
        await eventually(() => expect(node.frames.length + node.broadcasts.length).toBe(100))
        expect(node.events.filter((e) => e === 'frame' || e.startsWith('broadcast'))).toEqual(
          Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 'frame' : 'broadcast t|x')),
        )
      })

      it('S6.1 S6.2 a node that closes leaves, and a peer the hub disconnects goes down and links again', async () => {
        const { hub, log, nodes } = await linked(2)
        const [a, b] = nodes as [(typeof nodes)[number], (typeof nodes)[number]]
        await a.endpoint.close()
        await eventually(() => expect(log.left.map((l) => l.peer.id)).toEqual([a.peer.id]))
        expect(a.log.downs).toEqual([])
        hub.disconnect(b.peer.id, 'testing')
        await eventually(() => {
          expect(b.log.downs).toHaveLength(1)
          expect(b.log.ups).toBe(2)
        })
        expect(log.left.map((l) => l.peer.id)).toContain(b.peer.id)
        const again = log.joined.at(-1)!
        expect(again.id).not.toBe(b.peer.id)
        expect(again.identity).toBe(b.peer.identity)
        expect(b.endpoint.send(bytes('back'))).toBe(true)
        await eventually(() => expect(log.textFrom(again.id)).toEqual(['back']))
      })

      it('S6.2 reconnect() drops the link and links again', async () => {
        const { log, nodes } = await linked(1)
        const { endpoint, peer, log: node } = nodes[0]!
        endpoint.reconnect()
        await eventually(() => {
          expect(node.events).toEqual(['up', 'down', 'up'])
          expect(log.joined).toHaveLength(2)
        })
        expect(log.left.map((l) => l.peer.id)).toEqual([peer.id])
      })

      it('S6.3 a node links again, with its subscriptions, when a new hub listens on the same address', async () => {
        const first = new HubLog()
        const hub = await h().listen(first)
        const node = await link(h(), hub, first, 'n0')
        await node.endpoint.subscribe('t|')
        const address = hub.address
        await hub.close()
        await eventually(() => expect(node.log.downs).toHaveLength(1))
        expect(node.endpoint.send(bytes('lost'))).toBe(false)
        const second = new HubLog()
        const again = await h().listen(second, address)
        await eventually(() => {
          expect(node.log.ups).toBe(2)
          expect(second.joined).toHaveLength(1)
        })
        await eventually(() => {
          again.broadcast('t|x', bytes('after'))
          expect(node.log.texts).toContain('after')
        })
        node.endpoint.send(bytes('hi'))
        await eventually(() => expect(second.textFrom(second.joined[0]!.id)).toEqual(['hi']))
      })

      it('S9.1 S10.1 a second hub cannot listen on an address in use', async () => {
        const hub = await h().listen(new HubLog())
        const error = await settle(h().listen(new HubLog(), hub.address))
        expect(error.ok).toBe(false)
      })

      it('S10.1 closing is idempotent on both sides, and no handler runs afterwards', async () => {
        const { hub, log, nodes } = await linked(2)
        const [a, b] = nodes as [(typeof nodes)[number], (typeof nodes)[number]]
        await Promise.all([a.endpoint.close(), a.endpoint.close()])
        await a.endpoint.close()
        expect(a.endpoint.send(bytes('x'))).toBe(false)
        await expect(a.endpoint.subscribe('t|')).rejects.toBeInstanceOf(Error)
        const aEvents = a.log.events.length
        await Promise.all([hub.close(), hub.close()])
        await hub.close()
        const hubEvents = log.events.length
        expect(hub.send(b.peer.id, bytes('x'))).toBe(false)
        hub.broadcast('t|x', bytes('x'))
        b.endpoint.send(bytes('x'))
        await eventually(() => expect(b.log.downs).toHaveLength(1))
        // Give any stray delivery the chance to happen: a round trip through a fresh hub and node.
        const probeLog = new HubLog()
        const other = await h().listen(probeLog)
        const witness = await link(h(), other, probeLog, 'n9')
        witness.endpoint.send(bytes('sync'))
        await eventually(() => expect(probeLog.frames).toHaveLength(1))
        expect(a.log.events).toHaveLength(aEvents)
        expect(log.events).toHaveLength(hubEvents)
        expect(log.frames.map((f) => text(f.bytes))).not.toContain('x')
      })

      it('S10.1 listen and connect honour an aborted signal', async () => {
        const controller = new AbortController()
        controller.abort()
        const env = h().env
        const listening = await settle(
          env.transport.listen(env.address(), new HubLog(), { signal: controller.signal }),
        )
        if (listening.ok) h().defer(() => listening.value.close())
        expect(listening.ok).toBe(false)
        const hub = await h().listen(new HubLog())
        const connecting = await settle(
          env.transport.connect(hub.address, new NodeLog(), {
            backoff: () => 20,
            signal: controller.signal,
          }),
        )
        if (connecting.ok) h().defer(() => connecting.value.close())
        expect(connecting.ok).toBe(false)
      })

      it('S2.7 S9.1 a frame of maxFrameSize passes; a larger one is refused, counted, and the link stays usable', async () => {
        const { hub, log, nodes } = await linked(1)
        const { endpoint, peer, log: node } = nodes[0]!
        const max = caps.maxFrameSize
        expect(endpoint.send(bytesOf(max, 0x31))).toBe(true)
        // Lengths are compared as numbers: a failed check that printed the frames would format
        // a frame of maxFrameSize bytes on every retry (seconds for 16 MiB).
        await eventually(() => expect(log.frames.length).toBe(1))
        expect(log.frames[0]!.bytes.byteLength).toBe(max)
        // Refused at the sender (send is false) — and, if it crossed, by the hub, counted.
        expect(endpoint.send(bytesOf(max + 1, 0x32))).toBe(false)
        for (const refusal of log.refusals) expect(refusal.code).toBe('ERR_TOO_LARGE')
        expect(hub.send(peer.id, bytesOf(max + 1))).toBe(false)
        expect(endpoint.send(bytes('small'))).toBe(true)
        expect(hub.send(peer.id, bytes('small'))).toBe(true)
        await eventually(() => {
          expect(log.frames.length).toBe(2)
          expect(node.frames.map(text)).toEqual(['small'])
        })
        expect(log.frames.every((f) => f.bytes.byteLength <= max)).toBe(true)
      })

      if (probed.has.faults && probed.has.transportFor && caps.boundedPeerQueues) {
        it('S6.5 a peer that stops reading loses frames instead of slowing the others', async () => {
          const { hub, nodes } = await linked(2)
          const [slow, fast] = nodes as [(typeof nodes)[number], (typeof nodes)[number]]
          await slow.endpoint.subscribe('t|')
          await fast.endpoint.subscribe('t|')
          h().env.faults!.pause(slow.peer.identity)
          let refused = false
          // What the transport says the slow peer missed, if it says (HubEndpoint.broadcast).
          let skipped: number | undefined
          let sent = 0
          while ((!refused || skipped === 0) && sent < 1_000_000) {
            const missed = hub.broadcast('t|x', bytes(`${sent}`))
            if (typeof missed === 'number') skipped = (skipped ?? 0) + missed
            refused = !hub.send(slow.peer.id, bytes(`${sent}`))
            sent++
            // Let the other peer read, as a healthy peer does between bursts.
            if (sent % 64 === 0) await new Promise((resolve) => setImmediate(resolve))
          }
          expect(refused).toBe(true)
          await eventually(() => expect(fast.log.broadcasts).toHaveLength(sent))
          h().env.faults!.resume(slow.peer.identity)
          await eventually(() => expect(slow.log.frames.length).toBeGreaterThan(0))
          expect(slow.log.frames.length + slow.log.broadcasts.length).toBeLessThan(2 * sent)
          if (skipped !== undefined) {
            // Every broadcast the slow peer did not get was reported as skipped, and no other.
            expect(skipped).toBeGreaterThan(0)
            if (!caps.lossy) {
              await eventually(() => expect(slow.log.broadcasts.length + skipped!).toBe(sent))
            }
          }
        })
      }

      it('S6.2 connect resolves at once, before any hub listens, and links up once one does', async () => {
        const log = new HubLog()
        const hub = await h().listen(log)
        const address = hub.address
        await hub.close()
        const node = new NodeLog()
        const endpoint = await within(h().connect(address, node), SOON, 'connect with nothing listening')
        expect(node.ups).toBe(0)
        const later = new HubLog()
        await h().listen(later, address)
        await eventually(() => {
          expect(node.ups).toBe(1)
          expect(later.joined).toHaveLength(1)
        })
        expect(endpoint.send(bytes('x'))).toBe(true)
      })
    })
  })
}

/** Connects a node to `hub` and waits until both sides saw the link. */
async function link(
  h: Harness<TransportEnv>,
  hub: HubEndpoint,
  log: HubLog,
  identity: string,
): Promise<{ endpoint: NodeEndpoint; log: NodeLog; peer: PeerInfo }> {
  const node = new NodeLog()
  const joined = log.joined.length
  const endpoint = await h.connect(hub.address, node, h.env.transportFor === undefined ? undefined : identity)
  await eventually(() => {
    expect(node.ups).toBeGreaterThan(0)
    expect(log.joined.length).toBeGreaterThan(joined)
  })
  const peer = log.joined.at(-1)!
  return { endpoint, log: node, peer }
}
