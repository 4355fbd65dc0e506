/**
 * The shared conformance suites for memory transport x lmdb (see @concord/conformance).
 * Each test gets a fresh folder; `persistence()` hands out a new lmdbPersistence over it,
 * as a restarted process would open the same files.
 *
 * The persistence suite runs in both durability modes. The store suite runs in 'relaxed'
 * mode: its test "S2.1 broadcasts that arrive during the snapshot…" assumes a write commits
 * faster than a 50-chunk snapshot crosses the in-memory transport (a few ms), which an
 * fsync per commit does not always beat; the semantics under test do not depend on the mode.
 */
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type ConformanceEnv,
  memoryTransportEnv,
  type PersistenceEnv,
  persistenceSuite,
  storeSuite,
} from '@concord/conformance'
import { describe } from 'vitest'
import { type LmdbDurability, lmdbPersistence } from '../src/index.js'
import { storeFiles } from '../src/store-files.js'

type Disposable<E> = E & { dispose(): Promise<void> }

async function lmdbEnv(durability: LmdbDurability = 'sync'): Promise<Disposable<PersistenceEnv>> {
  const path = await mkdtemp(join(tmpdir(), 'concord-lmdb-conformance-'))
  return {
    persistence: () => lmdbPersistence({ path, durability }),
    // Overwrites the first meta page, as a damaged disk would (or creates such a file).
    corrupt: async (store) => {
      const handle = await open(storeFiles(path, store).data, 'a+')
      try {
        const size = (await handle.stat()).size
        await handle.close()
        const writer = await open(storeFiles(path, store).data, size > 0 ? 'r+' : 'w')
        await writer.write(Buffer.alloc(4096, 0xab), 0, 4096, 0)
        await writer.close()
      } catch (error) {
        await handle.close().catch(() => undefined)
        throw error
      }
    },
    dispose: () => rm(path, { recursive: true, force: true }),
  }
}

async function env(): Promise<Disposable<ConformanceEnv>> {
  const transport = memoryTransportEnv({ maxFrameSize: 1 << 20, peerQueueLimit: 256 })
  const persistence = await lmdbEnv('relaxed')
  return {
    ...transport,
    ...persistence,
    dispose: async () => {
      await transport.dispose()
      await persistence.dispose()
    },
  }
}

for (const durability of ['sync', 'relaxed'] as const) {
  persistenceSuite({
    name: `persistence lmdb (${durability})`,
    setup: () => lmdbEnv(durability),
    teardown: (e) => e.dispose(),
  })
}

describe('memory x lmdb (relaxed)', () => {
  storeSuite({ name: 'store', setup: env, teardown: (e) => e.dispose() })
})
