import { createConnection } from 'node:net'
import {
  AbortedError,
  type Clock,
  type ConnectOptions,
  type HubHandlers,
  type ListenOptions,
  type NodeHandlers,
  systemClock,
  type Transport,
  type TransportCapabilities,
  UnavailableError,
} from '@concord/core'
import { isLocal, parseAddress, type ZmqAddress } from './address.js'
import { CurveKeys, curveKeyBytes, type ZmqCurveKeyPair } from './curve.js'
import { ZmqHubEndpoint } from './hub-endpoint.js'
import { ZmqNodeEndpoint } from './node-endpoint.js'

/**
 * CURVE security (encryption and authentication). Give the hub side `server` (and usually
 * `clients`), the node side `publicKey`, `secretKey` and `serverKey`; one transport object may
 * carry both when a process is hub and node. Make keys with {@link zmqCurveKeyPair}.
 */
export interface ZmqCurveInit {
  /** Hub side: the hub's key pair. With it, `listen` serves CURVE only. */
  readonly server?: ZmqCurveKeyPair
  /**
   * Hub side: the node keys admitted and the identity each stands for (`PeerInfo.identity`):
   * a map from Z85 public key to name, or a function returning the name or `undefined` to
   * refuse. A refused key gets nothing: its handshake fails, no frame flows, the hub never
   * sees a peer. Default: any key is admitted, with its Z85 public key as identity.
   */
  readonly clients?: ReadonlyMap<string, string> | ((publicKey: string) => string | undefined)
  /** Node side: this node's public key (Z85). */
  readonly publicKey?: string
  /** Node side: this node's secret key (Z85). */
  readonly secretKey?: string
  /** Node side: the hub's public key (Z85). With it, `connect` uses CURVE. */
  readonly serverKey?: string
}

/** ZMTP heartbeats: how dead TCP connections (no FIN, e.g. a frozen host) are noticed. */
export interface ZmqHeartbeat {
  /** Ping after this many ms of silence. */
  readonly interval: number
  /** Drop the connection when nothing came back within this many ms. */
  readonly timeout: number
}

/** Options of {@link zmqTransport}. Every one has a default. */
export interface ZmqTransportInit {
  /** The largest core frame sent or accepted, in bytes. Default 16 MiB. */
  readonly maxFrameSize?: number
  /**
   * Frames one side may have in flight to the other on one link (sent, not yet consumed by
   * the receiver): the hub's bound per peer (S6.5) and a node's bound towards the hub. When it
   * is reached, `send` returns false and a broadcast skips that peer (counted). Default 10 000.
   */
  readonly highWaterMark?: number
  /** The same bound in bytes (a single frame always fits an empty window). Default 64 MiB. */
  readonly highWaterMarkBytes?: number
  /** CURVE keys; without them links are unauthenticated and loopback-only (see `allowRemote`). */
  readonly curve?: ZmqCurveInit
  /**
   * Without CURVE, listening on or connecting to an address other than loopback or IPC is
   * refused (`TypeError`), since nothing would be encrypted or authenticated. `true` allows
   * it. Default false.
   */
  readonly allowRemote?: boolean
  /** The clock reconnect backoff and connect timeouts run on. Default the system clock. */
  readonly clock?: Clock
  /** How long one link attempt may take, from connecting to the hub's WELCOME, in ms. Default 10 000. */
  readonly connectTimeout?: number
  /** ZMTP heartbeats on every link, or `false` for none. Default `{ interval: 1000, timeout: 5000 }`. */
  readonly heartbeat?: ZmqHeartbeat | false
  /** How long `close()` lets a last message (BYE, the hub's farewell) flush, in ms. Default 100. */
  readonly linger?: number
}

/** @internal The normalised options endpoints work with. */
export interface ZmqConfig {
  readonly maxFrameSize: number
  readonly highWaterMark: number
  readonly highWaterMarkBytes: number
  /** ZeroMQ's own HWM on every socket: above the credit window, so it is only a backstop. */
  readonly zmqHighWaterMark: number
  /** ZMQ_MAXMSGSIZE: a frame up to this is received and refused by the transport (counted); beyond it libzmq cuts the connection. */
  readonly zmqMaxMessageSize: number
  readonly allowRemote: boolean
  readonly clock: Clock
  readonly connectTimeout: number
  readonly heartbeat: ZmqHeartbeat | false
  readonly linger: number
  readonly server: CurveKeys | undefined
  readonly admit: (publicKey: string) => string | undefined
  readonly client:
    | { readonly keys: CurveKeys; readonly serverKey: string; readonly serverKeyBytes: Buffer }
    | undefined
}

const MiB = 1024 * 1024
/** Control messages (acks, subscribe answers, farewells) ZeroMQ must hold beyond the credit window. */
const CONTROL_SLACK = 1000
/** Room above `maxFrameSize` in ZMQ_MAXMSGSIZE, so slightly oversized frames are counted, not just cut. */
const SIZE_MARGIN = 64 * 1024

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`)
  return v
}

function normalise(init: ZmqTransportInit): ZmqConfig {
  const maxFrameSize = positive('maxFrameSize', init.maxFrameSize, 16 * MiB)
  if (maxFrameSize > 2 ** 31 - 1 - SIZE_MARGIN) throw new RangeError('maxFrameSize must be below 2 GiB')
  const highWaterMark = positive('highWaterMark', init.highWaterMark, 10_000)
  const highWaterMarkBytes = positive('highWaterMarkBytes', init.highWaterMarkBytes, 64 * MiB)
  const connectTimeout = positive('connectTimeout', init.connectTimeout, 10_000)
  const linger = init.linger ?? 100
  if (!Number.isSafeInteger(linger) || linger < 0) throw new RangeError(`linger must be >= 0, got ${linger}`)
  const heartbeat = init.heartbeat ?? { interval: 1000, timeout: 5000 }
  if (heartbeat !== false) {
    positive('heartbeat.interval', heartbeat.interval, 1)
    positive('heartbeat.timeout', heartbeat.timeout, 1)
  }
  const curve = init.curve ?? {}
  if (typeof curve !== 'object' || curve === null) throw new TypeError('curve must be an object')
  const server = curve.server === undefined ? undefined : new CurveKeys(curve.server, 'curve.server')
  const clients = curve.clients
  let admit: (publicKey: string) => string | undefined
  if (clients === undefined) admit = (key) => key
  else if (typeof clients === 'function') admit = clients
  else if (clients instanceof Map) admit = (key) => clients.get(key)
  else throw new TypeError('curve.clients must be a Map or a function')
  if (clients !== undefined && server === undefined) throw new TypeError('curve.clients needs curve.server')
  let client: ZmqConfig['client']
  const nodeSide =
    curve.publicKey !== undefined || curve.secretKey !== undefined || curve.serverKey !== undefined
  if (nodeSide) {
    const serverKeyBytes = curveKeyBytes(curve.serverKey)
    if (serverKeyBytes === undefined) {
      throw new TypeError('curve.serverKey (the hub public key) must be a 40-character Z85 CURVE key')
    }
    const keys = new CurveKeys({ publicKey: curve.publicKey, secretKey: curve.secretKey }, 'curve')
    client = { keys, serverKey: curve.serverKey as string, serverKeyBytes }
  }
  return {
    maxFrameSize,
    highWaterMark,
    highWaterMarkBytes,
    zmqHighWaterMark: highWaterMark + CONTROL_SLACK,
    zmqMaxMessageSize: maxFrameSize + SIZE_MARGIN,
    allowRemote: init.allowRemote === true,
    clock: init.clock ?? systemClock,
    connectTimeout,
    heartbeat,
    linger,
    server,
    admit,
    client,
  }
}

/**
 * The ZeroMQ {@link Transport}: one ROUTER socket on the hub, one DEALER per link on each
 * node, carrying requests, replies and broadcasts alike (see the package README for why).
 *
 * Rules:
 * - Addresses are `tcp://host:port` (`tcp://127.0.0.1:0` binds a free port: read
 *   `endpoint.address`) and `ipc://path`.
 * - Delivery is asynchronous and FIFO per link, unicast and broadcast interleaved as sent.
 *   Frames are copied once on `send`/`broadcast` (the same bytes go to every receiver of a
 *   broadcast), so callers may reuse their buffers.
 * - `linkUp` comes after the hub's WELCOME: the ZMTP (and CURVE) handshake is done, the hub
 *   called `peerJoined` and re-authorized every subscription of the node.
 * - Each link has a credit window (`highWaterMark`): `send` returns false, a broadcast skips
 *   the peer, and both are counted, instead of ZeroMQ dropping silently.
 * - Broadcasts are filtered by raw topic prefix on the hub, after `authorizeSubscription`
 *   granted the prefix to that peer: `a/b` also receives `a/bc` (core filters segments).
 * - Identity: with CURVE, the client's public key (or the name `clients` maps it to);
 *   without, the identity the node presents (`ConnectOptions.identity`, unauthenticated), or
 *   `anonymous`.
 */
export class ZmqTransport implements Transport {
  /** `zmq`, prefix filtering in the transport, `none` and `curve`, not lossy, bounded peer queues. */
  readonly capabilities: TransportCapabilities
  readonly #config: ZmqConfig

  constructor(init: ZmqTransportInit = {}) {
    this.#config = normalise(init)
    this.capabilities = Object.freeze({
      name: 'zmq',
      maxFrameSize: this.#config.maxFrameSize,
      nativePrefixFilter: true,
      authentication: Object.freeze(['none', 'curve']),
      // Every frame not delivered while a link is up is reported: `send` returns false or a
      // broadcast drop is counted; ZeroMQ refusing later (ROUTER_MANDATORY) drops the link.
      lossy: false,
      boundedPeerQueues: true,
    })
  }

  /**
   * Binds `address` and serves nodes. Rejects with `TypeError` for a malformed address or,
   * without CURVE keys, a non-loopback one (unless `allowRemote`), `UnavailableError` when
   * the address cannot be bound (in use), `AbortedError` when `signal` aborted; aborting later
   * closes the endpoint.
   */
  async listen(address: string, handlers: HubHandlers, options: ListenOptions = {}): Promise<ZmqHubEndpoint> {
    const parsed = this.#check(address, this.#config.server !== undefined, 'listen on')
    if (typeof handlers !== 'object' || handlers === null) throw new TypeError('listen() needs hub handlers')
    if (options.signal?.aborted) throw new AbortedError('listen aborted', { cause: options.signal.reason })
    if (parsed.kind === 'ipc' && (await ipcInUse(parsed.path))) {
      throw new UnavailableError(`address ${address} is already in use`)
    }
    const hub = new ZmqHubEndpoint(this.#config, handlers)
    await hub.bind(parsed, address, options.signal)
    return hub
  }

  /**
   * Starts a link to the hub at `address` and resolves at once; the first attempt happens on
   * the next `setImmediate`. Failed attempts and lost links are retried after
   * `backoff(attempt)` ms on the clock until `close()` (the count restarts after each
   * successful link). Rejects with `TypeError` for a malformed address or options,
   * `AbortedError` when `signal` aborted; aborting later closes the endpoint.
   */
  async connect(address: string, handlers: NodeHandlers, options: ConnectOptions): Promise<ZmqNodeEndpoint> {
    const parsed = this.#check(address, this.#config.client !== undefined, 'connect to')
    if (parsed.kind === 'tcp' && parsed.port === 0) throw new TypeError(`connect needs a port: '${address}'`)
    if (typeof handlers !== 'object' || handlers === null)
      throw new TypeError('connect() needs node handlers')
    if (typeof options?.backoff !== 'function') throw new TypeError('connect() needs options.backoff')
    const identity = options.identity
    if (
      identity !== undefined &&
      (typeof identity !== 'string' || identity === '' || identity.length > 256)
    ) {
      throw new TypeError('identity must be a non-empty string of at most 256 characters')
    }
    if (options.signal?.aborted) throw new AbortedError('connect aborted', { cause: options.signal.reason })
    const node = new ZmqNodeEndpoint(this.#config, parsed, address, handlers, options.backoff, identity)
    node.bindSignal(options.signal)
    node.start()
    return node
  }

  #check(address: string, secured: boolean, what: string): ZmqAddress {
    const parsed = parseAddress(address)
    if (parsed === undefined) {
      throw new TypeError(
        `not a ZeroMQ address this transport serves (tcp://host:port, ipc://path): '${address}'`,
      )
    }
    if (!secured && !this.#config.allowRemote && !isLocal(parsed)) {
      throw new TypeError(
        `refusing to ${what} ${address} without CURVE keys: only loopback and ipc:// are allowed (pass curve keys, or allowRemote: true)`,
      )
    }
    return parsed
  }
}

/**
 * A ZeroMQ transport: see {@link ZmqTransport} for the rules and {@link ZmqTransportInit} for
 * the options.
 *
 * @example
 * const hub = await createHub({ transport: zmqTransport(), listen: 'tcp://127.0.0.1:7420', stores })
 * const node = await createNode({ transport: zmqTransport(), hub: 'tcp://127.0.0.1:7420' })
 */
export function zmqTransport(init?: ZmqTransportInit): ZmqTransport {
  return new ZmqTransport(init)
}

/** True when something accepts connections on the IPC socket file `path` (libzmq would replace it). */
function ipcInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
