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
import { configureOps, opFor } from './ops.mjs'

/** A write-only node reads back one of this many of its writes through the hub (node.read). */
const READ_EVERY = 8

const [role, json] = process.argv.slice(2)
const options = JSON.parse(json ?? '{}')
configureOps(options.ops)
const schemas = { kv: t.string(), counters: t.count(), logs: t.string() }
/** Events: each writer incarnation publishes `<writer>.<inc>.<n>` on `ev/<writer>.<inc>`, n = 1, 2, … */
const EVENTS = 'ev'
const eventSchema = t.string()
const send = (message) => process.send?.(message)

// Any of these is a finding: report it, and die as a crash would.
for (const event of ['unhandledRejection', 'uncaughtException']) {
  process.on(event, (error) => {
    send({ cmd: 'fatal', event, message: String(error?.stack ?? error) })
    setTimeout(() => process.exit(70), 50)
  })
}
process.on('disconnect', () => process.exit(0))

/**
 * Starting needs the transport (a hub listening on redis-server, a node connecting to it):
 * when it is down, say so and exit, for the driver to start this process again, as a
 * supervisor would. Only ERR_UNAVAILABLE is such a failure; anything else is a finding.
 */
async function starting(what) {
  try {
    return await what()
  } catch (error) {
    if (error?.code !== 'ERR_UNAVAILABLE') throw error
    send({ cmd: 'unavailable', message: String(error.message) })
    await new Promise((resolve) => setTimeout(resolve, 50))
    process.exit(3)
  }
}

function transport() {
  if (options.transport === 'redis') return redisTransport({ peerQueueLimit: options.queue ?? 10_000 })
  return zmqTransport({ highWaterMark: options.queue ?? 10_000 })
}

/** Heap and RSS after a full collection (the process runs with --expose-gc). */
function memory() {
  globalThis.gc?.()
  globalThis.gc?.()
  const { rss, heapUsed } = process.memoryUsage()
  return { rss, heapUsed, stall: stalls() }
}

/**
 * The longest the event loop was held up since the last reading, in ms, and when (ms since
 * the epoch): a process that holds its loop past 3 heartbeats looks silent to its peers.
 */
let longest = { ms: 0, at: 0 }
let lastTick = performance.now()
setInterval(() => {
  const now = performance.now()
  const late = now - lastTick - 20
  if (late > longest.ms) longest = { ms: Math.round(late), at: Date.now() }
  lastTick = now
}, 20).unref()
function stalls() {
  const out = longest
  longest = { ms: 0, at: 0 }
  return out
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
  const hub = await starting(() =>
    createHub({
      transport: transport(),
      listen: options.listen,
      persistence,
      heartbeat: options.heartbeat ?? 250,
      stores: Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, { schema }])),
      topics: { [EVENTS]: { schema: eventSchema } },
    }),
  )
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
        /** The keys that have a deadline, to check against the write that set each (S4.2). */
        const deadlineKeys = []
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
              deadlineKeys.push(key)
              // Far past its deadline (the tolerance is 100 ms): expiry stopped working (S4.3).
              if (entry.deadline < now - 5000) overdue++
            }
          }
        }
        cursor.close()
        stores[name] = { seq, entries: entriesOf(rows), deadlines, deadlineKeys, overdue }
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
  const node = await starting(() =>
    createNode({
      transport: transport(),
      hub: options.hub,
      backoff: constantBackoff(50),
      topics: { [EVENTS]: { schema: eventSchema } },
    }),
  )
  // Each change of the node's link, with why, in its log (kept with --keep).
  void (async () => {
    for await (const change of node.statusChanges())
      console.error(
        `${new Date().toISOString()} node ${change.status}${change.error ? `: ${change.error.message}` : ''}`,
      )
  })()
  const stores = {}
  // A viewer opens prefix views (S2.6) where `views` names one, and writes nothing. A
  // write-only node takes write-only handles (node.writer): no replica, each write resolves
  // on the master's acknowledgement.
  const writeOnly = options.writeOnly === true
  for (const name of Object.keys(schemas)) {
    const prefix = options.views?.[name]
    stores[name] = writeOnly
      ? await node.writer(name, { schema: schemas[name] })
      : await node.open(name, {
          schema: schemas[name],
          ...(prefix === undefined ? {} : { prefix }),
        })
  }
  /** Broken promises seen from inside the node; each is a finding. */
  const breaches = []
  const breach = (text) => {
    if (breaches.length < 20) breaches.push(text)
  }

  // A clone never goes back (S3.4, S6.4: a restarted master keeps every seq it acknowledged).
  const lastSeq = {}
  setInterval(() => {
    if (writeOnly) return
    for (const [name, store] of Object.entries(stores)) {
      if (store.seq < (lastSeq[name] ?? 0))
        breach(`${name}: the clone went back from seq ${lastSeq[name]} to ${store.seq}`)
      lastSeq[name] = Math.max(lastSeq[name] ?? 0, store.seq)
    }
  }, 5)

  // A mirror of the kv clone built from its changes() alone (S5.1; across a resync by snapshot
  // it reports the difference): it must equal the clone once quiet. A consumer that falls
  // behind gets OverflowError (S5.2) and starts again from the clone's entries.
  const mirror = new Map()
  let mirrorRestarts = 0
  const follow = async () => {
    for (;;) {
      mirror.clear()
      const changes = stores.kv.changes({ bufferSize: 200_000 })
      for (const [key, value] of stores.kv.entries()) mirror.set(key, [value, stores.kv.seqOf(key)])
      let last = stores.kv.seq
      try {
        for await (const change of changes) {
          if (change.seq < last) breach(`kv changes(): seq ${change.seq} after ${last}`)
          last = change.seq
          if (change.kind === 'put') mirror.set(change.key, [change.value, change.seq])
          else if (change.kind === 'clear') mirror.clear()
          else mirror.delete(change.key)
        }
        return
      } catch (error) {
        if (error?.code !== 'ERR_OVERFLOW') throw error
        mirrorRestarts++
      }
    }
  }
  if (!writeOnly) void follow()

  // Events (S7.3): a writer publishes one at a time, every 10 ms, numbered in issue order on a
  // topic of its own; the viewer subscribes to them all and checks that each topic's events
  // come in that order, each once, and that what it counts as lost (node.metrics.eventsLost)
  // plus what it received is no more than the numbers its topics spanned.
  // While quiesced the driver pauses them and publishes one last event (`publish`).
  const events = {
    published: 0,
    received: 0,
    topic: `${EVENTS}/${options.writer}.${options.inc}`,
    spans: {},
    /** Per event number, whether the hub acknowledged it (1) or it may or may not have gone (2). */
    outcomes: new Uint8Array(1024),
    paused: false,
    resume: () => {},
    current: Promise.resolve(),
  }
  if (options.views === undefined) {
    const publishOne = async () => {
      const n = ++events.published
      if (n >= events.outcomes.length) {
        const grown = new Uint8Array(events.outcomes.length * 2)
        grown.set(events.outcomes)
        events.outcomes = grown
      }
      try {
        await node.publish(events.topic, `${options.writer}.${options.inc}.${n}`)
      } catch (error) {
        events.outcomes[n] = 2
        throw error
      }
      events.outcomes[n] = 1
      return n
    }
    events.publishOne = publishOne
    const loop = async () => {
      for (;;) {
        if (events.paused) await new Promise((resolve) => (events.resume = resolve))
        events.current = publishOne().then(
          () => {},
          (error) => {
            // Refused for want of a link (ERR_UNAVAILABLE); anything else is a finding.
            if (error?.code !== 'ERR_UNAVAILABLE')
              breach(`publish on ${events.topic}: ${error?.code} ${error?.message}`)
          },
        )
        await events.current
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
    void loop()
  } else {
    const subscription = node.subscribe(EVENTS, { bufferSize: 100_000 })
    void subscription.closed.then((error) =>
      breach(`the events subscription ended: ${error?.code} ${error?.message}`),
    )
    void (async () => {
      for await (const event of subscription) {
        const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(String(event.payload))
        const topic = `${EVENTS}/${match?.[1]}.${match?.[2]}`
        if (match === null || topic !== event.topic) {
          breach(`event '${event.payload}' on ${event.topic}: never published there`)
          continue
        }
        const n = Number(match[3])
        events.received++
        const span = events.spans[topic]
        if (span === undefined) events.spans[topic] = { first: n, last: n, received: 1 }
        else if (n <= span.last) breach(`event ${n} on ${topic} after ${span.last} (S7.3: once, in order)`)
        else {
          span.last = n
          span.received++
        }
      }
    })()
  }

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

  /**
   * Read your writes through the hub (node.read, S3.2): once a write-only handle's write
   * resolved at `seq`, a one-key read answers that seq or a later one. A `kv` key may be gone
   * (another writer's remove or clear, an expiry); a counter or log key of this incarnation is
   * written by it alone and never removed. A read the hub could not answer in time (chaos) is
   * not a finding; any other refusal is.
   */
  const readBack = async (op, seq) => {
    let result
    try {
      result = await node.read(op.store, op.key, { schema: schemas[op.store] })
    } catch (error) {
      if (error?.code !== 'ERR_UNAVAILABLE' && error?.code !== 'ERR_CLOSED')
        breach(
          `read of ${op.store}/${op.key} after ${op.kind} at seq ${seq}: ${error?.code} ${error?.message}`,
        )
      return
    }
    if (result.found ? result.seq < seq : op.store !== 'kv')
      breach(
        `${op.kind} ${op.store}/${op.key} resolved to seq ${seq}; a read then answered ${result.found ? `seq ${result.seq}` : 'absent'}`,
      )
  }

  const run = async (op) => {
    const store = stores[op.store]
    switch (op.kind) {
      case 'put':
        return store.put(op.key, op.value, op.expiry === undefined ? {} : { expiry: op.expiry })
      case 'remove':
        return store.remove(op.key)
      case 'cas':
        // A write-only handle has no replica to read the seq from: it expects the key absent.
        return store.compareAndSet(op.key, writeOnly ? 0 : store.seqOf(op.key), op.value)
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
          if (writeOnly) {
            if (n % READ_EVERY === 0 && op.kind !== 'remove' && op.kind !== 'clear') await readBack(op, seq)
            continue
          }
          // Read your writes (S3.2): once it resolved, the clone shows the write or a later one.
          const store = stores[op.store]
          if (store.seq < seq)
            breach(`${op.kind} ${op.key} resolved to seq ${seq}, the clone is at ${store.seq}`)
          const at = store.seqOf(op.key)
          if (op.kind !== 'remove' && op.kind !== 'clear' && at !== 0 && at < seq)
            breach(`${op.kind} ${op.key} resolved to seq ${seq}, the clone holds the key at ${at}`)
        } catch (error) {
          // Acknowledged at its seq (it took effect), only not applied here before the
          // clone's link had been down for writeTimeout: an acknowledged write, to check as one.
          if (error?.code === 'ERR_UNAVAILABLE' && Number.isSafeInteger(error.ackedSeq))
            outcomes.push([n, error.ackedSeq])
          else outcomes.push([n, 0, error?.code ?? 'none', String(error?.message ?? error)])
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
      events.paused = false
      events.resume()
      granted = Math.max(granted, message.upTo)
      stopped = false
      setWorkers(message.inFlight ?? inFlight)
    } else if (message.cmd === 'stop') {
      // Issue nothing more: the driver waits for the outcome of every write up to `next - 1`.
      stopped = true
      send({ cmd: 'stopped', issued: next - 1 })
    } else if (message.cmd === 'dump') {
      if (writeOnly) {
        send({ cmd: 'dump', stores: undefined, breaches, mirrorRestarts, metrics: node.metrics })
        return
      }
      const out = {}
      for (const [name, store] of Object.entries(stores)) {
        const rows = []
        for (const [key, value] of store.entries()) rows.push([key, value, store.seqOf(key)])
        out[name] = { status: store.status, seq: store.seq, prefix: store.prefix, entries: entriesOf(rows) }
      }
      const mirrored = {}
      for (const [key, [value, seq]] of mirror) mirrored[key] = [String(value), seq]
      out.kv.mirror = mirrored
      send({
        cmd: 'dump',
        stores: out,
        breaches,
        mirrorRestarts,
        metrics: node.metrics,
        events: { spans: events.spans, received: events.received },
      })
    } else if (message.cmd === 'metrics') {
      send({ cmd: 'metrics', metrics: node.metrics })
    } else if (message.cmd === 'mem') {
      send({ cmd: 'mem', ...memory() })
    } else if (message.cmd === 'acked') {
      // How many of this writer's events from..to the hub acknowledged.
      let acked = 0
      for (let n = message.from; n <= message.to; n++) if (events.outcomes[n] === 1) acked++
      send({ cmd: 'acked', acked })
    } else if (message.cmd === 'publish') {
      // Publishing paused, one more event acknowledged by the hub: the viewer must get it (S7.3).
      events.paused = true
      events.current.then(events.publishOne).then(
        (n) => send({ cmd: 'publish', topic: events.topic, n }),
        (error) => send({ cmd: 'publish', topic: events.topic, error: `${error?.code} ${error?.message}` }),
      )
    }
  })
  setWorkers(inFlight)
  send({ cmd: 'ready', nodeId: node.id })
}
