import {
  type ConcordNode,
  constantBackoff,
  createHub,
  createNode,
  type Hub,
  memoryPersistence,
  type Transport,
} from '@concord/core'
import { t } from '@concord/schema'
import { afterEach, describe, expect, it } from 'vitest'
import { type ZmqHubEndpoint, zmqCurveKeyPair, zmqModule, zmqTransport } from '../src/index.js'
import { ZmqFaults } from './faults.js'
import { until } from './helpers.js'

const schema = t.string()
const stores = { kv: { schema } }

/** The transport, with the hub endpoints it made kept for the test (to kill them abruptly). */
function recording(transport: Transport): { transport: Transport; endpoints: ZmqHubEndpoint[] } {
  const endpoints: ZmqHubEndpoint[] = []
  return {
    endpoints,
    transport: {
      capabilities: transport.capabilities,
      async listen(address, handlers, options) {
        const endpoint = (await transport.listen(address, handlers, options)) as ZmqHubEndpoint
        endpoints.push(endpoint)
        return endpoint
      },
      connect: (address, handlers, options) => transport.connect(address, handlers, options),
    },
  }
}

const open: Array<Hub | ConcordNode> = []
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close()
})

async function node(address: string, transport: Transport = zmqTransport()): Promise<ConcordNode> {
  const n = await createNode({ transport, hub: address, backoff: constantBackoff(20) })
  open.push(n)
  return n
}

describe('end to end with core', () => {
  it('two nodes share a store: put, get, remove, changes; the issue example shape', async () => {
    const hub = await createHub({
      transport: zmqTransport(),
      listen: 'tcp://127.0.0.1:0',
      persistence: memoryPersistence(),
      stores: { kv: { schema: t.string() } },
    })
    open.push(hub)
    const [a, b] = [await node(hub.address), await node(hub.address)]
    const kvA = await a.open('kv', { schema })
    const kvB = await b.open('kv', { schema })
    const changes = kvB.changes()
    const seq = await kvA.put('greeting', 'hello')
    expect(kvA.get('greeting')).toBe('hello')
    await until(() => expect(kvB.get('greeting')).toBe('hello'))
    expect((await changes.next()).value).toMatchObject({ kind: 'put', key: 'greeting', value: 'hello', seq })
    await kvB.remove('greeting')
    await until(() => expect(kvA.has('greeting')).toBe(false))
    for (let i = 0; i < 200; i++) void kvA.put(`k${i}`, `v${i}`)
    await kvA.put('last', 'one')
    await until(() => expect(kvB.size).toBe(201))
    expect(kvB.get('k199')).toBe('v199')
  })

  it('events reach subscribers by whole segments: a/b gets a/b/c, not a/bc', async () => {
    const hub = await createHub({ transport: zmqTransport(), listen: 'tcp://127.0.0.1:0', stores })
    open.push(hub)
    const [pub, sub] = [await node(hub.address), await node(hub.address)]
    const subscription = sub.subscribe('a/b')
    await subscription.ready
    const bytes = (s: string) => new TextEncoder().encode(s)
    await pub.publish('a/bc', bytes('wrong segment'))
    await pub.publish('a/b/c', bytes('one'))
    await pub.publish('a/b', bytes('two'))
    const got: string[] = []
    for await (const event of subscription) {
      got.push(`${event.topic}=${new TextDecoder().decode(event.payload as Uint8Array)}`)
      if (got.length === 2) break
    }
    expect(got).toEqual(['a/b/c=one', 'a/b=two'])
  })

  it('a hub killed abruptly and restarted on the same port: nodes relink and clones resync', async () => {
    const persistence = memoryPersistence()
    const first = recording(zmqTransport())
    const hub1 = await createHub({
      transport: first.transport,
      listen: 'tcp://127.0.0.1:0',
      persistence,
      stores,
      heartbeat: 100,
    })
    const address = hub1.address
    const [a, b] = [await node(address), await node(address)]
    const kvA = await a.open('kv', { schema })
    const kvB = await b.open('kv', { schema })
    await kvA.put('before', '1')
    await until(() => expect(kvB.get('before')).toBe('1'))
    const epoch = kvB.epoch

    // Crash: the hub stops answering and its sockets vanish without a farewell.
    hub1.abort()
    await first.endpoints[0]!.abort()
    await until(() => expect(kvB.status).not.toBe('live'))

    const hub2 = await createHub({
      transport: zmqTransport(),
      listen: address,
      persistence,
      stores,
      heartbeat: 100,
    })
    open.push(hub2)
    await until(() => expect([kvA.status, kvB.status]).toEqual(['live', 'live']))
    expect(kvB.epoch).not.toBe(epoch)
    expect(kvB.get('before')).toBe('1')
    await kvA.put('after', '2')
    await until(() => expect(kvB.get('after')).toBe('2'))
  })

  it('S6.2 S3.7 a stall of the process (its event loop held past three heartbeats, as a restarted hub recovering is) drops no link, refuses nothing and loses no write', async () => {
    const hub = await createHub({
      transport: zmqTransport(),
      listen: 'tcp://127.0.0.1:0',
      persistence: memoryPersistence(),
      stores,
      heartbeat: 250,
    })
    open.push(hub)
    const a = await node(hub.address)
    const kv = await a.open('kv', { schema })
    await kv.put('warm', 'up')
    const writes = Array.from({ length: 50 }, (_, i) => kv.put(`k${i}`, `v${i}`))
    // The writes leave (the node flushes in a microtask), then hub and node both stall:
    // what each sent the other meanwhile waits unread behind their heartbeat timers.
    await new Promise((resolve) => setImmediate(resolve))
    const end = performance.now() + 1200
    while (performance.now() < end) {
      // held up on purpose
    }
    const seqs = await Promise.all(writes)
    expect(new Set(seqs).size).toBe(50)
    expect(hub.master('kv')!.committedSeq).toBe(51)
    await until(() => expect(hub.metrics.stalls).toBeGreaterThan(0))
    await until(() => expect(a.metrics.stalls).toBeGreaterThan(0))
    expect(hub.metrics.peerTimeouts).toBe(0)
    expect(hub.metrics.refused).toEqual({})
    expect(a.metrics.linksLost).toBe(0)
    expect(a.metrics.writesResent).toBe(0)
    expect(kv.status).toBe('live')
  })

  it('a hub closed and restarted gracefully: the same, through a container module and CURVE', async () => {
    const server = zmqCurveKeyPair()
    const alice = zmqCurveKeyPair()
    const bob = zmqCurveKeyPair()
    const clients = new Map([
      [alice.publicKey, 'alice'],
      [bob.publicKey, 'bob'],
    ])
    const persistence = memoryPersistence()
    const hubOptions = {
      modules: [zmqModule({ curve: { server, clients } })],
      listen: 'tcp://127.0.0.1:0',
      persistence,
      stores,
      heartbeat: 100,
      access: [{ identities: ['alice', 'bob'], allow: ['read' as const, 'write' as const], stores: ['kv'] }],
    }
    const hub1 = await createHub(hubOptions)
    const address = hub1.address
    const a = await node(address, zmqTransport({ curve: { ...alice, serverKey: server.publicKey } }))
    const b = await node(address, zmqTransport({ curve: { ...bob, serverKey: server.publicKey } }))
    const kvA = await a.open('kv', { schema })
    const kvB = await b.open('kv', { schema })
    await kvA.put('x', 'from alice')
    await until(() => expect(kvB.get('x')).toBe('from alice'))
    const epoch = kvA.epoch
    await hub1.close()
    const hub2 = await createHub({ ...hubOptions, listen: address })
    open.push(hub2)
    // Live on the new hub (a clone may still be live on the old one until its drop notice is
    // read: a write sent then would be 'may or may not have been applied', S3.7).
    await until(() => {
      expect([kvA.status, kvB.status]).toEqual(['live', 'live'])
      expect([kvA.epoch, kvB.epoch]).toEqual([hub2.master('kv')!.epoch, hub2.master('kv')!.epoch])
    })
    expect(kvA.epoch).not.toBe(epoch)
    await kvB.put('y', 'from bob')
    await until(() => expect(kvA.get('y')).toBe('from bob'))
  })

  it('S6.3 S6.5 a clone that fell behind by more than its link window catches up by a paced log replay, without a snapshot', async () => {
    // A 2 MiB window to each node. The slow clone misses about 8 MB of mutations: 2 MiB wait
    // in its socket, the rest is a replay three times its window, paced by credits.
    const small = () => zmqTransport({ highWaterMarkBytes: 2 * 1024 * 1024 })
    const hub = await createHub({ transport: small(), listen: 'tcp://127.0.0.1:0', stores })
    open.push(hub)
    const writer = await (await node(hub.address, small())).open('kv', { schema })
    const faults = new ZmqFaults()
    const slowNode = await createNode({
      transport: faults.wrap(small(), 'slow'),
      hub: hub.address,
      backoff: constantBackoff(20),
      staleAfter: 60_000,
    })
    open.push(slowNode)
    const slow = await slowNode.open('kv', { schema })
    faults.pause('slow')
    const value = 'x'.repeat(200)
    for (let round = 0; round < 40; round++) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => writer.put(`k${round * 1000 + i}`, value)))
    }
    const last = hub.master('kv')!.committedSeq
    const { snapshots, resumes } = hub.metrics
    faults.resume('slow')
    await until(() => expect(slow.seq).toBe(last), 20_000)
    expect(slow.size).toBe(40_000)
    expect(hub.metrics.resumes).toBeGreaterThan(resumes)
    expect(hub.metrics.snapshots).toBe(snapshots)
  }, 60_000)

  it('S2.7 a node that accepts smaller frames than the hub opens a store bigger than its frames and follows bursts of writes', async () => {
    const hub = await createHub({ transport: zmqTransport(), listen: 'tcp://127.0.0.1:0', stores })
    open.push(hub)
    const writer = await (await node(hub.address)).open('kv', { schema })
    const value = 'v'.repeat(1000)
    await Promise.all(Array.from({ length: 1000 }, (_, i) => writer.put(`k${i}`, value)))
    // 64 KiB frames against the hub's 16 MiB: a 1 MB snapshot, and broadcasts of 300 KB batches.
    const small = await (await node(hub.address, zmqTransport({ maxFrameSize: 64 * 1024 }))).open('kv', {
      schema,
    })
    expect(small.size).toBe(1000)
    await Promise.all(Array.from({ length: 300 }, (_, i) => writer.put(`n${i}`, value)))
    await until(() => expect(small.seq).toBe(hub.master('kv')!.committedSeq))
    expect(small.size).toBe(1300)
    expect(hub.metrics.peerQueueOverflows).toBe(0)
  })
})
