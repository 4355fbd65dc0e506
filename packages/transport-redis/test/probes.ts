/** Recording handlers for port-level tests, as in core's memory-transport tests. */
import {
  type ConcordError,
  constantBackoff,
  type HubEndpoint,
  type HubHandlers,
  type NodeEndpoint,
  type NodeHandlers,
  type PeerInfo,
  type Transport,
} from '@concord/core'
import { afterEach, expect, vi } from 'vitest'

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Records every hub callback, in order, into `log` (shared with nodes when given). */
export class HubProbe {
  readonly peers = new Map<string, PeerInfo>()
  readonly joined: PeerInfo[] = []
  readonly frames: Array<[peerId: string, text: string]> = []
  readonly raw: Uint8Array[] = []
  readonly refused: Array<[PeerInfo | undefined, ConcordError]> = []
  readonly left: Array<[peerId: string, reason: string]> = []
  readonly asked: Array<[peerId: string, topic: string]> = []
  allow: (peer: PeerInfo, topic: string) => boolean = () => true
  readonly handlers: HubHandlers

  constructor(readonly log: string[] = []) {
    this.handlers = {
      peerJoined: (peer) => {
        this.peers.set(peer.id, peer)
        this.joined.push(peer)
        this.log.push(`hub:joined:${peer.identity}`)
      },
      peerLeft: (peer, reason) => {
        this.peers.delete(peer.id)
        this.left.push([peer.id, reason])
        this.log.push(`hub:left:${peer.identity}:${reason}`)
      },
      frame: (peer, frame) => {
        this.raw.push(frame)
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
export class NodeProbe {
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
        this.raw.push(frame)
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

/** `vi.waitFor`, polling every 5 ms. */
export const until = <T>(check: () => T, timeout = 10_000): Promise<T> =>
  vi.waitFor(check, { interval: 5, timeout })

/** Endpoints to close after each test, newest first. */
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** Closes `close` after the current test. */
export function later(close: () => Promise<void>): void {
  closers.push(close)
}

export async function listen(transport: Transport, probe: HubProbe, address: string): Promise<HubEndpoint> {
  const hub = await transport.listen(address, probe.handlers)
  later(() => hub.close())
  return hub
}

export async function connect(
  transport: Transport,
  probe: NodeProbe,
  address: string,
  options: { identity?: string; backoff?: (n: number) => number } = {},
): Promise<NodeEndpoint> {
  const node = await transport.connect(address, probe.handlers, {
    backoff: options.backoff ?? constantBackoff(20),
    ...(options.identity === undefined ? {} : { identity: options.identity }),
  })
  later(() => node.close())
  return node
}

/** Resolves after a round trip through the event loop's check phase, twice. */
export const turns = (): Promise<void> =>
  new Promise((resolve) => setImmediate(() => setImmediate(() => resolve())))
