// A real hub serving a 10M-entry LMDB store, and its RSS.
//
//   npx turbo run build             # the bench imports the built packages
//   node bench/lmdb-hub.mjs [--entries 10000000] [--dir <folder>] [--keep]
//        [--view key:12] [--puts 10000] [--appends 10000] [--in-flight 256]
//        [--scatter 64] [--scatter-updates 10000] [--json bench/results/lmdb-hub.json]
//        [--log <n>]   (the store's `log.maxMutations`, default 100 000: the resume log)
//
// 1. Builds `kv.mdb`: `--entries` string values of 100 characters (t.string(), 102 bytes
//    encoded) keyed `key:<i>`, through lmdbPersistence directly, in commits of 10k, keys in
//    key order (the strings' byte order: key:0, key:1, key:10, key:100, …), with the
//    fingerprint and `compatible` the hub passes. Skipped when `--dir`
//    already holds a store (it is reused then; `--dir` also keeps it afterwards).
// 2. A fresh process (--expose-gc) starts a real hub on ZeroMQ with that persistence
//    ('sync') and reports how long createHub took and its memory.
// 3. Another process opens a prefix view of the store (`--view`, default `key:12`: 111,111
//    keys of 10M; the hub streams its snapshot from an LMDB cursor), then does `--puts` puts
//    and `--appends` `update(key, 'x', { op: 'append' })` on random keys of the view (each
//    append makes the master read the current value through the backend).
// 4. A prefix view is one contiguous range of LMDB's B-tree, so (3) reads ~1% of the file.
//    To make the master read all over the file, a third process runs `--scatter` nodes, each
//    with a view of 11 keys at a random place (`key:<6 digits>`), and does
//    `--scatter-updates` appends in all on random keys of those views.
// After each step the hub reports process.memoryUsage() and RssAnon/RssFile from
// /proc/self/status, after two full GCs. Prints a table and writes the JSON file.
import { fork } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { constantBackoff, createHub, createNode, schemasCompatible } from '@concord/core'
import { lmdbPersistence } from '@concord/persist-lmdb'
import { t } from '@concord/schema'
import { zmqTransport } from '@concord/transport-zmq'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const ENTRIES = Number(option('entries', 10_000_000))
const BATCH = 10_000
const STORE = 'kv'
const schema = t.string()
const value = (i) => `${'x'.repeat(100 - String(i).length)}${i}`
const mib = (bytes) => Math.round(bytes / 2 ** 20)
const fmt = (n) => Math.round(n).toLocaleString('en-US')

/** This process's memory in MiB, after two full GCs (needs --expose-gc). */
function memory() {
  globalThis.gc?.()
  globalThis.gc?.()
  const status = readFileSync('/proc/self/status', 'utf8')
  const kib = (field) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? Number.NaN)
  const usage = process.memoryUsage()
  return {
    rss: mib(usage.rss),
    rssAnon: Math.round(kib('RssAnon') / 1024),
    rssFile: Math.round(kib('RssFile') / 1024),
    rssShmem: Math.round(kib('RssShmem') / 1024),
    peakRss: Math.round(kib('VmHWM') / 1024),
    heapUsed: mib(usage.heapUsed),
    heapTotal: mib(usage.heapTotal),
    external: mib(usage.external),
    arrayBuffers: mib(usage.arrayBuffers),
  }
}

// ---- 1. build ---------------------------------------------------------------------------

/** 0..n-1 in the order of their decimal strings (the order of `key:<i>` in LMDB): 0, 1, 10, 100, … */
export function* keyOrder(n) {
  if (n <= 0) return
  yield 0
  const max = n - 1
  let cur = 1
  for (let k = 0; k < max; k++) {
    yield cur
    if (cur * 10 <= max) cur *= 10
    else {
      if (cur >= max) cur = Math.floor(cur / 10)
      cur += 1
      while (cur % 10 === 0) cur /= 10
    }
  }
}

async function build(dir) {
  const persistence = lmdbPersistence({ path: dir, durability: 'sync' })
  // What Hub#startStore passes for this store.
  const backend = await persistence.open(STORE, {
    fingerprint: schema.fingerprint,
    compatible: (stored) => schemasCompatible(schema, stored),
  })
  // value(i) is 100 ASCII characters: its encoding is a fixed header then those bytes, so
  // encode once and write the digits of i at the end (checked against schema.encode below).
  const base = Buffer.from(schema.encode(value(0)))
  const encoded = (i) => {
    const bytes = Buffer.from(base)
    const digits = String(i)
    bytes.fill(0x78, bytes.length - 100, bytes.length - digits.length)
    bytes.write(digits, bytes.length - digits.length, 'latin1')
    return bytes
  }
  for (const i of [0, 7, 123_456, ENTRIES - 1]) {
    if (!encoded(i).equals(Buffer.from(schema.encode(value(i))))) throw new Error(`bad encoding of ${i}`)
  }
  const start = performance.now()
  let last = start
  let seq = backend.recovered.lastSeq
  const order = keyOrder(ENTRIES)
  for (let from = 0; from < ENTRIES; from += BATCH) {
    const ops = []
    for (let j = from; j < Math.min(from + BATCH, ENTRIES); j++) {
      const i = order.next().value
      ops.push({ kind: 'put', key: `key:${i}`, value: encoded(i), seq: ++seq, deadline: undefined })
    }
    await backend.commit(ops)
    const now = performance.now()
    if (now - last > 5000 || from + BATCH >= ENTRIES) {
      const done = Math.min(from + BATCH, ENTRIES)
      console.log(
        `  built ${fmt(done)} / ${fmt(ENTRIES)}  ${fmt(done / ((now - start) / 1000))} puts/s  ${((now - start) / 1000).toFixed(1)} s`,
      )
      last = now
    }
  }
  const seconds = (performance.now() - start) / 1000
  const size = backend.size()
  await persistence.close()
  return { seconds, putsPerSecond: ENTRIES / seconds, size }
}

// ---- child processes --------------------------------------------------------------------

const send = (message) => process.send?.(message)
const onMessage = (handler) =>
  process.on('message', (message) =>
    Promise.resolve(handler(message)).catch((error) => {
      console.error(error)
      process.exit(1)
    }),
  )

async function hubRole(options) {
  const before = memory()
  const start = performance.now()
  const hub = await createHub({
    transport: zmqTransport(),
    listen: 'tcp://127.0.0.1:0',
    persistence: lmdbPersistence({ path: options.dir, durability: 'sync' }),
    stores: {
      [STORE]: options.log === undefined ? { schema } : { schema, log: { maxMutations: options.log } },
    },
  })
  const startMs = performance.now() - start
  send({ cmd: 'ready', address: hub.address, startMs, before, after: memory() })
  onMessage(async (message) => {
    if (message.cmd === 'memory')
      send({ cmd: 'memory', memory: memory(), seq: hub.master(STORE).committedSeq })
    if (message.cmd === 'close') {
      const t0 = performance.now()
      await hub.close()
      send({ cmd: 'closed', closeMs: performance.now() - t0 })
      process.exit(0)
    }
  })
}

/** `total` writes with `inFlight` outstanding; `write(i)` returns the write's promise. */
async function pipeline(total, inFlight, write) {
  let next = 0
  const start = performance.now()
  const worker = async () => {
    while (next < total) await write(next++)
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker))
  const seconds = (performance.now() - start) / 1000
  return { count: total, seconds, perSecond: total / seconds }
}

const pick = (keys) => keys[Math.floor(Math.random() * keys.length)]

async function viewRole(options) {
  const node = await createNode({ transport: zmqTransport(), hub: options.hub, backoff: constantBackoff(20) })
  const start = performance.now()
  const kv = await node.open(STORE, { schema, prefix: options.prefix })
  const openMs = performance.now() - start
  const keys = Array.from(kv.entries(), ([key]) => key)
  send({ cmd: 'opened', openMs, size: kv.size })
  onMessage(async (message) => {
    if (message.cmd === 'load') {
      const puts = await pipeline(options.puts, options.inFlight, (i) => {
        const key = pick(keys)
        return kv.put(key, value(i))
      })
      const appends = await pipeline(options.appends, options.inFlight, () =>
        kv.update(pick(keys), 'x', { op: 'append' }),
      )
      send({ cmd: 'loaded', puts, appends, seq: kv.seq })
    }
    if (message.cmd === 'close') {
      await node.close()
      process.exit(0)
    }
  })
}

async function scatterRole(options) {
  const start = performance.now()
  const views = await Promise.all(
    options.prefixes.map(async (prefix) => {
      const node = await createNode({
        transport: zmqTransport(),
        hub: options.hub,
        backoff: constantBackoff(20),
      })
      const kv = await node.open(STORE, { schema, prefix })
      return { node, kv, keys: Array.from(kv.entries(), ([key]) => key) }
    }),
  )
  const openMs = performance.now() - start
  const keys = views.reduce((n, v) => n + v.keys.length, 0)
  send({ cmd: 'opened', openMs, keys })
  onMessage(async (message) => {
    if (message.cmd === 'load') {
      const updates = await pipeline(options.updates, options.inFlight, () => {
        const view = views[Math.floor(Math.random() * views.length)]
        return view.kv.update(pick(view.keys), 'x', { op: 'append' })
      })
      send({ cmd: 'loaded', updates })
    }
    if (message.cmd === 'close') {
      await Promise.all(views.map((v) => v.node.close()))
      process.exit(0)
    }
  })
}

// ---- driver -----------------------------------------------------------------------------

const SELF = fileURLToPath(import.meta.url)

function spawnRole(role, options) {
  const child = fork(SELF, ['--role', role, JSON.stringify(options)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const waiting = new Map()
  child.on('message', (message) => {
    const resolve = waiting.get(message.cmd)
    waiting.delete(message.cmd)
    resolve?.(message)
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  /** Resolves with the next message `cmd`; rejects if the child exits first. */
  const next = (cmd) =>
    Promise.race([
      new Promise((resolve) => waiting.set(cmd, resolve)),
      exited.then((code) => {
        throw new Error(`${role} exited with ${code} while waiting for '${cmd}'`)
      }),
    ])
  const ask = (message, reply) => {
    const answer = next(reply)
    child.send(message)
    return answer
  }
  return { child, next, ask, exited }
}

async function main() {
  const dir = option('dir') ?? mkdtempSync(join(tmpdir(), 'concord-lmdb-hub-'))
  const keep = args.includes('--keep') || option('dir') !== undefined
  const inFlight = Number(option('in-flight', 256))
  const prefix = option('view', 'key:12')
  const file = join(dir, `${STORE}.mdb`)
  let hub
  const others = []
  try {
    let built = null
    let existing = false
    try {
      existing = statSync(file).size > 0
    } catch {}
    if (!existing) {
      console.log(
        `building ${fmt(ENTRIES)} entries of 100-character strings in ${dir} ('sync', key order, commits of ${fmt(BATCH)})`,
      )
      built = await build(dir)
      console.log(
        `  ${built.seconds.toFixed(1)} s, ${fmt(built.putsPerSecond)} puts/s, size() ${fmt(built.size)}`,
      )
    } else console.log(`reusing ${file}`)
    const dataBytesBefore = statSync(file).size
    console.log(`data on disk: ${mib(dataBytesBefore)} MiB`)

    const log = option('log') === undefined ? undefined : Number(option('log'))
    hub = spawnRole('hub', { dir, log })
    const ready = await hub.next('ready')
    console.log(`hub started in ${ready.startMs.toFixed(0)} ms on ${ready.address}`)
    const phases = [
      { phase: 'before createHub', ...ready.before },
      { phase: 'after createHub', ...ready.after },
    ]
    const measure = async (phase) => {
      const { memory } = await hub.ask({ cmd: 'memory' }, 'memory')
      phases.push({ phase, ...memory })
    }

    const view = spawnRole('view', {
      hub: ready.address,
      prefix,
      puts: Number(option('puts', 10_000)),
      appends: Number(option('appends', 10_000)),
      inFlight,
    })
    others.push(view)
    const opened = await view.next('opened')
    console.log(`view '${prefix}': ${fmt(opened.size)} entries cloned in ${opened.openMs.toFixed(0)} ms`)
    await measure(`after view snapshot (${fmt(opened.size)} entries)`)
    const loaded = await view.ask({ cmd: 'load' }, 'loaded')
    console.log(
      `  ${fmt(loaded.puts.count)} puts: ${fmt(loaded.puts.perSecond)}/s; ${fmt(loaded.appends.count)} appends: ${fmt(loaded.appends.perSecond)}/s (${inFlight} in flight)`,
    )
    await measure('after view puts + appends')

    const scatterNodes = Number(option('scatter', 64))
    let scatter = null
    if (scatterNodes > 0) {
      // `key:<p>` with p in [N/100, N/10): keys p and p0..p9, i.e. 11 keys at a uniformly
      // random place of the byte-ordered key space.
      const low = Math.floor(ENTRIES / 100)
      const prefixes = Array.from(
        { length: scatterNodes },
        () => `key:${low + Math.floor(Math.random() * (Math.floor(ENTRIES / 10) - low))}`,
      )
      const s = spawnRole('scatter', {
        hub: ready.address,
        prefixes,
        updates: Number(option('scatter-updates', 10_000)),
        inFlight,
      })
      others.push(s)
      const sOpened = await s.next('opened')
      const sLoaded = await s.ask({ cmd: 'load' }, 'loaded')
      console.log(
        `scatter: ${scatterNodes} nodes, ${fmt(sOpened.keys)} keys in views all over the store (opened in ${sOpened.openMs.toFixed(0)} ms); ${fmt(sLoaded.updates.count)} appends: ${fmt(sLoaded.updates.perSecond)}/s`,
      )
      await measure(`after scattered appends`)
      scatter = { nodes: scatterNodes, keys: sOpened.keys, openMs: sOpened.openMs, appends: sLoaded.updates }
    }

    for (const o of others) {
      o.child.send({ cmd: 'close' })
      await o.exited
    }
    await measure('nodes closed')
    const { closeMs } = await hub.ask({ cmd: 'close' }, 'closed')
    await hub.exited
    hub = undefined
    const dataBytes = statSync(file).size

    console.log(
      `\nhub memory (MiB, after 2 GCs) — data on disk ${mib(dataBytes)} MiB, ${fmt(ENTRIES)} entries`,
    )
    const cols = ['rss', 'rssAnon', 'rssFile', 'heapUsed', 'external']
    console.log(`  ${'phase'.padEnd(40)}${cols.map((c) => c.padStart(10)).join('')}`)
    for (const p of phases)
      console.log(`  ${p.phase.padEnd(40)}${cols.map((c) => String(p[c]).padStart(10)).join('')}`)
    console.log(`  peak RSS (VmHWM) ${phases.at(-1).peakRss} MiB; hub close ${closeMs.toFixed(0)} ms`)

    const result = {
      date: new Date().toISOString(),
      node: process.version,
      entries: ENTRIES,
      valueChars: 100,
      durability: 'sync',
      build: built,
      dataBytesBefore,
      dataBytes,
      createHubMs: ready.startMs,
      logMaxMutations: log ?? 100_000,
      view: {
        prefix,
        entries: opened.size,
        openMs: opened.openMs,
        inFlight,
        puts: loaded.puts,
        appends: loaded.appends,
      },
      scatter,
      hubCloseMs: closeMs,
      hubMemoryMiB: phases,
    }
    const json = option('json', fileURLToPath(new URL('./results/lmdb-hub.json', import.meta.url)))
    mkdirSync(dirname(json), { recursive: true })
    writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`)
    console.log(`wrote ${json}`)
  } finally {
    for (const o of [...others, hub]) if (o !== undefined && o.child.exitCode === null) o.child.kill()
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
}

const roleAt = args.indexOf('--role')
if (process.argv[1] !== SELF) {
  // Imported (for keyOrder): run nothing.
} else if (roleAt >= 0) {
  const role = args[roleAt + 1]
  const options = JSON.parse(args[roleAt + 2])
  await { hub: hubRole, view: viewRole, scatter: scatterRole }[role](options)
} else await main()
