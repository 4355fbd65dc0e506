/**
 * This persistence as a conformance environment, for the matrix (conformance/test/matrix.test.ts).
 * Each test gets a fresh data folder.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Disposable, PersistenceEnv } from '@concord/conformance'
import { sqlitePersistence } from '../src/index.js'

/** A data folder of its own; `corrupt` overwrites a store file with bytes SQLite cannot read. */
export function sqlitePersistenceEnv(): Disposable<PersistenceEnv> {
  const path = mkdtempSync(join(tmpdir(), 'concord-sqlite-conformance-'))
  return {
    persistence: () => sqlitePersistence({ path }),
    corrupt: (store) => writeFileSync(sqlitePersistence({ path }).fileOf(store), 'not a database\n'),
    dispose: async () => rmSync(path, { recursive: true, force: true }),
  }
}
