/**
 * A write the master acknowledged whose broadcast has not reached its clone when the link
 * is lost (S3.2, S3.7, S6.4; the core README, *An acknowledged write whose broadcast does not
 * arrive*): it waits for its seq at most `writeTimeout` of time without a link, never while
 * the link is up. Hub, node and transport share one manual clock; frames flow between steps.
 */
import { t } from '@concord/schema'
import { afterEach, describe, expect, it } from 'vitest'
import {
  ClosedError,
  type ConcordNode,
  ConflictError,
  constantBackoff,
  createHub,
  createNode,
  type Hub,
  memoryPersistence,
  memoryTransport,
  PersistenceError,
  type Store,
  UnavailableError,
} from '../src/index.js'
import { type ManualClock, manualClock } from '../src/testing.js'
import { soon } from './soon.js'

const Text = t.string()
const HEARTBEAT = 1000
const WRITE_TIMEOUT = 10_000
/** Long enough that a held sync is not started over while a test looks at it. */
const STALE_AFTER = 30_000
const ADDRESS = 'memory://acknowledged'

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** A promise and, once it settled, how. */
interface Tracked<T> {
  readonly promise: Promise<T>
  outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined
}

function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { promise, outcome: undefined }
  promise.then(
    (value) => {
      tracked.outcome = { ok: true, value }
    },
    (error: unknown) => {
      tracked.outcome = { ok: false, error }
    },
  )
  return tracked
}

async function turns(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

interface Setup {
  readonly clock: ManualClock
  readonly transport: ReturnType<typeof memoryTransport>
  hub: Hub
  readonly node: ConcordNode
  readonly kv: Store<string>
  /** Moves time `ms` forward, a heartbeat at a time, letting frames flow after each step. */
  pass(ms: number): Promise<void>
  /** Starts a new hub (a new epoch) on empty storage at the address. */
  startHub(): Promise<Hub>
  /** Cuts the writer off (reconnecting fails until `heal`); resolves once its node counts the link lost. */
  cutOff(): Promise<void>
  /** The hub dies, answering nothing more; resolves once the node counts the link lost. */
  killHub(): Promise<void>
}

async function setup(): Promise<Setup> {
  const clock = manualClock()
  const transport = memoryTransport({ clock })
  const startHub = async () => {
    const hub = await createHub({
      transport,
      listen: ADDRESS,
      persistence: memoryPersistence(),
      clock,
      heartbeat: HEARTBEAT,
      stores: { kv: { schema: Text } },
    })
    closers.push(() => hub.close())
    return hub
  }
  const hub = await startHub()
  const node = await createNode({
    transport,
    hub: ADDRESS,
    identity: 'writer',
    clock,
    backoff: constantBackoff(10),
    writeTimeout: WRITE_TIMEOUT,
    staleAfter: STALE_AFTER,
  })
  closers.push(() => node.close())
  const kv = await node.open('kv', { schema: Text })
  const s: Setup = {
    clock,
    transport,
    hub,
    node,
    kv,
    async pass(ms) {
      for (let left = ms; left > 0; left -= HEARTBEAT) {
        clock.advance(Math.min(HEARTBEAT, left))
        await turns()
      }
    },
    startHub,
    async cutOff() {
      transport.faults.partition('writer')
      await soon(() => expect(node.status).toBe('connecting'))
    },
    async killHub() {
      s.hub.abort()
      transport.faults.killHub(ADDRESS)
      await soon(() => expect(node.status).toBe('connecting'))
    },
  }
  return s
}

/**
 * `kv.put('b', …)` acknowledged at seq 2 by the master, whose broadcast the writer does not
 * receive: the write waits for its clone to apply seq 2.
 */
async function acknowledgedNotApplied({ hub, transport, node, kv }: Setup): Promise<Tracked<number>> {
  expect(await kv.put('a', 'applied')).toBe(1)
  const lose = transport.faults.drop(1, { direction: 'toNode', kind: 'broadcast', node: 'writer' })
  const write = track(kv.put('b', 'acknowledged'))
  await soon(() => expect(hub.metrics.mutations).toBe(2))
  // Acknowledged on the same ordered link before this publish's answer.
  await node.publish('probe', new Uint8Array([1]))
  lose()
  expect(kv.seq).toBe(1)
  expect(write.outcome).toBeUndefined()
  return write
}

/** Steps time 10 ms at a time (reconnect attempts are 10 ms apart) until `done`. */
async function stepUntil(clock: ManualClock, done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) {
    clock.advance(10)
    await turns()
  }
  expect(done()).toBe(true)
}

/**
 * Heals the partition of the writer and, the moment its link is back (before the hub
 * answers its resume), loses what the hub sends it alone: its clone stays `syncing` while
 * heartbeats (broadcasts) keep the link up. Returns what lets those frames through again.
 */
async function backHeldSyncing({ node, transport, clock }: Setup): Promise<() => void> {
  let hold: (() => void) | undefined
  const statuses = node.statusChanges()
  // Runs in the task that welcomed the node, before any frame of the hub's answer leaves.
  void statuses.next().then(() => {
    hold = transport.faults.drop(1, { direction: 'toNode', kind: 'unicast', node: 'writer' })
  })
  transport.faults.heal()
  await stepUntil(clock, () => hold !== undefined)
  void statuses.return?.()
  expect(node.status).toBe('connected')
  return hold!
}

/**
 * A write acknowledged, not applied; its node cut off for half the bound, then back with its
 * sync held (see {@link backHeldSyncing}) for twice the bound, the write still waiting.
 */
async function backSyncingPastTheBound(s: Setup): Promise<{ write: Tracked<number>; hold: () => void }> {
  const write = await acknowledgedNotApplied(s)
  await s.cutOff()
  await s.pass(WRITE_TIMEOUT / 2)
  const hold = await backHeldSyncing(s)
  await s.pass(2 * WRITE_TIMEOUT)
  expect(s.node.status).toBe('connected')
  expect(s.kv.status).toBe('syncing')
  expect(write.outcome).toBeUndefined()
  return { write, hold }
}

describe('an acknowledged write whose broadcast does not arrive', () => {
  it('S3.2 S3.7 its hub gone for good: it rejects after writeTimeout without a link, with UnavailableError naming the seq (a refused compareAndSet with its ConflictError); reached() waits on', async () => {
    const s = await setup()
    const { node, kv } = s
    const write = await acknowledgedNotApplied(s)
    // A compare-and-set refused at seq 2 (the put took the key there) waits for seq 2 too.
    const cas = track(kv.compareAndSet('b', 0, 'lost the race'))
    await soon(() => expect(s.hub.metrics.writeErrors).toEqual({ ERR_CONFLICT: 1 }))
    await node.publish('probe', new Uint8Array([2]))
    const reaching = track(kv.reached(2))
    await s.killHub()

    await s.pass(WRITE_TIMEOUT - 1)
    expect(write.outcome).toBeUndefined()
    expect(cas.outcome).toBeUndefined()
    expect(node.metrics.ackedWriteTimeouts).toBe(0)
    await s.pass(HEARTBEAT)
    expect(write.outcome?.ok).toBe(false)
    const error = (write.outcome as { error: UnavailableError }).error
    expect(error).toBeInstanceOf(UnavailableError)
    expect(error.ackedSeq).toBe(2)
    expect(error.message).toMatch(/acknowledged this write at seq 2, so it took effect/)
    expect(error.message).toMatch(/would apply it twice/)
    // The compare-and-set did not take effect: it rejects with its refusal, as on close.
    expect(cas.outcome?.ok).toBe(false)
    expect((cas.outcome as { error: ConflictError }).error).toBeInstanceOf(ConflictError)
    expect((cas.outcome as { error: ConflictError }).error.actualSeq).toBe(2)
    expect(node.metrics).toMatchObject({
      ackedWriteTimeouts: 2,
      writeTimeouts: 0,
      writesLost: 0,
      writesInDoubt: 0,
    })
    expect(kv.get('b')).toBeUndefined()
    expect(kv.status).toBe('stale')
    // A reader waiting for the seq is not a write: it waits until the store closes.
    await s.pass(2 * WRITE_TIMEOUT)
    expect(reaching.outcome).toBeUndefined()
    await kv.close()
    expect(reaching.outcome?.ok).toBe(false)
    expect((reaching.outcome as { error: unknown }).error).toBeInstanceOf(ClosedError)
  })

  it('S3.2 S6.3 the link back to the same hub within the bound: the write resolves to its seq', async () => {
    const s = await setup()
    const { node, kv, transport } = s
    const write = await acknowledgedNotApplied(s)
    await s.cutOff()
    await s.pass(WRITE_TIMEOUT - HEARTBEAT)
    expect(write.outcome).toBeUndefined()
    transport.faults.heal()
    await stepUntil(s.clock, () => write.outcome !== undefined)
    expect(write.outcome).toEqual({ ok: true, value: 2 })
    expect(kv.get('b')).toBe('acknowledged')
    expect(node.metrics).toMatchObject({ ackedWriteTimeouts: 0, linksLost: 1, linksUp: 2, resumes: 1 })
  })

  it('S3.7 the bound never runs while the link is up: a sync held far longer than writeTimeout after the link came back still delivers it', async () => {
    const s = await setup()
    const { node, kv } = s
    const { write, hold } = await backSyncingPastTheBound(s)
    // The held sync starts over after staleAfter, and delivers the write.
    hold()
    await s.pass(STALE_AFTER)
    await soon(() => expect(write.outcome).toEqual({ ok: true, value: 2 }))
    expect(kv.get('b')).toBe('acknowledged')
    expect(node.metrics).toMatchObject({ ackedWriteTimeouts: 0, linksLost: 1 })
    expect(node.metrics.resyncs.stalled).toBeGreaterThanOrEqual(1)
  })

  it('S3.7 the time without a link adds up over the links lost since the answer; the time with one does not count', async () => {
    const s = await setup()
    const { node, kv } = s
    const { write } = await backSyncingPastTheBound(s)
    // Lost again: half the bound was used before.
    await s.cutOff()
    await s.pass(WRITE_TIMEOUT / 2 - HEARTBEAT)
    expect(write.outcome).toBeUndefined()
    await s.pass(2 * HEARTBEAT)
    expect(write.outcome?.ok).toBe(false)
    expect((write.outcome as { error: UnavailableError }).error.ackedSeq).toBe(2)
    expect(node.metrics).toMatchObject({ ackedWriteTimeouts: 1, linksLost: 2 })
    expect(kv.get('b')).toBeUndefined()
  })

  it('S3.2 S3.7 a hub back that refuses the clone its resync (read revoked, write kept): its acknowledged writes reject at once with UnavailableError naming the seq, instead of waiting with the link up for ever', async () => {
    const s = await setup()
    const { node, kv, transport, clock } = s
    const write = await acknowledgedNotApplied(s)
    const reaching = track(kv.reached(2))
    await s.killHub()
    // Back on its data, but 'writer' may no longer read the store: the clone's resync is
    // refused while the link stays up, so no seq of the store reaches it.
    const persistence = memoryPersistence()
    const back = await createHub({
      transport,
      listen: ADDRESS,
      persistence,
      clock,
      heartbeat: HEARTBEAT,
      stores: { kv: { schema: Text } },
      access: [{ identities: ['writer'], allow: ['write'], stores: ['kv'] }],
    })
    closers.push(() => back.close())
    await stepUntil(clock, () => kv.status === 'stale' && node.status === 'connected')
    expect(write.outcome?.ok).toBe(false)
    const error = (write.outcome as { error: UnavailableError }).error
    expect(error).toBeInstanceOf(UnavailableError)
    expect(error.ackedSeq).toBe(2)
    expect(error.message).toMatch(/refused this clone's resync/)
    // A write the master acknowledges on this link cannot wait for its seq either.
    const later = track(kv.put('c', 'acknowledged too'))
    await soon(() => expect(later.outcome).toBeDefined())
    expect((later.outcome as { error: UnavailableError }).error.ackedSeq).toBe(1)
    expect(back.master('kv')!.lastSeq).toBe(1)
    expect(node.metrics).toMatchObject({ ackedWriteTimeouts: 2, writesLost: 0 })
    // A reader waiting for the seq is not a write: it waits until the store closes.
    await s.pass(2 * WRITE_TIMEOUT)
    expect(node.status).toBe('connected')
    expect(reaching.outcome).toBeUndefined()
  })

  it('S6.4 a hub back in a new epoch without the write, within the bound: PersistenceError, as before', async () => {
    const s = await setup()
    const { node, kv } = s
    const write = await acknowledgedNotApplied(s)
    await s.killHub()
    await s.pass(WRITE_TIMEOUT - 2 * HEARTBEAT)
    expect(write.outcome).toBeUndefined()
    // Restarted on empty storage: a new epoch from seq 0, which does not hold seq 2.
    s.hub = await s.startHub()
    await stepUntil(s.clock, () => write.outcome !== undefined)
    expect(write.outcome?.ok).toBe(false)
    expect((write.outcome as { error: unknown }).error).toBeInstanceOf(PersistenceError)
    expect(node.metrics).toMatchObject({ writesLost: 1, ackedWriteTimeouts: 0 })
    await soon(() => expect(kv.status).toBe('live'))
    expect(kv.size).toBe(0)
  })
})
