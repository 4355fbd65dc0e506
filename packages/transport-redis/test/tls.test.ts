/**
 * TLS, end to end with core: real redis-servers listening on TLS only (`--port 0 --tls-port`),
 * with a throwaway CA and a server certificate for 127.0.0.1 made by `openssl` at the start of
 * the file (`certificates.ts`). Hubs and nodes meet over `rediss://127.0.0.1:<port>/<hub>` with
 * `tls: { ca }`; a node trusting another CA never links; with `--tls-auth-clients yes`, only
 * clients presenting a certificate signed by the CA get in.
 */
import { TLSSocket } from 'node:tls'
import {
  type Backoff,
  type ConcordNode,
  createHub,
  createNode,
  type Hub,
  memoryPersistence,
  type NodeStatus,
  type Store,
  UnavailableError,
} from '@concord/core'
import { t } from '@concord/schema'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisHubEndpoint, type RedisTransportInit, redisTransport } from '../src/index.js'
import { makeCertificates, type TestCertificates } from './certificates.js'
import { later, until } from './probes.js'
import { type RedisServer, startRedisServer } from './redis-server.js'

const fast = (init: RedisTransportInit = {}) =>
  redisTransport({ backoff: () => 20, handshakeTimeout: 2000, ...init })
const topics = { '': { schema: t.string() } }

let certs: TestCertificates
/** TLS only, no client certificates (`--tls-auth-clients no`). */
let server: RedisServer
/** TLS only, client certificates signed by the CA required (`--tls-auth-clients yes`). */
let mutual: RedisServer

beforeAll(async () => {
  certs = await makeCertificates()
  server = await startRedisServer({ tls: { ca: certs.ca, ...certs.server } })
  mutual = await startRedisServer({
    tls: { ca: certs.ca, ...certs.server, authClients: true, client: certs.client },
  })
}, 30_000)
afterAll(async () => {
  await mutual?.stop()
  await server?.stop()
})

async function startHub(redis: RedisServer, init: RedisTransportInit, name = 'hub') {
  const transport = fast(init)
  const hub: Hub = await createHub({
    transport,
    listen: redis.address(name),
    persistence: memoryPersistence(),
    stores: { kv: { schema: t.string() } },
    topics,
  })
  later(() => hub.close())
  return { hub, endpoint: transport.hubs()[0] as RedisHubEndpoint }
}

/** A node; its backoff counts the retries (of its Redis connections and of its link). */
async function startNode(hub: Hub, identity: string, init: RedisTransportInit) {
  const transport = fast(init)
  const retries = { count: 0 }
  const backoff: Backoff = () => {
    retries.count++
    return 20
  }
  const node = await createNode({ transport, hub: hub.address, identity, topics, backoff })
  later(() => node.close())
  // Errors of its connections, from now on (the first TLS handshake has not finished yet).
  const errors: string[] = []
  for (const endpoint of transport.nodes()) {
    for (const redis of [endpoint.publisher, endpoint.subscriber]) {
      redis.on('error', (error: Error) => errors.push(error.message))
    }
  }
  const statuses: NodeStatus[] = [node.status]
  void (async () => {
    for await (const change of node.statusChanges()) statuses.push(change.status)
  })()
  return { node, transport, retries, errors, statuses }
}

/** The TLS socket under an ioredis connection, checked to be connected, encrypted and verified. */
function verifiedTls(redis: Redis): TLSSocket {
  expect(redis.status).toBe('ready')
  const socket = redis.stream
  expect(socket).toBeInstanceOf(TLSSocket)
  const tls = socket as TLSSocket
  expect(tls.encrypted).toBe(true)
  expect(tls.authorized).toBe(true)
  return tls
}

/**
 * While `good` (on the same hub) replicates a put, waits until the `bad` node retried at least
 * 6 times (its connections and link attempts) and one of its connections reported `error`;
 * then checks it never linked (never 'connected', no WELCOME, nothing sent) and the hub has
 * only `good` as a peer.
 */
async function neverLinks(
  endpoint: RedisHubEndpoint,
  bad: Awaited<ReturnType<typeof startNode>>,
  good: { identity: string; node: ConcordNode; clone: Store<string> },
  error: RegExp,
) {
  await good.clone.put('while', 'the bad node knocks')
  expect(good.node.status).toBe('connected')
  await until(() => expect(bad.retries.count).toBeGreaterThanOrEqual(6))
  await until(() => expect(bad.errors.some((message) => error.test(message))).toBe(true))
  expect(bad.node.status).toBe('connecting')
  expect(bad.statuses).not.toContain('connected')
  expect(bad.transport.stats.links.established).toBe(0)
  expect(bad.transport.stats.sent.toHub).toBe(0)
  expect(bad.transport.nodes()[0]!.connected).toBe(false)
  expect(endpoint.peers().map((peer) => peer.identity)).toEqual([good.identity])
}

describe('rediss:// with tls: { ca }', () => {
  it('a hub and two nodes over TLS: a put replicates, an event arrives; every connection is verified TLS', async () => {
    const tls = { ca: certs.ca }
    const { hub, endpoint } = await startHub(server, { tls })
    expect(hub.address).toBe(`rediss://127.0.0.1:${server.port}/hub`)
    const a = await startNode(hub, 'a', { tls })
    const b = await startNode(hub, 'b', { tls })
    const ca = await a.node.open('kv', { schema: t.string() })
    const cb = await b.node.open('kv', { schema: t.string() })

    await ca.put('k', 'over TLS')
    await until(() => expect(cb.get('k')).toBe('over TLS'))
    await cb.put('k2', 'back')
    await until(() => expect(ca.get('k2')).toBe('back'))
    expect(hub.master('kv')?.committedSeq).toBe(ca.seq)

    const events = b.node.subscribe<string>('news')
    await events.ready
    await a.node.publish('news/1', 'hello over TLS')
    const { value } = await events.next()
    expect(value).toMatchObject({ topic: 'news/1', payload: 'hello over TLS' })

    const connections = [endpoint, ...a.transport.nodes(), ...b.transport.nodes()].flatMap((e) => [
      e.publisher,
      e.subscriber,
    ])
    expect(connections).toHaveLength(6)
    for (const redis of connections) {
      const socket = verifiedTls(redis)
      expect(socket.getPeerCertificate().subjectaltname).toBe('IP Address:127.0.0.1')
    }
    expect(a.errors).toEqual([])
    expect(
      endpoint
        .peers()
        .map((peer) => peer.identity)
        .sort(),
    ).toEqual(['a', 'b'])
  })

  it('a node trusting another CA never links, while a node trusting the right one goes live', async () => {
    const { hub, endpoint } = await startHub(server, { tls: { ca: certs.ca } })
    const bad = await startNode(hub, 'mallory', { tls: { ca: certs.otherCa } })
    const good = await startNode(hub, 'good', { tls: { ca: certs.ca } })
    const clone = await good.node.open('kv', { schema: t.string() })
    await neverLinks(
      endpoint,
      bad,
      { identity: 'good', node: good.node, clone },
      /self[- ]signed certificate|unable to verify|unable to get/,
    )
  })

  it('listen rejects with UnavailableError when the server is not trusted, or the client speaks plain TCP', async () => {
    const listen = (address: string, init: RedisTransportInit) =>
      createHub({
        transport: fast(init),
        listen: address,
        persistence: memoryPersistence(),
        stores: { kv: { schema: t.string() } },
      })
    const address = server.address('hub')
    // rediss:// alone: Node's default trust store, which does not hold the test CA.
    const untrusted = await listen(address, {}).catch((error) => error)
    expect(untrusted).toBeInstanceOf(UnavailableError)
    expect(untrusted.message).toMatch(/certificate/)
    const otherCa = await listen(address, { tls: { ca: certs.otherCa } }).catch((error) => error)
    expect(otherCa).toBeInstanceOf(UnavailableError)
    expect(otherCa.message).toMatch(/certificate/)
    // redis:// to the TLS-only port: Redis drops the connection at the first bytes.
    const plain = await listen(`redis://127.0.0.1:${server.port}/hub`, {}).catch((error) => error)
    expect(plain).toBeInstanceOf(UnavailableError)
  })
})

describe('client certificates (--tls-auth-clients yes)', () => {
  it('with tls: { ca, cert, key } hub and node link and replicate; without a certificate, or with one of another CA, a node never links', async () => {
    const tls = { ca: certs.ca, ...certs.client }
    const { hub, endpoint } = await startHub(mutual, { tls })
    const good = await startNode(hub, 'good', { tls })
    const other = await startNode(hub, 'other', { tls })
    const clone = await good.node.open('kv', { schema: t.string() })
    const otherClone = await other.node.open('kv', { schema: t.string() })
    await clone.put('k', 'mutual TLS')
    await until(() => expect(otherClone.get('k')).toBe('mutual TLS'))
    for (const redis of [endpoint.publisher, ...good.transport.nodes().map((n) => n.subscriber)]) {
      verifiedTls(redis)
    }
    await other.node.close()
    await until(() => expect(endpoint.peers()).toHaveLength(1))

    const anonymous = await startNode(hub, 'anonymous', { tls: { ca: certs.ca } })
    // TLS 1.3: the client finishes its handshake before the server checks its certificate, so
    // the connection is 'ready' at first; the server answers nothing and drops it (the alert, or
    // ECONNRESET when the client writes first).
    await neverLinks(
      endpoint,
      anonymous,
      { identity: 'good', node: good.node, clone },
      /certificate required|ECONNRESET/,
    )
    const foreign = await startNode(hub, 'foreign', { tls: { ca: certs.ca, ...certs.otherClient } })
    await neverLinks(endpoint, foreign, { identity: 'good', node: good.node, clone }, /unknown ca|ECONNRESET/)
  })

  it('listen rejects with UnavailableError without a client certificate', async () => {
    const failed = await createHub({
      transport: fast({ tls: { ca: certs.ca } }),
      listen: mutual.address('hub'),
      persistence: memoryPersistence(),
      stores: { kv: { schema: t.string() } },
    }).catch((error) => error)
    // The server's alert (\`tlsv13 alert certificate required\`) when the client read it before
    // the connection dropped, else \`write ECONNRESET\`: timing.
    expect(failed).toBeInstanceOf(UnavailableError)
  })
})

describe('a TLS socket that errs twice', () => {
  // ioredis listens for its socket's errors with \`once\`; a TLS socket refused by the server can
  // emit two (\`write ECONNRESET\`, then the alert), and the second crashed the process as an
  // uncaught exception (seen in about half the runs of the client-certificate test above).
  it('does not crash the process: the transport keeps a listener on every socket', async () => {
    const { endpoint } = await startHub(server, { tls: { ca: certs.ca } })
    for (const redis of [endpoint.publisher, endpoint.subscriber]) {
      const socket = redis.stream
      socket.emit('error', new Error('first'))
      expect(socket.listenerCount('error')).toBeGreaterThan(0)
      expect(() => socket.emit('error', new Error('second'))).not.toThrow()
    }
  })
})
