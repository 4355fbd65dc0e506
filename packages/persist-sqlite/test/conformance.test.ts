/**
 * The published conformance suites over this adapter: the persistence suite on its own, and
 * the store suite for memory transport x sqlite. Each test gets a fresh data folder.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type Disposable,
  memoryTransportEnv,
  type PersistenceEnv,
  persistenceSuite,
  storeSuite,
  type TransportEnv,
} from '@concord/conformance'
import { sqlitePersistence } from '../src/index.js'

/** A data folder of its own; `corrupt` overwrites a store file with bytes SQLite cannot read. */
function sqlitePersistenceEnv(): Disposable<PersistenceEnv> {
  const path = mkdtempSync(join(tmpdir(), 'concord-sqlite-conformance-'))
  return {
    persistence: () => sqlitePersistence({ path }),
    corrupt: (store) => writeFileSync(sqlitePersistence({ path }).fileOf(store), 'not a database\n'),
    dispose: async () => rmSync(path, { recursive: true, force: true }),
  }
}

persistenceSuite({
  name: 'persistence sqlite',
  setup: async () => sqlitePersistenceEnv(),
  teardown: (env) => env.dispose(),
})

const parts = new WeakMap<object, [Disposable<TransportEnv>, Disposable<PersistenceEnv>]>()
storeSuite({
  name: 'memory x sqlite',
  setup: async () => {
    const transport = memoryTransportEnv({ maxFrameSize: 1 << 20, peerQueueLimit: 1024 })
    const persistence = sqlitePersistenceEnv()
    const env = { ...transport, ...persistence }
    parts.set(env, [transport, persistence])
    return env
  },
  teardown: async (env) => {
    for (const part of parts.get(env) ?? []) await part.dispose()
  },
})
