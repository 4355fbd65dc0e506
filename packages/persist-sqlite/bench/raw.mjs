// Raw figures of the machinery under @concord/persist-sqlite, measured in this process on the
// file system of a data folder: the cost of one fsync, and better-sqlite3 on the adapter's
// table layout (WAL, synchronous=FULL). Importing this file runs nothing and prints nothing;
// `node bench/raw.mjs [--dir <data folder>] [--quick]` runs everything and prints the figures.
//
// Every function takes `{ dir }`, a folder on the file system to measure (default: the OS
// temporary folder), makes its own sub-folder there and removes it afterwards.
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'

const VALUE = Buffer.alloc(100, 0x61)

/** The median of `values`. */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Runs `fn(folder)` in a fresh sub-folder of `dir`, removed afterwards. */
function inFolder(dir, fn) {
  const folder = mkdtempSync(join(dir ?? tmpdir(), 'concord-raw-bench-'))
  try {
    return fn(folder)
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
}

/** A key of row `i`: spread over the key space as hub keys usually are, or in insertion order. */
const keyOf = (i, keys = 'random') =>
  keys === 'random'
    ? `key/${((i * 2_654_435_761) >>> 0).toString(16).padStart(8, '0')}/${i}`
    : `key/${String(i).padStart(10, '0')}`

/** A database with the adapter's entries table, WAL and the given synchronous mode. */
function openTable(folder, synchronous = 'FULL') {
  const db = new Database(join(folder, 'bench.sqlite'))
  db.pragma('locking_mode = EXCLUSIVE')
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${synchronous}`)
  db.exec(`CREATE TABLE entries (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, seq INTEGER NOT NULL,
    deadline INTEGER) WITHOUT ROWID;
    CREATE INDEX entries_by_deadline ON entries (deadline) WHERE deadline IS NOT NULL;`)
  const upsert = db.prepare(`INSERT INTO entries (key, value, seq, deadline) VALUES (?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, seq = excluded.seq, deadline = excluded.deadline`)
  return { db, upsert }
}

/**
 * The median time of one `fsync` of a small file just written, in µs: the floor under every
 * `durability: 'sync'` commit on this file system.
 */
export function fsyncMicros({ dir, samples = 200 } = {}) {
  return inFolder(dir, (folder) => {
    const fd = openSync(join(folder, 'fsync-probe'), 'w')
    try {
      const times = []
      for (let i = 0; i < samples; i++) {
        writeSync(fd, VALUE, 0, VALUE.length, (i % 16) * VALUE.length)
        const start = process.hrtime.bigint()
        fsyncSync(fd)
        times.push(Number(process.hrtime.bigint() - start) / 1_000)
      }
      return median(times)
    } finally {
      closeSync(fd)
    }
  })
}

/**
 * better-sqlite3 upserts of 100-byte values per second, `perTransaction` rows per transaction.
 * `keys: 'random'` (default) spreads them over the table, so each transaction dirties about
 * one page per row; `'sequential'` appends.
 */
export function upsertRowsPerSecond({
  dir,
  rows = 200_000,
  perTransaction = 1_000,
  synchronous = 'FULL',
  keys = 'random',
} = {}) {
  return inFolder(dir, (folder) => {
    const { db, upsert } = openTable(folder, synchronous)
    try {
      const batch = db.transaction((from, to) => {
        for (let i = from; i < to; i++) upsert.run(keyOf(i, keys), VALUE, i + 1, null)
      })
      const start = process.hrtime.bigint()
      for (let from = 0; from < rows; from += perTransaction)
        batch(from, Math.min(rows, from + perTransaction))
      return rows / (Number(process.hrtime.bigint() - start) / 1e9)
    } finally {
      db.close()
    }
  })
}

/** Transactions of one upsert per second under synchronous=FULL: bound by fsync. */
export function singleRowCommitsPerSecond({ dir, rows = 500, synchronous = 'FULL' } = {}) {
  return upsertRowsPerSecond({ dir, rows, perTransaction: 1, synchronous })
}

/**
 * One transaction of one upsert per call, keys in order (a stream of puts), as a lone put's
 * commit costs the hub under `synchronous` (`NORMAL` is `durability: 'relaxed'`, `FULL` is
 * `'sync'`). `commit()` commits the next put; `close()` removes the folder.
 */
export function putCommitter({ dir, synchronous = 'NORMAL' } = {}) {
  const folder = mkdtempSync(join(dir ?? tmpdir(), 'concord-raw-bench-'))
  const { db, upsert } = openTable(folder, synchronous)
  let i = 0
  const transaction = db.transaction(() => upsert.run(keyOf(i, 'sequential'), VALUE, ++i, null))
  return {
    commit: () => transaction(),
    close() {
      db.close()
      rmSync(folder, { recursive: true, force: true })
    },
  }
}

/** Point reads (`SELECT … WHERE key = ?`) per second over a table of `rows` entries, in random order. */
export function pointReadsPerSecond({ dir, rows = 100_000, reads = 500_000 } = {}) {
  return inFolder(dir, (folder) => {
    const { db, upsert } = openTable(folder, 'NORMAL')
    try {
      db.transaction(() => {
        for (let i = 0; i < rows; i++) upsert.run(keyOf(i), VALUE, i + 1, null)
      })()
      const get = db.prepare('SELECT value, seq, deadline FROM entries WHERE key = ?').raw()
      const keys = Array.from({ length: 4_096 }, (_, i) => keyOf((i * 7_919) % rows))
      let found = 0
      const start = process.hrtime.bigint()
      for (let i = 0; i < reads; i++) if (get.get(keys[i & 4_095]) !== undefined) found++
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      if (found !== reads) throw new Error(`point reads found ${found} of ${reads}`)
      return reads / seconds
    } finally {
      db.close()
    }
  })
}

/** Every figure, as numbers. */
export function measureAll({ dir, quick = false } = {}) {
  return {
    fsyncMicros: fsyncMicros({ dir, samples: quick ? 50 : 200 }),
    upsertRowsPerSecond1000PerTx: upsertRowsPerSecond({ dir, rows: quick ? 50_000 : 200_000 }),
    upsertRowsPerSecond1000PerTxSequentialKeys: upsertRowsPerSecond({
      dir,
      rows: quick ? 50_000 : 200_000,
      keys: 'sequential',
    }),
    singleRowCommitsPerSecond: singleRowCommitsPerSecond({ dir, rows: quick ? 100 : 500 }),
    pointReadsPerSecond: pointReadsPerSecond({ dir, reads: quick ? 100_000 : 500_000 }),
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const at = process.argv.indexOf('--dir')
  const dir = at > 0 ? process.argv[at + 1] : undefined
  const figures = measureAll({ dir, quick: process.argv.includes('--quick') })
  console.log(`data folder file system: ${dir ?? tmpdir()}`)
  console.log(`fsync of a small file (median)              ${figures.fsyncMicros.toFixed(0).padStart(12)} µs`)
  for (const [name, value] of Object.entries(figures).slice(1)) {
    console.log(`${name.padEnd(44)} ${Math.round(value).toLocaleString('en-US').padStart(12)} /s`)
  }
}
