// Raw lmdb-js figures, for comparing backends (LMDB vs SQLite): each function builds what it
// needs in a temporary folder, removes it, and returns a number. Importing prints nothing:
//
//   import { batchedPuts, awaitedPuts, syncGets, pipelinedCommits } from './raw.mjs'
//
// Run directly to print them all:  node packages/persist-lmdb/bench/raw.mjs [--quick]
//
// The environments are opened as @concord/persist-lmdb opens them: one file, no
// overlappingSync; `durability: 'sync'` commits with fsync, `'relaxed'` with noSync.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open } from 'lmdb'

const VALUE = Buffer.alloc(100, 0x61)
const keyOf = (i) => Buffer.from(`key:${String(i).padStart(9, '0')}`)

async function withDb(durability, body) {
  const dir = mkdtempSync(join(tmpdir(), 'concord-lmdb-raw-'))
  const root = open({
    path: join(dir, 'raw.mdb'),
    noSubdir: true,
    maxDbs: 8,
    overlappingSync: false,
    noSync: durability === 'relaxed',
  })
  const db = root.openDB({ name: 'entries', encoding: 'binary', keyEncoding: 'binary' })
  try {
    return await body(db)
  } finally {
    await root.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Raw `db.put` ops/s with batched commits: `batch` puts issued in one event-loop turn (lmdb-js
 * commits each turn's puts as one transaction), awaiting the last before the next batch.
 */
export function batchedPuts({ n = 500_000, batch = 10_000, durability = 'sync' } = {}) {
  return withDb(durability, async (db) => {
    const start = performance.now()
    for (let from = 0; from < n; from += batch) {
      let last
      for (let i = from; i < Math.min(from + batch, n); i++) last = db.put(keyOf(i), VALUE)
      await last
    }
    return n / ((performance.now() - start) / 1000)
  })
}

/** Raw `db.put` ops/s awaiting each put: one transaction (and in `'sync'` one fsync) per put. */
export function awaitedPuts({ n = 3_000, durability = 'sync' } = {}) {
  return withDb(durability, async (db) => {
    const start = performance.now()
    for (let i = 0; i < n; i++) await db.put(keyOf(i), VALUE)
    return n / ((performance.now() - start) / 1000)
  })
}

/** Synchronous `getBinary` ops/s of random keys in a store of `entries` entries (warm page cache). */
export function syncGets({ n = 1_000_000, entries = 100_000 } = {}) {
  return withDb('relaxed', async (db) => {
    for (let from = 0; from < entries; from += 10_000) {
      await db.transaction(() => {
        for (let i = from; i < Math.min(from + 10_000, entries); i++) db.putSync(keyOf(i), VALUE)
      })
    }
    const keys = Array.from({ length: 4096 }, () => keyOf(Math.floor(Math.random() * entries)))
    let found = 0
    const start = performance.now()
    for (let i = 0; i < n; i++) if (db.getBinary(keys[i & 4095]) !== undefined) found++
    const rate = n / ((performance.now() - start) / 1000)
    if (found !== n) throw new Error(`found ${found} of ${n}`)
    return rate
  })
}

/**
 * Pipelined puts as a Concord master makes them: one commit per event-loop turn holding what
 * arrived meanwhile (`batch` puts), each awaited before the next, through the Persistence API
 * of @concord/persist-lmdb (needs `npm run build -w @concord/persist-lmdb`). Puts/s.
 */
export async function pipelinedCommits({ n = 200_000, batch = 100, durability = 'sync' } = {}) {
  const { lmdbPersistence } = await import('@concord/persist-lmdb')
  const dir = mkdtempSync(join(tmpdir(), 'concord-lmdb-raw-'))
  const persistence = lmdbPersistence({ path: dir, durability })
  try {
    const backend = await persistence.open('raw', { fingerprint: 'bench', compatible: () => false })
    let seq = 0
    const start = performance.now()
    while (seq < n) {
      const ops = []
      for (let i = 0; i < batch && seq < n; i++) {
        seq++
        ops.push({ kind: 'put', key: `key:${seq % 100_000}`, value: VALUE, seq, deadline: undefined })
      }
      await backend.commit(ops)
    }
    return n / ((performance.now() - start) / 1000)
  } finally {
    await persistence.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick')
  const scale = quick ? 0.1 : 1
  const fmt = (x) => Math.round(x).toLocaleString('en-US').padStart(12)
  for (const durability of ['sync', 'relaxed']) {
    console.log(
      `raw lmdb-js put, commits of 10k (${durability})`.padEnd(58),
      fmt(await batchedPuts({ n: 500_000 * scale, durability })),
      'ops/s',
    )
    console.log(
      `raw lmdb-js put, each awaited (${durability})`.padEnd(58),
      fmt(await awaitedPuts({ n: 3_000 * scale, durability })),
      'ops/s',
    )
    for (const batch of [1, 100, 1000]) {
      console.log(
        `Persistence.commit of ${batch} put(s), pipelined (${durability})`.padEnd(58),
        fmt(
          await pipelinedCommits({
            n: Math.max(batch, (batch === 1 ? 5_000 : 200_000) * scale),
            batch,
            durability,
          }),
        ),
        'puts/s',
      )
    }
  }
  console.log(
    'raw lmdb-js getBinary, random keys of 100k'.padEnd(58),
    fmt(await syncGets({ n: 1_000_000 * scale })),
    'ops/s',
  )
}
