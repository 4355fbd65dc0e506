// Larger than the heap: builds a store of 10M entries (100-byte values) through the
// Persistence API in commits of 10k, closes it, then reopens it in a fresh process whose
// V8 heap is capped far below the data size and does 1M random gets, reporting the data size
// on disk, the time to open, and RSS after open and after the reads (with its anonymous and
// file-backed parts, from /proc/self/status).
//
//   npm run build -w @concord/persist-lmdb
//   node packages/persist-lmdb/bench/large.mjs [--entries 10000000] [--reads 1000000]
//        [--order sequential|random] [--durability sync|relaxed] [--dir <folder>] [--keep] [--heap 64]
//        [--remap-chunks]   (serve with lmdbPersistence({ remapChunks: true }))
//
// --order random inserts the keys in a scattered order: every 10k commit then rewrites pages
// all over the tree (B-tree write amplification), which is several times slower to build and
// leaves pages ~2/3 full; the default writes keys in key order.
//
// With --json <file>, also writes the figures there as JSON.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { lmdbPersistence } from '@concord/persist-lmdb'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const ENTRIES = Number(option('entries', 10_000_000))
const READS = Number(option('reads', 1_000_000))
const BATCH = 10_000
const DURABILITY = option('durability', 'sync')
const HEAP_MB = Number(option('heap', 64))
const ORDER = option('order', 'sequential')
const OPTS = { fingerprint: 'bench', compatible: () => false }
// Random order: a permutation of 0..N-1 (7919 is prime, coprime with N unless N is a
// multiple of it), so inserts land all over the tree.
const keyOf = (i, n) => `key:${String(ORDER === 'random' ? (i * 7919) % n : i).padStart(9, '0')}`

/** RSS and its parts in MiB: total, anonymous (heap, buffers), file-backed (mapped file pages). */
function memory() {
  const status = readFileSync('/proc/self/status', 'utf8')
  const kib = (field) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? Number.NaN)
  const mib = (bytes) => Math.round(bytes / 2 ** 20)
  return {
    rss: mib(process.memoryUsage().rss),
    rssAnon: Math.round(kib('RssAnon') / 1024),
    rssFile: Math.round(kib('RssFile') / 1024),
    heapUsed: mib(process.memoryUsage().heapUsed),
  }
}

async function build(dir) {
  const persistence = lmdbPersistence({ path: dir, durability: DURABILITY })
  const backend = await persistence.open('large', OPTS)
  const base = randomBytes(100)
  const start = performance.now()
  let last = start
  let seq = 0
  for (let from = 0; from < ENTRIES; from += BATCH) {
    const ops = []
    for (let i = from; i < Math.min(from + BATCH, ENTRIES); i++) {
      const value = Buffer.from(base)
      value.writeUInt32LE(i, 0)
      ops.push({ kind: 'put', key: keyOf(i, ENTRIES), value, seq: ++seq, deadline: undefined })
    }
    await backend.commit(ops)
    const now = performance.now()
    if (now - last > 5000 || from + BATCH >= ENTRIES) {
      const done = Math.min(from + BATCH, ENTRIES)
      const rate = done / ((now - start) / 1000)
      console.log(
        `  built ${done.toLocaleString('en-US')} / ${ENTRIES.toLocaleString('en-US')}  ${Math.round(rate).toLocaleString('en-US')} puts/s`,
      )
      last = now
    }
  }
  const seconds = (performance.now() - start) / 1000
  await persistence.close()
  return { seconds, putsPerSecond: ENTRIES / seconds }
}

/** Runs in a fresh process with a small heap: open, then random gets. Prints one JSON line. */
async function serve(dir) {
  const before = memory()
  const t0 = performance.now()
  const persistence = lmdbPersistence({ path: dir, remapChunks: args.includes('--remap-chunks') })
  const backend = await persistence.open('large', OPTS)
  const openMs = performance.now() - t0
  const afterOpen = memory()
  const size = backend.size()
  let found = 0
  let bytes = 0
  const t1 = performance.now()
  let x = 12345
  for (let r = 0; r < READS; r++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    const entry = backend.get(keyOf(x % size, size))
    if (entry !== undefined) {
      found++
      bytes += entry.value.byteLength
    }
  }
  const readSeconds = (performance.now() - t1) / 1000
  const afterReads = memory()
  await persistence.close()
  console.log(
    JSON.stringify({
      size,
      openMs,
      before,
      afterOpen,
      afterReads,
      found,
      bytes,
      getsPerSecond: READS / readSeconds,
    }),
  )
}

async function main() {
  if (args.includes('--serve')) return serve(option('dir'))
  const dir = option('dir') ?? mkdtempSync(join(tmpdir(), 'concord-lmdb-large-'))
  const keep = args.includes('--keep') || option('dir') !== undefined
  try {
    const file = join(dir, 'large.mdb')
    let built
    let existing = false
    try {
      existing = statSync(file).size > 0
    } catch {}
    if (!existing) {
      console.log(
        `building ${ENTRIES.toLocaleString('en-US')} entries of 100 bytes in ${dir} (${DURABILITY}, ${ORDER} keys, commits of ${BATCH})`,
      )
      built = await build(dir)
      console.log(
        `  ${built.seconds.toFixed(1)} s, ${Math.round(built.putsPerSecond).toLocaleString('en-US')} puts/s`,
      )
    } else console.log(`reusing ${file}`)
    const dataBytes = statSync(file).size
    console.log(`data on disk: ${(dataBytes / 2 ** 20).toFixed(0)} MiB (${file})`)
    console.log(
      `serving in a fresh process with --max-old-space-size=${HEAP_MB}: open, then ${READS.toLocaleString('en-US')} random gets`,
    )
    const self = fileURLToPath(import.meta.url)
    const serveArgs = ['--serve', '--dir', dir, '--reads', String(READS), '--order', ORDER]
    if (args.includes('--remap-chunks')) serveArgs.push('--remap-chunks')
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, self, ...serveArgs], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
    })
    const code = await new Promise((resolve) => child.once('exit', resolve))
    if (code !== 0) throw new Error(`the serving process exited with ${code}`)
    const served = JSON.parse(out.trim().split('\n').at(-1))
    const row = (label, m) =>
      console.log(
        `  ${label.padEnd(14)} rss ${String(m.rss).padStart(6)} MiB = anon ${String(m.rssAnon).padStart(5)} + file ${String(m.rssFile).padStart(5)} (+shmem); heapUsed ${m.heapUsed} MiB`,
      )
    console.log(`  open: ${served.openMs.toFixed(1)} ms, ${served.size.toLocaleString('en-US')} entries`)
    row('before open', served.before)
    row('after open', served.afterOpen)
    row('after reads', served.afterReads)
    console.log(
      `  ${Math.round(served.getsPerSecond).toLocaleString('en-US')} gets/s (${served.found} found)`,
    )
    const result = {
      entries: ENTRIES,
      valueBytes: 100,
      durability: DURABILITY,
      order: ORDER,
      build: built ?? null,
      dataBytes,
      heapLimitMiB: HEAP_MB,
      remapChunks: args.includes('--remap-chunks'),
      ...served,
    }
    const json = option('json')
    if (json !== undefined) writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`)
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}

await main()
