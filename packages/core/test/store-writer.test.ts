import { t } from '@concord/schema'
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import { SchemaMismatchError, type StoreWriter } from '../src/index.js'
import { restartableHub, useMemoryClusters } from './memory-cluster.js'
import { soon } from './soon.js'

const cluster = useMemoryClusters()
const Count = t.count()
const Text = t.string()
const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

describe('write-only handles (node.writer)', () => {
  it('S3.5 a writer is typed like a clone: values by the schema, putIfAbsent resolves to a boolean, other writes to a seq', async () => {
    const { node } = await cluster({ stores: { n: { schema: Count } } })
    const hits = await (await node('worker')).writer('n', { schema: Count })
    expectTypeOf(hits).toEqualTypeOf<StoreWriter<bigint, bigint>>()
    expectTypeOf(hits.put).parameter(1).toEqualTypeOf<bigint>()
    const inserted = await hits.update('k', 1n, { op: 'putIfAbsent' })
    expectTypeOf(inserted).toEqualTypeOf<boolean>()
    expect(inserted).toBe(true)
    expect(await hits.update('k', 2n, { op: 'putIfAbsent' })).toBe(false)
    const seq = await hits.update('k', 2n, { op: 'increment' })
    expectTypeOf(seq).toEqualTypeOf<number>()
    expect(seq).toBe(2)
  })

  it('S3.7 a write whose answer was lost with its link is resent on the next one and applied once', async () => {
    // No heartbeat: the increment's answer is the only frame the hub sends the worker meanwhile.
    const { hub, transport, node } = await cluster({ stores: { n: { schema: Count } }, heartbeat: '1h' })
    const workerNode = await node('worker')
    const hits = await workerNode.writer('n', { schema: Count })
    // The increment reaches the master; its answer does not reach the worker.
    const mute = transport.faults.drop(1, { direction: 'toNode', kind: 'unicast', node: 'worker' })
    const increment = hits.update('c', 1n, { op: 'increment' })
    await soon(() => expect(hub.metrics.mutations).toBe(1))
    transport.faults.partition('worker')
    mute()
    await soon(() => expect(workerNode.status).toBe('connecting'))
    transport.faults.heal('worker')
    expect(await increment).toBe(1)
    expect(hub.metrics.duplicateWrites).toBe(1)
    expect(workerNode.metrics.writesResent).toBe(1)
    const reader = await (await node('reader')).open('n', { schema: Count })
    expect(reader.get('c')).toBe(1n)
  })

  it('S3.7 a write sent but not answered when the hub restarted rejects with UnavailableError: it may or may not have been applied', async () => {
    const restartable = await restartableHub(closers, { schema: Text })
    const node = await restartable.node('worker')
    const writer = await node.writer('kv', { schema: Text })
    restartable.transport.faults.pause('worker')
    const write = writer.put('a', 'maybe')
    await soon(() => expect(restartable.hub.metrics.mutations).toBe(1))
    await restartable.restart()
    restartable.transport.faults.resume('worker')
    await expect(write).rejects.toThrow(/may or may not have been applied/)
    expect(node.metrics).toMatchObject({ writesSent: 1, writesInDoubt: 1, writesResent: 0 })
    // The handle goes on on the new hub.
    expect(await writer.put('b', 'sure')).toBe(1)
  })

  it('S2.2 the hub checks a writer again on every link: after a restart with another schema its writes are refused, until a hub with its schema is back', async () => {
    const restartable = await restartableHub(closers, { schema: Text })
    const node = await restartable.node('worker')
    const writer = await node.writer('kv', { schema: Text })
    expect(await writer.put('a', 'one')).toBe(1)
    await restartable.restart({ schema: Count })
    await soon(() => expect(restartable.hub.metrics.writersRefused.ERR_SCHEMA_MISMATCH).toBe(1))
    const refused = await writer.put('a', 'two').catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(SchemaMismatchError)
    expect(restartable.hub.metrics.mutations).toBe(0)
    await restartable.restart({ schema: Text })
    await soon(() => expect(restartable.hub.metrics.writers).toBe(1))
    expect(await writer.put('a', 'three')).toBe(1)
  })

  it('S3.7 a writer made while the link is down is checked once it is up, and its writes go then', async () => {
    const { hub, transport, node } = await cluster({ stores: { n: { schema: Count } } })
    const workerNode = await node('worker')
    transport.faults.partition('worker')
    await soon(() => expect(workerNode.status).toBe('connecting'))
    const making = workerNode.writer('n', { schema: Count })
    transport.faults.heal('worker')
    const hits = await making
    expect(await hits.update('c', 2n, { op: 'increment' })).toBe(1)
    expect(hub.metrics.writers).toBe(1)
  })

  it('S10.1 closing the node closes its writers: pending writes reject with ClosedError, and so does the writer that was being made', async () => {
    const { transport, node } = await cluster({ stores: { n: { schema: Count } } })
    const workerNode = await node('worker')
    const hits = await workerNode.writer('n', { schema: Count })
    transport.faults.partition('worker')
    await soon(() => expect(workerNode.status).toBe('connecting'))
    const pending = hits.update('c', 1n, { op: 'increment' }).catch((e: unknown) => e)
    const making = workerNode.writer('n', { schema: Count }).catch((e: unknown) => e)
    await workerNode.close()
    expect(await pending).toMatchObject({ code: 'ERR_CLOSED' })
    expect(await making).toMatchObject({ code: 'ERR_CLOSED' })
    expect(hits.closed).toBe(true)
    await expect(workerNode.writer('n', { schema: Count })).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  })

  it('S10.1 a writer being made honours its AbortSignal', async () => {
    const { transport, node } = await cluster({ stores: { n: { schema: Count } } })
    const workerNode = await node('worker')
    transport.faults.partition('worker')
    await soon(() => expect(workerNode.status).toBe('connecting'))
    const controller = new AbortController()
    const making = workerNode.writer('n', { schema: Count, signal: controller.signal })
    controller.abort()
    await expect(making).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })
})
