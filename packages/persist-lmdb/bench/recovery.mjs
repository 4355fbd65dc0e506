// Recovery: what a restarted hub waits for before serving a store of N entries, every one of
// them with a deadline (the worst case: the master loads every deadline into its heap).
// Builds the store through the Persistence API, closes it, then times `open` (file checks,
// recovered epochs and last seq) and a full `deadlines()` iteration. Goal: under 2 s for 1M.
//
//   import { recovery } from './recovery.mjs'   // prints nothing
//   const { openMs, deadlinesMs, totalMs } = await recovery({ n: 1_000_000 })
//
//   node packages/persist-lmdb/bench/recovery.mjs [--entries 1000000]   (after npm run build)
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { lmdbPersistence } from '@concord/persist-lmdb'

const OPTS = { fingerprint: 'bench', compatible: () => false }

/**
 * Builds a store of `n` entries (100-byte values, all with deadlines), reopens it with a new
 * persistence and iterates its deadlines. Returns times in ms, the entries found, and the data size.
 */
export async function recovery({ n = 1_000_000, durability = 'relaxed' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'concord-lmdb-recovery-'))
  try {
    const writer = lmdbPersistence({ path: dir, durability })
    const backend = await writer.open('s', OPTS)
    const value = Buffer.alloc(100, 0x62)
    const now = Date.now()
    let seq = 0
    const buildStart = performance.now()
    for (let from = 0; from < n; from += 10_000) {
      const ops = []
      for (let i = from; i < Math.min(from + 10_000, n); i++) {
        ops.push({
          kind: 'put',
          key: `key:${String(i).padStart(9, '0')}`,
          value,
          seq: ++seq,
          deadline: now + 3_600_000 + i,
        })
      }
      await backend.commit(ops)
    }
    await backend.beginEpoch({ epoch: 'e1', startSeq: 0, at: now })
    const buildMs = performance.now() - buildStart
    await writer.close()

    const start = performance.now()
    const reader = lmdbPersistence({ path: dir })
    const reopened = await reader.open('s', OPTS)
    const openMs = performance.now() - start
    let count = 0
    let earliest = Number.POSITIVE_INFINITY
    for (const [, deadline] of reopened.deadlines()) {
      count++
      if (deadline < earliest) earliest = deadline
    }
    const totalMs = performance.now() - start
    if (count !== n || reopened.recovered.lastSeq !== n)
      throw new Error(`recovered ${count} deadlines, lastSeq ${reopened.recovered.lastSeq}`)
    const dataBytes = statSync(join(dir, 's.mdb')).size
    await reader.close()
    return { entries: n, buildMs, openMs, deadlinesMs: totalMs - openMs, totalMs, dataBytes }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--entries')
  const n = i >= 0 ? Number(process.argv[i + 1]) : 1_000_000
  const r = await recovery({ n })
  console.log(
    `built ${n.toLocaleString('en-US')} entries with deadlines in ${(r.buildMs / 1000).toFixed(1)} s (${(r.dataBytes / 2 ** 20).toFixed(0)} MiB)`,
  )
  console.log(`open + recovery: ${r.openMs.toFixed(1)} ms`)
  console.log(`deadlines() over ${n.toLocaleString('en-US')} entries: ${r.deadlinesMs.toFixed(0)} ms`)
  console.log(`total: ${r.totalMs.toFixed(0)} ms (goal < 2000 ms)`)
}
