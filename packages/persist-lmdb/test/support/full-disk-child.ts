/**
 * Child process of full-disk.test.ts, started under a file size limit (`ulimit -f`), so LMDB's
 * writes past it fail (EFBIG) as on a full disk. Runs a hub over lmdbPersistence in the
 * folder and durability given, puts 1 KB values until the hub refuses one, then checks the
 * hub still serves: the clone still reads, a new clone gets a snapshot, everything closes. Prints one JSON line with what it saw, then
 * exits 0. An unhandled rejection or a crash ends it otherwise.
 * Run with `node --import ./test/support/register-ts.mjs`.
 */
import { createHub, createNode, isConcordError, memoryTransport } from '@concord/core'
import { t } from '@concord/schema'
import type { LmdbDurability } from '../../src/index.js'
import { lmdbPersistence } from '../../src/index.js'

const [path, durability] = process.argv.slice(2) as [string, LmdbDurability]
const schema = t.string()
const transport = memoryTransport()
const persistence = lmdbPersistence({ path, durability, syncInterval: 0 })
const hub = await createHub({ transport, listen: 'memory://full', persistence, stores: { kv: { schema } } })
const node = await createNode({ transport, hub: hub.address })
const kv = await node.open('kv', { schema })

const value = (i: number) => `${'x'.repeat(1000)}${i}`
const describe = (error: unknown) => ({
  name: (error as Error)?.name,
  code: isConcordError(error) ? error.code : undefined,
  message: (error as Error)?.message,
})

let acked = 0
let refused: ReturnType<typeof describe> | undefined
for (let i = 0; i < 100_000 && refused === undefined; i++) {
  try {
    await kv.put(`k${i}`, value(i))
    acked++
  } catch (error) {
    refused = describe(error)
  }
}
const reads = Array.from({ length: acked }, (_, i) => kv.get(`k${i}`) === value(i)).every(Boolean)
const lateNode = await createNode({ transport, hub: hub.address })
const late = await lateNode.open('kv', { schema })
const result = {
  acked,
  refused,
  reads,
  lateSize: late.size,
  masterSeq: hub.master('kv')!.committedSeq,
  persistenceFailures: hub.master('kv')!.persistenceFailures,
}
await lateNode.close()
await node.close()
await hub.close()
await persistence.close()
console.log(JSON.stringify(result))
