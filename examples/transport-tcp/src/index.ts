/**
 * A Concord transport over plain `node:net`: length-prefixed frames on one TCP connection
 * per node. Written only against `@concord/core`'s public Transport port, following
 * docs/custom-transport.md. Identities are unauthenticated names (loopback use).
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import {
  ClosedError,
  type ConnectOptions,
  ForbiddenError,
  type HubEndpoint,
  type HubHandlers,
  type NodeEndpoint,
  type NodeHandlers,
  type PeerInfo,
  ProtocolError,
  TooLargeError,
  type Transport,
  type TransportCapabilities,
} from '@concord/core'

/** Options of {@link tcpTransport}. */
export interface TcpTransportInit {
  /** Largest frame, in bytes. Default 16 MiB. */
  readonly maxFrameSize?: number
  /** Bytes buffered for one peer before frames to it are dropped. Default 64 MiB. */
  readonly maxQueuedBytes?: number
}

/** Message kinds on the socket. */
const [HELLO, WELCOME, DATA, SUB, SUB_OK, UNSUB, BCAST] = [0, 1, 2, 3, 4, 5, 6] as const

/** Writes one length-prefixed message: u32 length, u8 kind, body. */
function frame(kind: number, ...parts: Uint8Array[]): Buffer {
  const length = 1 + parts.reduce((n, p) => n + p.byteLength, 0)
  const head = Buffer.allocUnsafe(5)
  head.writeUInt32BE(length, 0)
  head[4] = kind
  return Buffer.concat([head, ...parts])
}

const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])
const text = (s: string) => Buffer.from(s, 'utf8')

/** Splits a byte stream into messages; calls `onMessage(kind, body)`; false on a malformed stream. */
function reader(limit: number, onMessage: (kind: number, body: Buffer) => void): (chunk: Buffer) => boolean {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0)
      if (length < 1 || length > limit + 1024) return false
      if (pending.length < 4 + length) break
      onMessage(pending[4]!, pending.subarray(5, 4 + length))
      pending = pending.subarray(4 + length)
    }
    return true
  }
}

function parseAddress(address: string): { host: string; port: number } {
  const match = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(address)
  if (match === null) throw new TypeError(`not a tcp://host:port address: ${address}`)
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) }
}

/** A transport over plain TCP with length-prefixed frames. */
export function tcpTransport(init: TcpTransportInit = {}): Transport {
  const maxFrameSize = init.maxFrameSize ?? 16 * 1024 * 1024
  const maxQueued = init.maxQueuedBytes ?? 64 * 1024 * 1024
  const capabilities: TransportCapabilities = {
    name: 'tcp',
    maxFrameSize,
    nativePrefixFilter: true,
    authentication: ['none'],
    lossy: false,
    boundedPeerQueues: true,
  }
  return {
    capabilities,
    listen: (address, handlers, options) =>
      listen(address, handlers, maxFrameSize, maxQueued, options?.signal),
    connect: async (address, handlers, options) =>
      connectNode(address, handlers, options, maxFrameSize, maxQueued),
  }
}

interface Peer {
  readonly info: PeerInfo
  readonly socket: Socket
  readonly topics: Set<string>
}

async function listen(
  address: string,
  handlers: HubHandlers,
  maxFrameSize: number,
  maxQueued: number,
  signal?: AbortSignal,
): Promise<HubEndpoint> {
  signal?.throwIfAborted()
  const { host, port } = parseAddress(address)
  const peers = new Map<string, Peer>()
  let nextId = 0
  let closed = false
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true)
    let peer: Peer | undefined
    const leave = (reason: string) => {
      if (peer === undefined || !peers.delete(peer.info.id)) return
      if (!closed) handlers.peerLeft(peer.info, reason)
    }
    const read = reader(maxFrameSize, (kind, body) => {
      if (closed) return
      if (peer === undefined) {
        if (kind !== HELLO) return void socket.destroy()
        peer = {
          info: { id: `tcp-${++nextId}`, identity: body.toString('utf8') || 'anonymous' },
          socket,
          topics: new Set(),
        }
        peers.set(peer.info.id, peer)
        handlers.peerJoined(peer.info)
        socket.write(frame(WELCOME))
      } else if (kind === DATA) handlers.frame(peer.info, new Uint8Array(body))
      else if (kind === SUB && body.length >= 4) {
        const topic = body.subarray(4).toString('utf8')
        const ok = handlers.authorizeSubscription(peer.info, topic)
        if (ok) peer.topics.add(topic)
        socket.write(frame(SUB_OK, body.subarray(0, 4), Uint8Array.of(ok ? 1 : 0)))
      } else if (kind === UNSUB) peer.topics.delete(body.toString('utf8'))
      else handlers.refused(peer.info, new ProtocolError(`unknown tcp message kind ${kind}`))
    })
    socket.on('data', (chunk) => {
      if (!read(chunk)) {
        handlers.refused(peer?.info, new TooLargeError('malformed or oversized frame'))
        socket.destroy()
      }
    })
    socket.on('close', () => leave('connection closed'))
    socket.on('error', () => socket.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const bound = server.address()
  const actual = typeof bound === 'object' && bound !== null ? bound.port : port
  const fits = (bytes: Uint8Array, socket: Socket) =>
    bytes.byteLength <= maxFrameSize && socket.writableLength <= maxQueued && !socket.destroyed
  return {
    address: `tcp://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    send(peerId, bytes) {
      const peer = peers.get(peerId)
      if (closed || peer === undefined || !fits(bytes, peer.socket)) return false
      return peer.socket.write(frame(DATA, bytes)) || true
    },
    broadcast(topic, bytes) {
      if (closed) return 0
      let message: Buffer | undefined
      let skipped = 0
      for (const peer of peers.values()) {
        if (![...peer.topics].some((prefix) => topic.startsWith(prefix))) continue
        if (!fits(bytes, peer.socket)) {
          skipped++
          continue
        }
        const name = text(topic)
        message ??= frame(BCAST, Uint8Array.of(name.length >> 8, name.length & 255), name, bytes)
        peer.socket.write(message)
      }
      return skipped
    },
    disconnect(peerId) {
      peers.get(peerId)?.socket.destroy()
    },
    async close() {
      if (closed) return
      closed = true
      for (const peer of peers.values()) peer.socket.destroy()
      peers.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function connectNode(
  address: string,
  handlers: NodeHandlers,
  options: ConnectOptions,
  maxFrameSize: number,
  maxQueued: number,
): NodeEndpoint {
  options.signal?.throwIfAborted()
  const { host, port } = parseAddress(address)
  const topics = new Map<
    string,
    { acked: boolean; waiters: { resolve: () => void; reject: (e: Error) => void }[] }
  >()
  const requests = new Map<number, string>()
  let socket: Socket | undefined
  let up = false
  let closed = false
  let attempt = 0
  let nextRequest = 0
  let timer: NodeJS.Timeout | undefined

  const request = (topic: string) => {
    const id = ++nextRequest
    requests.set(id, topic)
    socket?.write(frame(SUB, u32(id), text(topic)))
  }
  const dial = () => {
    if (closed) return
    const s = tcpConnect({ host, port })
    socket = s
    s.setNoDelay(true)
    const read = reader(maxFrameSize, (kind, body) => {
      if (socket !== s || closed) return
      if (kind === WELCOME) {
        up = true
        attempt = 0
        handlers.linkUp()
        for (const topic of topics.keys()) request(topic)
      } else if (kind === DATA) handlers.frame(new Uint8Array(body))
      else if (kind === BCAST) {
        const length = body.readUInt16BE(0)
        const topic = body.subarray(2, 2 + length).toString('utf8')
        // Broadcasts already in flight when a subscription ended are not delivered.
        if ([...topics.keys()].some((prefix) => topic.startsWith(prefix))) {
          handlers.broadcast(topic, new Uint8Array(body.subarray(2 + length)))
        }
      } else if (kind === SUB_OK) {
        const topic = requests.get(body.readUInt32BE(0))
        const state = topic === undefined ? undefined : topics.get(topic)
        if (state === undefined) return
        const ok = body[4] === 1
        for (const waiter of state.waiters.splice(0)) {
          if (ok) waiter.resolve()
          else waiter.reject(new ForbiddenError(`subscription to '${topic}' refused`))
        }
        if (ok) state.acked = true
        else topics.delete(topic!)
      }
    })
    s.on('connect', () => s.write(frame(HELLO, text(options.identity ?? ''))))
    s.on('data', (chunk) => {
      if (!read(chunk)) s.destroy()
    })
    s.on('error', () => s.destroy())
    s.on('close', () => {
      if (socket !== s) return
      socket = undefined
      requests.clear()
      if (up) {
        up = false
        if (!closed) handlers.linkDown('connection closed')
      }
      if (!closed) timer = setTimeout(dial, options.backoff(++attempt))
    })
  }
  setImmediate(dial)

  return {
    send(bytes) {
      if (closed || !up || socket === undefined) return false
      if (bytes.byteLength > maxFrameSize || socket.writableLength > maxQueued) return false
      socket.write(frame(DATA, bytes))
      return true
    },
    subscribe(topic) {
      if (closed) return Promise.reject(new ClosedError('the endpoint is closed'))
      let state = topics.get(topic)
      if (state?.acked) return Promise.resolve()
      if (state === undefined) {
        state = { acked: false, waiters: [] }
        topics.set(topic, state)
        if (up) request(topic)
      }
      const waiters = state.waiters
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }))
    },
    unsubscribe(topic) {
      const state = topics.get(topic)
      if (state === undefined) return
      topics.delete(topic)
      for (const waiter of state.waiters) waiter.reject(new ClosedError(`unsubscribed from '${topic}'`))
      if (up) socket?.write(frame(UNSUB, text(topic)))
    },
    reconnect() {
      socket?.destroy()
    },
    async close() {
      if (closed) return
      closed = true
      clearTimeout(timer)
      for (const state of topics.values())
        for (const w of state.waiters) w.reject(new ClosedError('the endpoint is closed'))
      topics.clear()
      socket?.destroy()
    },
  }
}
