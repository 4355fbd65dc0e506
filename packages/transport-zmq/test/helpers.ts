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
import { Dealer } from 'zeromq'
import type { ZmqHubEndpoint, ZmqNodeEndpoint } from '../src/index.js'
import { WIRE_VERSION } from '../src/wire.js'

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Records every hub callback, in order, into `log` (shared with nodes when given). */
export class HubProbe {
  readonly peers = new Map<string, PeerInfo>()
  readonly joined: PeerInfo[] = []
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
        this.joined.push(peer)
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

  /** Refusals as `code:peer identity` strings. */
  refusals(): string[] {
    return this.refused.map(([peer, error]) => `${error.code}:${peer?.identity ?? '-'}`)
  }
}

/** Records every node callback, in order. */
export class NodeProbe {
  ups = 0
  readonly downs: string[] = []
  readonly frames: string[] = []
  readonly broadcasts: Array<[topic: string, text: string]> = []
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

/** `vi.waitFor`, polling every few milliseconds: real sockets take a moment. */
export const until = <T>(check: () => T, timeout = 5000): Promise<T> =>
  vi.waitFor(check, { interval: 2, timeout })

/** Lets the event loop turn `n` times (to show that something did NOT happen, after a positive wait). */
export async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

const closers: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** Runs `close` after the test. */
export function cleanup(close: () => Promise<unknown> | unknown): void {
  closers.push(close)
}

export async function listen(
  transport: Transport,
  probe: HubProbe,
  address = 'tcp://127.0.0.1:0',
): Promise<ZmqHubEndpoint> {
  const hub = (await transport.listen(address, probe.handlers)) as ZmqHubEndpoint
  cleanup(() => hub.close())
  return hub
}

export async function connect(
  transport: Transport,
  address: string,
  probe: NodeProbe,
  options: { identity?: string; backoff?: (n: number) => number } = {},
): Promise<ZmqNodeEndpoint> {
  const node = (await transport.connect(address, probe.handlers, {
    backoff: options.backoff ?? constantBackoff(20),
    ...(options.identity === undefined ? {} : { identity: options.identity }),
  })) as ZmqNodeEndpoint
  cleanup(() => node.close())
  return node
}

/** A hub and `names.length` linked nodes (identity = name) on one transport. */
export async function setup(names: string[], transport: Transport) {
  const log: string[] = []
  const hubProbe = new HubProbe(log)
  const hub = await listen(transport, hubProbe)
  const nodes: Array<{ probe: NodeProbe; endpoint: ZmqNodeEndpoint }> = []
  for (const name of names) {
    const probe = new NodeProbe(name, log)
    const endpoint = await connect(transport, hub.address, probe, { identity: name })
    nodes.push({ probe, endpoint })
  }
  await until(() => {
    for (const n of nodes) expect(n.probe.up).toBe(true)
  })
  return { transport, log, hubProbe, hub, nodes }
}

/**
 * A hand-driven DEALER speaking the transport's wire protocol, for what a well-behaved node
 * never does: stop reading, send malformed or oversized messages, lie in its HELLO.
 */
export class RawNode {
  readonly socket: Dealer
  readonly received: Buffer[][] = []
  #reading = false

  constructor(address: string, options: ConstructorParameters<typeof Dealer>[0] = {}) {
    this.socket = new Dealer({ linger: 0, sendTimeout: 0, ...options })
    this.socket.connect(address)
    cleanup(() => this.socket.close())
  }

  send(...parts: (string | Buffer)[]): void {
    void this.socket.send(parts).catch(() => {})
  }

  hello(body: Record<string, unknown> = {}): void {
    this.send(
      'H',
      JSON.stringify({ v: WIRE_VERSION, window: [100, 1 << 20], max: 1 << 24, subs: [], ...body }),
    )
  }

  /** Starts reading everything into `received` (until the socket closes). */
  read(): void {
    if (this.#reading) return
    this.#reading = true
    void (async () => {
      try {
        for await (const parts of this.socket) this.received.push(parts)
      } catch {
        // closed
      }
    })()
  }

  /** The kinds (first part as text) received so far. */
  kinds(): string[] {
    return this.received.map((parts) => parts[0]!.toString())
  }
}

/** Raw endpoints typed for tests that use what the port does not declare. */
export type { HubEndpoint, NodeEndpoint }
