// One process of the cluster benchmark, driven over IPC by cluster.mjs.
//   hub:    a hub on ZeroMQ with SQLite or LMDB persistence
//   node:   a node holding a clone of `kv`: reports when it reached a seq, writes 100-byte
//           values with N puts in flight (keys in order or at random), measures its gets;
//           with `handle: 'writer'` it holds a write-only handle instead and only writes
//   map:    the baseline: a plain Map holding the same values as a clone
import { constantBackoff, createHub, createNode } from '@concord/core'
import { seededRandom } from '@concord/core/testing'
import { lmdbPersistence } from '@concord/persist-lmdb'
import { sqlitePersistence } from '@concord/persist-sqlite'
import { t } from '@concord/schema'
import { redisTransport } from '@concord/transport-redis'
import { zmqTransport } from '@concord/transport-zmq'

const [role, json] = process.argv.slice(2)
const options = JSON.parse(json ?? '{}')
const schema = t.string()
const send = (message) => process.send?.(message)
const gcRss = () => {
  globalThis.gc?.()
  globalThis.gc?.()
  return process.memoryUsage().rss
}
export const value = (i) => `${'x'.repeat(100 - String(i).length)}${i}`
const transport = () => (options.transport === 'redis' ? redisTransport() : zmqTransport())

if (role === 'hub') {
  const persistence =
    options.persistence === 'memory'
      ? (await import('@concord/core')).memoryPersistence()
      : options.persistence === 'lmdb'
        ? lmdbPersistence({ path: options.path, durability: options.durability })
        : sqlitePersistence({ path: options.path, durability: options.durability })
  const start = performance.now()
  const hub = await createHub({
    transport: transport(),
    listen: options.listen,
    persistence,
    stores: { kv: { schema, ...(options.expiry === undefined ? {} : { expiry: options.expiry }) } },
  })
  send({
    cmd: 'ready',
    address: hub.address,
    startMs: performance.now() - start,
    seq: hub.master('kv').committedSeq,
  })
  process.on('message', async (message) => {
    if (message.cmd === 'seq') send({ cmd: 'seq', seq: hub.master('kv').committedSeq })
    if (message.cmd === 'metrics') send({ cmd: 'metrics', metrics: hub.metrics })
    if (message.cmd === 'cpu') send({ cmd: 'cpu', ...process.cpuUsage() })
    if (message.cmd === 'close') {
      await hub.close()
      process.exit(0)
    }
  })
} else if (role === 'map') {
  const before = gcRss()
  const map = new Map()
  for (let i = 0; i < options.entries; i++) map.set(`key:${i}`, schema.decode(schema.encode(value(i))))
  send({ cmd: 'rss', bytes: gcRss() - before, size: map.size })
} else {
  const node = await createNode({ transport: transport(), hub: options.hub, backoff: constantBackoff(20) })
  const before = gcRss()
  const start = performance.now()
  // A writer writes through a write-only handle (`node.writer`) unless told to hold a clone.
  const kv =
    options.handle === 'writer' ? await node.writer('kv', { schema }) : await node.open('kv', { schema })
  send({ cmd: 'ready', openMs: performance.now() - start, seq: kv.seq, size: kv.size, rss: gcRss() - before })
  process.on('message', async (message) => {
    if (message.cmd === 'wait') {
      // Report the moment this clone has applied `seq` (no polling: it would steal the CPU measured).
      kv.reached(message.seq).then(() => send({ cmd: 'reached', seq: kv.seq }))
    } else if (message.cmd === 'write') {
      // Keys cycle through `keys` in order, or (`random`) are drawn uniformly from them, as
      // addresses or connection ids would be: each then lands on its own B-tree page.
      const { total, inFlight, keys, offset = 0, random = false } = message
      const draw = seededRandom(offset + 1)
      let next = 0
      let last = 0
      const start = performance.now()
      const worker = async () => {
        while (next < total) {
          const i = next++
          const key = `key:${random ? draw.int(keys) : (offset + i) % keys}`
          last = Math.max(last, await kv.put(key, value(offset + i)))
        }
      }
      await Promise.all(Array.from({ length: inFlight }, worker))
      send({ cmd: 'wrote', ms: performance.now() - start, seq: last })
    } else if (message.cmd === 'gets') {
      const n = kv.size
      const keys = Array.from({ length: 1 << 16 }, () => `key:${Math.floor(Math.random() * n)}`)
      const plain = new Map(kv.entries())
      // One loop per contender, so each call site stays monomorphic; rounds alternate, and
      // the median of each contender's rounds is reported (this VM's speed drifts).
      const loops = {
        clone: (count) => {
          let hits = 0
          for (let i = 0; i < count; i++) if (kv.get(keys[i & 0xffff]) !== undefined) hits++
          return hits
        },
        map: (count) => {
          let hits = 0
          for (let i = 0; i < count; i++) if (plain.get(keys[i & 0xffff]) !== undefined) hits++
          return hits
        },
      }
      const rounds = 7
      const perRound = Math.ceil(message.count / rounds)
      const rates = { clone: [], map: [] }
      for (let round = 0; round < rounds; round++) {
        for (const [name, loop] of Object.entries(loops)) {
          const start = performance.now()
          if (loop(perRound) < 0) throw new Error('unreachable')
          rates[name].push(perRound / ((performance.now() - start) / 1000))
        }
      }
      const median = (list) => list.sort((a, b) => a - b)[list.length >> 1]
      send({ cmd: 'gets', clone: median(rates.clone), map: median(rates.map) })
    } else if (message.cmd === 'cpu') {
      send({ cmd: 'cpu', ...process.cpuUsage() })
    } else if (message.cmd === 'close') {
      await node.close()
      process.exit(0)
    }
  })
}
