// Core figures on the in-memory transport (issue: core). Run: npm run bench -w @concord/core
// Prints a table and writes bench/results/core.json at the repository root.
import { mkdirSync, writeFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createHub, createNode, memoryPersistence, memoryTransport } from '@concord/core'
import { t } from '@concord/schema'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')
const quick = process.argv.includes('--quick')
const VALUE = 'x'.repeat(100)
const schema = t.string()
const results = []

function report(name, value, unit, baseline, goal) {
  const ratio = baseline === undefined ? undefined : value / baseline.value
  results.push({ name, value, unit, baseline, ratio, goal })
  const r = ratio === undefined ? '' : `  ${ratio.toFixed(2)}x ${baseline.name}`
  console.log(
    `${name.padEnd(52)} ${fmt(value).padStart(12)} ${unit.padEnd(10)}${r}${goal ? `  (goal ${goal})` : ''}`,
  )
}
const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2))
const heapUsed = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

async function cluster(stores = { kv: { schema } }) {
  const transport = memoryTransport({ peerQueueLimit: 1_000_000 })
  const hub = await createHub({
    transport,
    listen: 'memory://bench',
    persistence: memoryPersistence(),
    stores,
  })
  return { transport, hub }
}

async function puts(inFlight, total) {
  const { transport, hub } = await cluster()
  const writer = await createNode({ transport, hub: hub.address })
  const kv = await writer.open('kv', { schema })
  const readers = await Promise.all([1, 2, 3].map(() => createNode({ transport, hub: hub.address })))
  const clones = await Promise.all(readers.map((n) => n.open('kv', { schema })))
  const start = performance.now()
  let i = 0
  const worker = async () => {
    while (i < total) await kv.put(`k${i++ % 100_000}`, VALUE)
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  const target = hub.master('kv').committedSeq
  while (!clones.every((c) => c.seq >= target)) await new Promise((r) => setImmediate(r))
  const rate = total / ((performance.now() - start) / 1000)
  await Promise.all([writer, ...readers].map((n) => n.close()))
  await hub.close()
  return rate
}

async function main() {
  console.log(`Concord core on the in-memory transport, Node ${process.version}${quick ? ' (quick)' : ''}\n`)
  const N = quick ? 20_000 : 200_000
  report('puts/s applied at 3 clones, 1000 in flight', await puts(1000, N), 'puts/s')
  report('puts/s applied at 3 clones, 1 in flight', await puts(1, N / 10), 'puts/s')

  // get: the clone against a plain Map of the same values, same keys, same order of lookups.
  const ENTRIES = quick ? 100_000 : 1_000_000
  const { transport, hub } = await cluster()
  const loader = await createNode({ transport, hub: hub.address })
  const kv = await loader.open('kv', { schema })
  for (let base = 0; base < ENTRIES; base += 10_000) {
    const batch = []
    for (let j = base; j < base + 10_000; j++) batch.push(kv.put(`key:${j}`, `${VALUE}${j}`))
    await Promise.all(batch)
  }
  await loader.close()

  const before = heapUsed()
  const reader = await createNode({ transport, hub: hub.address })
  const snapStart = performance.now()
  const clone = await reader.open('kv', { schema })
  const snapSeconds = (performance.now() - snapStart) / 1000
  const cloneHeap = heapUsed() - before
  report(`snapshot of ${ENTRIES.toLocaleString('en-US')} entries to a new clone`, snapSeconds, 's')

  const plainBefore = heapUsed()
  const plain = new Map()
  for (let j = 0; j < ENTRIES; j++) plain.set(`key:${j}`, schema.decode(schema.encode(`${VALUE}${j}`)))
  const plainHeap = heapUsed() - plainBefore
  report(
    'clone heap per entry',
    cloneHeap / ENTRIES,
    'bytes',
    { name: 'plain Map', value: plainHeap / ENTRIES },
    '<= 1.5x',
  )

  const keys = Array.from({ length: 1 << 16 }, () => `key:${Math.floor(Math.random() * ENTRIES)}`)
  const LOOKUPS = quick ? 2_000_000 : 20_000_000
  const time = (fn) => {
    let sink = 0
    const start = performance.now()
    for (let j = 0; j < LOOKUPS; j++) sink += fn(keys[j & 0xffff]) === undefined ? 0 : 1
    if (sink < 0) console.log(sink)
    return LOOKUPS / ((performance.now() - start) / 1000)
  }
  time((k) => plain.get(k))
  time((k) => clone.get(k))
  const mapRate = time((k) => plain.get(k))
  const getRate = time((k) => clone.get(k))
  report('clone get/s, random key', getRate, 'gets/s', { name: 'Map.get', value: mapRate }, '>= 0.5x')
  await reader.close()
  await hub.close()

  mkdirSync(new URL('../../../bench/results/', import.meta.url), { recursive: true })
  writeFileSync(
    new URL('../../../bench/results/core.json', import.meta.url),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, results }, null, 2)}\n`,
  )
}

await main()
