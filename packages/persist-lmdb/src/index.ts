/**
 * `@concord/persist-lmdb`: Concord persistence over LMDB (lmdb-js). Synchronous reads from
 * the memory map let a hub serve stores larger than its heap. See the README.
 *
 * @module
 */

export { lmdbModule } from './lmdb-module.js'
export {
  type LmdbDurability,
  LmdbPersistence,
  type LmdbPersistenceInit,
  lmdbPersistence,
} from './lmdb-persistence.js'
export { LmdbStoreBackend } from './lmdb-store-backend.js'
