// One process of the chaos soak (soak.mjs), driven over IPC. Runs the built packages.
//   hub:  node role.mjs hub  '{"transport":"zmq","persistence":"sqlite","listen":"tcp://127.0.0.1:7000","path":"/tmp/x"}'
//   node: node role.mjs node '{"transport":"zmq","hub":"tcp://127.0.0.1:7000","writer":1,"inc":0,"seed":42}'
// A node runs the seeded workload of ops.mjs with a number of writes in flight the driver sets,
// never past the write number the driver granted, and reports every write's outcome.
import { constantBackoff, createHub, createNode } from '@concord/core'
import { lmdbPersistence } from '@concord/persist-lmdb'
import { sqlitePersistence } from '@concord/persist-sqlite'
import { t } from '@concord/schema'
import { redisTransport } from '@concord/transport-redis'
import { zmqTransport } from '@concord/transport-zmq'
import { opFor } from './ops.mjs'

const [role, json] = process.argv.slice(2)
const options = JSON.parse(json ?? '{}')
const schemas = { kv: t.string(), counters: t.count(), logs: t.string() }
const send = (message) => process.send?.(message)

// Any of these is a finding: report it, and die as a crash would.
for (const event of ['unhandledRejection', 'uncaughtException']) {
  process.on(event, (error) => {
    send({ cmd: 'fatal', event, message: String(error?.stack ?? error) })
    setTimeout(() => process.exit(70), 50)
  })
}
process.on('disconnect', () => process.exit(0))

function transport() {
  if (options.transport === 'redis') return redisTransport({ peerQueueLimit: options.queue ?? 10_000 })
  return zmqTransport({ highWaterMark: options.queue ?? 10_000 })
}

/** Heap and RSS after a full collection (the process runs with --expose-gc). */
function memory() {
  globalThis.gc?.()
  globalThis.gc?.()
  const { rss, heapUsed } = process.memoryUsage()
  return { rss, heapUsed }
}

/** Every entry of a clone or a master as `{ key: [value as text, seq] }`. */
function entriesOf(pairs) {
  const out = {}
  for (const [key, value, seq] of pairs) out[key] = [String(value), seq]
  return out
}

if (role === 'hub') {
  const persistence =
    options.persistence === 'lmdb'
      ? lmdbPersistence({ path: options.path, durability: 'sync' })
      : sqlitePersistence({ path: options.path, durability: 'sync' })
  const hub = await createHub({
    transport: transport(),
    listen: options.listen,
    persistence,
    heartbeat: options.heartbeat ?? 250,
    stores: Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, { schema }])),
  })
  process.on('message', (message) => {
    if (message.cmd === 'dump') {
      // The committed state, read through each backend, and the deadlines still stored.
      const stores = {}
      for (const name of Object.keys(schemas)) {
        const master = hub.master(name)
        const seq = master.committedSeq
        const cursor = master.backend.snapshot('')
        const rows = []
        let deadlines = 0
        let overdue = 0
        const now = Date.now()
        for (
          let batch = cursor.next(10_000, 1 << 30);
          batch.length > 0;
          batch = cursor.next(10_000, 1 << 30)
        ) {
          for (const [key, entry] of batch) {
            rows.push([key, schemas[name].decode(entry.value), entry.seq])
            if (entry.deadline !== undefined) {
              deadlines++
              // Far past its deadline (the tolerance is 100 ms): expiry stopped working (S4.3).
              if (entry.deadline < now - 5000) overdue++
            }
          }
        }
        cursor.close()
        stores[name] = { seq, entries: entriesOf(rows), deadlines, overdue }
      }
      send({ cmd: 'dump', stores, metrics: hub.metrics, instance: hub.instance })
    } else if (message.cmd === 'metrics') {
      send({ cmd: 'metrics', metrics: hub.metrics })
    } else if (message.cmd === 'mem') {
      send({ cmd: 'mem', ...memory() })
    }
  })
  send({ cmd: 'ready', address: hub.address, instance: hub.instance })
} else {
  const node = await createNode({
    transport: transport(),
    hub: options.hub,
    backoff: constantBackoff(50),
  })
  const stores = {}
  for (const name of Object.keys(schemas)) stores[name] = await node.open(name, { schema: schemas[name] })

  let granted = 0
  let next = 1
  let inFlight = options.inFlight ?? 10
  let workers = 0
  let stopped = false
  let wake = () => {}
  let outcomes = []
  const flush = () => {
    if (outcomes.length === 0) return
    send({ cmd: 'outcomes', list: outcomes, next })
    outcomes = []
  }
  setInterval(flush, 25)

  const run = async (op) => {
    const store = stores[op.store]
    switch (op.kind) {
      case 'put':
        return store.put(op.key, op.value, op.expiry === undefined ? {} : { expiry: op.expiry })
      case 'remove':
        return store.remove(op.key)
      case 'cas':
        return store.compareAndSet(op.key, store.seqOf(op.key), op.value)
      case 'incr':
        return store.update(op.key, 1n, { op: 'increment' })
      case 'append':
        return store.update(op.key, op.token, { op: 'append' })
      case 'clear':
        return store.clear()
    }
  }

  const worker = async () => {
    workers++
    try {
      while (workers <= inFlight) {
        if (stopped || next > granted) {
          await new Promise((resolve) => {
            const previous = wake
            wake = () => {
              previous()
              resolve()
            }
          })
          continue
        }
        const n = next++
        const op = opFor(options.seed, options.writer, options.inc, n)
        try {
          const seq = await run(op)
          outcomes.push([n, seq])
        } catch (error) {
          outcomes.push([n, 0, error?.code ?? 'none', String(error?.message ?? error)])
        }
      }
    } finally {
      workers--
    }
  }
  const setWorkers = (n) => {
    inFlight = n
    for (let i = workers; i < inFlight; i++) void worker()
    const w = wake
    wake = () => {}
    w()
  }

  process.on('message', (message) => {
    if (message.cmd === 'grant') {
      granted = Math.max(granted, message.upTo)
      stopped = false
      setWorkers(message.inFlight ?? inFlight)
    } else if (message.cmd === 'stop') {
      // Issue nothing more: the driver waits for the outcome of every write up to `next - 1`.
      stopped = true
      send({ cmd: 'stopped', issued: next - 1 })
    } else if (message.cmd === 'dump') {
      const out = {}
      for (const [name, store] of Object.entries(stores)) {
        const rows = []
        for (const [key, value] of store.entries()) rows.push([key, value, store.seqOf(key)])
        out[name] = { status: store.status, seq: store.seq, entries: entriesOf(rows) }
      }
      send({ cmd: 'dump', stores: out })
    } else if (message.cmd === 'mem') {
      send({ cmd: 'mem', ...memory() })
    }
  })
  setWorkers(inFlight)
  send({ cmd: 'ready', nodeId: node.id })
}
