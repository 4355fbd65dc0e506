// A Concord process for the multi-process tests: a hub or a node over ZeroMQ (+ SQLite on
// the hub), driven by its parent over IPC. Runs the built packages (dist).
//   node role.mjs hub  '{"listen":"tcp://127.0.0.1:0","path":"/tmp/x","hwm":50}'
//   node role.mjs node '{"hub":"tcp://127.0.0.1:1234"}'
import { constantBackoff, createHub, createNode } from '@concord/core'
import { sqlitePersistence } from '@concord/persist-sqlite'
import { t } from '@concord/schema'
import { zmqTransport } from '@concord/transport-zmq'

const [role, json] = process.argv.slice(2)
const options = JSON.parse(json ?? '{}')
const schemas = { kv: t.string(), counters: t.count() }
const stores = { kv: { schema: schemas.kv }, counters: { schema: schemas.counters } }
const reply = (message) => process.send?.(message)
const transport = () => zmqTransport(options.hwm === undefined ? {} : { highWaterMark: options.hwm })

if (role === 'hub') {
  const hub = await createHub({
    transport: transport(),
    listen: options.listen,
    persistence: sqlitePersistence({ path: options.path, durability: options.durability ?? 'sync' }),
    stores,
    heartbeat: options.heartbeat ?? 200,
  })
  process.on('message', async (message) => {
    if (message.cmd === 'dump') {
      // The master's committed state, read through its backend.
      const out = {}
      for (const name of Object.keys(stores)) {
        const master = hub.master(name)
        const cursor = master.backend.snapshot('')
        const entries = {}
        for (let rows = cursor.next(10_000, 1 << 30); rows.length > 0; rows = cursor.next(10_000, 1 << 30)) {
          for (const [key, entry] of rows)
            entries[key] = [String(schemas[name].decode(entry.value)), entry.seq]
        }
        cursor.close()
        out[name] = { seq: master.committedSeq, entries }
      }
      reply({ cmd: 'dump', out, metrics: hub.metrics })
    } else if (message.cmd === 'close') {
      await hub.close()
      reply({ cmd: 'closed' })
      process.exit(0)
    }
  })
  reply({ cmd: 'ready', address: hub.address })
} else {
  const node = await createNode({
    transport: transport(),
    hub: options.hub,
    backoff: constantBackoff(50),
    writeTimeout: options.writeTimeout ?? 30_000,
  })
  const open = {}
  const store = async (name) => (open[name] ??= node.open(name, { schema: schemas[name] }))
  let stop = false
  process.on('message', async (message) => {
    try {
      if (message.cmd === 'open') {
        await store(message.store)
        reply({ cmd: 'opened' })
      } else if (message.cmd === 'state') {
        const s = await store(message.store)
        const entries = {}
        for (const [key, value] of s.entries()) entries[key] = [String(value), s.seqOf(key)]
        reply({ cmd: 'state', status: s.status, seq: s.seq, entries })
      } else if (message.cmd === 'work') {
        // Concurrent writers: puts to this writer's own keys and increments of shared counters.
        const kv = await store('kv')
        const counters = await store('counters')
        let next = 0
        const worker = async () => {
          while (next < message.count) {
            const i = next++
            await kv.put(`${message.id}/${i % 50}`, `${message.id}-${i}`)
            await counters.update(`c${i % 5}`, 1n, { op: 'increment' })
          }
        }
        await Promise.all(Array.from({ length: message.inFlight }, worker))
        reply({ cmd: 'worked' })
      } else if (message.cmd === 'stream') {
        // A stream of writes to fresh keys, reporting each outcome: acked with its seq, or the error code.
        const kv = await store('kv')
        let next = 0
        let acked = []
        let failed = []

        const flush = setInterval(() => {
          if (acked.length + failed.length === 0) return
          reply({ cmd: 'progress', acked, failed })
          acked = []
          failed = []
        }, 20)
        const worker = async () => {
          while (!stop) {
            const key = `s/${next++}`
            try {
              // Await first: \`acked\` is swapped by the flush while a put is in flight.
              const seq = await kv.put(key, key)
              acked.push([key, seq])
            } catch (error) {
              failed.push([key, error.code ?? String(error)])
            }
          }
        }
        await Promise.all(Array.from({ length: message.inFlight }, worker))
        clearInterval(flush)
        reply({ cmd: 'progress', acked, failed })
        reply({ cmd: 'streamed', issued: next })
      } else if (message.cmd === 'stop') {
        stop = true
      } else if (message.cmd === 'close') {
        await node.close()
        reply({ cmd: 'closed' })
        process.exit(0)
      }
    } catch (error) {
      reply({ cmd: 'error', code: error.code, message: String(error?.message ?? error) })
    }
  })
  reply({ cmd: 'ready' })
}
