/**
 * Convergence under faults (S3.4, S6.3, S6.4): seeded random operations from several clones
 * with random frame drops, duplicates, reorders, delays, partitions, killed links, slow
 * clones and master crashes, all on the in-memory transport and persistence with a manual
 * clock. After healing, every clone equals the master and every acknowledged write is there.
 *
 * A run is a pure function of its seed: `CONVERGENCE_SEED=1234 npx vitest run test/convergence.test.ts`
 * replays one seed exactly; `CONVERGENCE_SEEDS=2000` runs more.
 */
import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { constantBackoff, createHub, createNode, type Hub, type Store } from '../src/index.js'
import {
  manualClock,
  memoryNetwork,
  memoryPersistence,
  memoryTransport,
  seededRandom,
} from '../src/testing.js'

const CLONES = 3
const STEPS = 60
const ADDRESS = 'memory://convergence'

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

interface Outcome {
  readonly failures: string[]
}

/** One seeded run; returns what went wrong (empty when the run converged). */
async function run(seed: number): Promise<Outcome> {
  const random = seededRandom(seed)
  const clock = manualClock(1_000_000)
  const network = memoryNetwork({ clock, seed })
  const transport = memoryTransport({ network, clock, peerQueueLimit: 64 })
  const persistence = memoryPersistence({ clock })
  const schema = t.count()
  const hubConfig = {
    transport,
    listen: ADDRESS,
    persistence,
    clock,
    heartbeat: 100,
    stores: { kv: { schema, log: { maxMutations: 40 } } },
    limits: { snapshotChunkEntries: 3 },
  }
  let hub: Hub = await createHub(hubConfig)
  const nodes = await Promise.all(
    Array.from({ length: CLONES }, (_, i) =>
      createNode({
        transport,
        hub: ADDRESS,
        clock,
        identity: `clone-${i}`,
        backoff: constantBackoff(50),
        writeTimeout: 3_000,
      }),
    ),
  )
  const openings = nodes.map((node) => node.open('kv', { schema }))
  for (let i = 0; i < 50 && clock.now() < 1_010_000; i++) {
    await turns(5)
    clock.advance(10)
  }
  const stores = (await Promise.all(openings)) as Store<bigint>[]
  // Per clone: the values it wrote to its own ledger keys, and the highest one acknowledged.
  const acked = new Map<string, bigint>()
  const next = new Map<string, bigint>()
  const pending: Promise<unknown>[] = []

  for (let step = 0; step < STEPS; step++) {
    const who = random.int(CLONES)
    const store = stores[who]!
    const roll = random()
    if (roll < 0.35) {
      // A ledger write: only this clone writes this key, with increasing values.
      const key = `ledger/${who}/${random.int(3)}`
      const value = (next.get(key) ?? 0n) + 1n
      next.set(key, value)
      pending.push(
        store.put(key, value).then(
          () => acked.set(key, value > (acked.get(key) ?? 0n) ? value : acked.get(key)!),
          () => {},
        ),
      )
    } else if (roll < 0.55) {
      pending.push(store.update(`shared/${random.int(4)}`, 1n, { op: 'increment' }).catch(() => {}))
    } else if (roll < 0.62) {
      pending.push(store.remove(`shared/${random.int(4)}`).catch(() => {}))
    } else if (roll < 0.7) {
      pending.push(store.put(`shared/${random.int(4)}`, BigInt(step)).catch(() => {}))
    } else if (roll < 0.74) {
      network.faults.drop(random.between(0.05, 0.3))
    } else if (roll < 0.77) {
      network.faults.duplicate(random.between(0.05, 0.3))
    } else if (roll < 0.8) {
      network.faults.reorder(random.between(0.05, 0.3))
    } else if (roll < 0.83) {
      network.faults.delay(1, 30)
    } else if (roll < 0.86) {
      network.faults.partition(`clone-${who}`)
    } else if (roll < 0.89) {
      network.faults.kill(`clone-${who}`)
    } else if (roll < 0.91) {
      network.faults.pause(`clone-${who}`)
    } else if (roll < 0.94) {
      network.faults.clear()
      network.faults.heal()
      network.faults.resume()
    } else if (roll < 0.96) {
      // The master crashes: what was not committed is lost; a new master starts on the same data.
      persistence.crash()
      hub.abort()
      network.faults.killHub(ADDRESS)
      hub = await createHub(hubConfig)
    }
    await turns(random.int(4))
    if (random.chance(0.3)) clock.advance(random.int(120))
  }

  // Heal everything and let the system settle.
  network.faults.clear()
  network.faults.heal()
  network.faults.resume()
  const failures: string[] = []
  let settled = false
  for (let round = 0; round < 400 && !settled; round++) {
    await turns(8)
    clock.advance(25)
    settled =
      stores.every((s) => s.status === 'live') &&
      (await Promise.race([Promise.all(pending).then(() => true), turns(1).then(() => false)]))
    if (settled) {
      const master = hub.master('kv')!
      settled = stores.every((s) => s.seq === master.committedSeq)
    }
  }
  if (!settled) {
    failures.push(
      `did not settle: statuses ${stores.map((s) => `${s.status}@${s.seq}`).join(', ')}, master at ${hub.master('kv')?.committedSeq}`,
    )
  }
  const master = hub.master('kv')!
  const cursor = master.backend.snapshot('')
  const truth = new Map<string, bigint>()
  for (let rows = cursor.next(1000, 1 << 30); rows.length > 0; rows = cursor.next(1000, 1 << 30)) {
    for (const [key, entry] of rows) truth.set(key, schema.decode(entry.value))
  }
  cursor.close()
  for (const [i, store] of stores.entries()) {
    const replica = new Map(store.entries())
    if (replica.size !== truth.size || [...truth].some(([k, v]) => replica.get(k) !== v)) {
      failures.push(
        `clone ${i} differs from the master: ${JSON.stringify([...replica].map(([k, v]) => `${k}=${v}`))} vs ${JSON.stringify([...truth].map(([k, v]) => `${k}=${v}`))}`,
      )
    }
  }
  for (const [key, value] of acked) {
    const held = truth.get(key)
    if (held === undefined || held < value)
      failures.push(`acknowledged ${key}=${value} lost (master holds ${held})`)
  }
  if (process.env.CONVERGENCE_DEBUG) {
    console.log(seed, {
      acked: acked.size,
      seq: master.committedSeq,
      keys: truth.size,
      metrics: hub.metrics,
      stats: network.stats.dropped,
    })
  }
  await Promise.all(nodes.map((node) => node.close()))
  await hub.close()
  return { failures }
}

describe('convergence under faults', () => {
  const only = process.env.CONVERGENCE_SEED
  const count = Number(process.env.CONVERGENCE_SEEDS ?? 200)
  const seeds = only !== undefined ? [Number(only)] : Array.from({ length: count }, (_, i) => i + 1)

  it(`S3.4 S6.3 S6.4 every clone equals the master and keeps every acknowledged write (${seeds.length} seeds)`, async () => {
    const failed: string[] = []
    for (const seed of seeds) {
      const { failures } = await run(seed)
      if (failures.length > 0) failed.push(`seed ${seed}: ${failures.join('; ')}`)
    }
    expect(failed, 'replay one with CONVERGENCE_SEED=<seed>').toEqual([])
  }, 300_000)
})
