// Recovery time of a large store (issue goal: a hub recovers 1M entries in under 2 s).
// Builds a store of N entries of 100 bytes through the Persistence API (commits of 10 000),
// closes it, then measures what a restarting hub does: open() (checks and recovered state),
// size(), and iterating deadlines() (the expiry heap's input); and a whole createHub() start
// on the same folder. Needs the packages built (`npm run build`; `npm run bench` does it).
//
//   node bench/recovery.mjs [--entries 1000000] [--deadlines 1] [--relaxed] [--dir <folder>] [--keep]
//
// --deadlines: the fraction of entries given a deadline (default 1: every entry, the worst case).
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHub, memoryTransport } from '@concord/core'
import { sqlitePersistence } from '@concord/persist-sqlite'
import { t } from '@concord/schema'

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? process.argv[at + 1] : fallback
}
const entries = Number(arg('entries', 1_000_000))
const withDeadlines = Number(arg('deadlines', 1))
const durability = process.argv.includes('--relaxed') ? 'relaxed' : 'sync'
const BATCH = 10_000
const schema = t.string()
const options = { fingerprint: schema.fingerprint, compatible: (stored) => stored === schema.fingerprint }
const folder = mkdtempSync(join(arg('dir', tmpdir()), 'concord-recovery-bench-'))
const seconds = (start) => (Number(process.hrtime.bigint() - start) / 1e9).toFixed(3)
const key = (i) => `key/${((i * 2_654_435_761) >>> 0).toString(16).padStart(8, '0')}/${i}`

try {
  // Build.
  let start = process.hrtime.bigint()
  const value = new Uint8Array(100).fill(0x61)
  const far = Date.now() + 3600 * 1000
  const build = sqlitePersistence({ path: folder, durability })
  const backend = await build.open('kv', options)
  for (let from = 0; from < entries; from += BATCH) {
    const ops = []
    for (let i = from; i < Math.min(entries, from + BATCH); i++) {
      const deadline = (i % 1000) / 1000 < withDeadlines ? far + i : undefined
      ops.push({ kind: 'put', key: key(i), value, seq: i + 1, deadline })
    }
    await backend.commit(ops)
  }
  await build.close()
  const size = statSync(build.fileOf('kv')).size
  console.log(
    `built ${entries.toLocaleString('en-US')} entries (${withDeadlines * 100}% with a deadline, durability ${durability}) ` +
      `in ${seconds(start)} s: ${(size / 1e6).toFixed(0)} MB`,
  )

  // Recover through the port, as the master does.
  start = process.hrtime.bigint()
  const persistence = sqlitePersistence({ path: folder })
  const recovered = await persistence.open('kv', options)
  const opened = seconds(start)
  const count = recovered.size()
  const lastSeq = recovered.recovered.lastSeq
  let deadlines = 0
  const iterating = process.hrtime.bigint()
  for (const [, deadline] of recovered.deadlines()) if (deadline > 0) deadlines++
  const iterated = seconds(iterating)
  const total = seconds(start)
  if (count !== entries || lastSeq !== entries)
    throw new Error(`recovered ${count} entries, lastSeq ${lastSeq}`)
  console.log(`open() + recovered state      ${opened.padStart(8)} s  (size ${count}, lastSeq ${lastSeq})`)
  console.log(`deadlines() iteration         ${iterated.padStart(8)} s  (${deadlines} deadlines)`)
  console.log(`recovery through the port     ${total.padStart(8)} s`)
  await persistence.close()

  // A whole hub start over the same folder: open, beginEpoch, expiry heap, listen.
  start = process.hrtime.bigint()
  const hubPersistence = sqlitePersistence({ path: folder })
  const hub = await createHub({
    transport: memoryTransport(),
    listen: 'memory://recovery-bench',
    persistence: hubPersistence,
    stores: { kv: { schema } },
  })
  console.log(`createHub() recovery          ${seconds(start).padStart(8)} s  (goal < 2 s)`)
  await hub.close()
  await hubPersistence.close()
} finally {
  if (!process.argv.includes('--keep')) rmSync(folder, { recursive: true, force: true })
}
