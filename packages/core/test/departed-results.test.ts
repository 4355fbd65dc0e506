import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { ConflictError, UnavailableError } from '../src/index.js'
import { useMemoryClusters } from './memory-cluster.js'
import { soon } from './soon.js'

const cluster = useMemoryClusters()
const Count = t.count()

describe('the outcome tables of nodes that left', () => {
  it('S3.7 are bounded in total: the oldest go first, and a write resent after its outcome was dropped is refused, never applied twice', async () => {
    // A table starts with room for 64 outcomes and doubles as its node writes more.
    const { hub, transport, node } = await cluster({
      stores: { n: { schema: Count } },
      limits: { departedWriteResults: 350 },
      // No heartbeat: the increment's answer is the only frame the hub sends x alone meanwhile.
      heartbeat: '1h',
    })
    const x = await (await node('x')).open('n', { schema: Count })
    for (let i = 0; i < 100; i++) await x.put('filler', BigInt(i)) // x's table: 128
    const yNode = await node('y')
    const y = await yNode.open('n', { schema: Count })
    // x's increment reaches the master; its answer does not reach x.
    const mute = transport.faults.drop(1, { direction: 'toNode', kind: 'unicast', node: 'x' })
    const increment = x.update('c', 1n, { op: 'increment' })
    const settled = increment.then(
      () => 'resolved',
      (error: unknown) => error,
    )
    await soon(() => expect(y.get('c')).toBe(1n))
    transport.faults.partition('x')
    mute()
    // y writes more (its table: 256) and leaves: 128 + 256 outcomes for nodes that left.
    for (let i = 0; i < 200; i++) await y.put('filler', BigInt(i))
    await yNode.close()
    await soon(() => expect(hub.metrics.forgottenWriteTables).toBe(1))
    // x, which left first, lost its table; y keeps its own (64 + 256 <= 350).
    transport.faults.heal('x')
    expect(await settled).toBeInstanceOf(UnavailableError)
    await soon(() => expect(x.seq).toBe(hub.master('n')!.committedSeq))
    expect(x.get('c')).toBe(1n)
    expect(hub.metrics.forgottenWriteTables).toBe(1)
  })
})

describe('the refusals a node that left is remembered by', () => {
  it('S3.7 its table keeps only its latest refusals whole once it left; a write resent from before them is answered with its code and actualSeq', async () => {
    const { hub, transport, node } = await cluster({ heartbeat: '1h' })
    const xNode = await node('x')
    const x = await xNode.open('kv', { schema: t.string() })
    const seq = await x.put('k', 'v')
    // Twenty compareAndSets that lose reach the master; their refusals do not reach x.
    const mute = transport.faults.drop(1, { direction: 'toNode', kind: 'unicast', node: 'x' })
    const lost = Array.from({ length: 20 }, (_, i) =>
      x.compareAndSet('k', seq + 100 + i, 'w').catch((error: unknown) => error),
    )
    await soon(() => expect(hub.metrics.writeErrors.ERR_CONFLICT).toBe(20))
    // x's link goes: it has left, and its table is one of a departed node's (up to 4096 kept).
    transport.faults.partition('x')
    mute()
    // The hub is told before x is (the memory transport tells both in one turn, the hub first).
    await soon(() => expect(xNode.status).toBe('connecting'))
    transport.faults.heal('x')
    // Resent, each is answered from the table: the same code and actualSeq for all twenty,
    // the message whole for the last sixteen.
    const errors = (await Promise.all(lost)) as ConflictError[]
    expect(hub.metrics.duplicateWrites).toBe(20)
    for (const error of errors) {
      expect(error).toBeInstanceOf(ConflictError)
      expect(error.actualSeq).toBe(seq)
    }
    const compact = 'the hub no longer keeps the rest of its answer'
    expect(errors.map((error) => error.message.includes(compact))).toEqual([
      ...Array<boolean>(4).fill(true),
      ...Array<boolean>(16).fill(false),
    ])
  })
})
