/**
 * This persistence as a conformance environment, for the matrix (conformance/test/matrix.test.ts).
 * Each test gets a fresh folder; `persistence()` hands out a new lmdbPersistence over it, as a
 * restarted process would open the same files.
 */
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PersistenceEnv } from '@concord/conformance'
import { type LmdbDurability, lmdbPersistence } from '../src/index.js'
import { storeFiles } from '../src/store-files.js'

type Disposable<E> = E & { dispose(): Promise<void> }

export async function lmdbEnv(durability: LmdbDurability = 'sync'): Promise<Disposable<PersistenceEnv>> {
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
