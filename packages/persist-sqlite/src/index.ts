/**
 * SQLite persistence for Concord: one WAL-mode database file per store. See the README.
 * @module
 */

export { SqliteCursor } from './sqlite-cursor.js'
export { sqliteModule } from './sqlite-module.js'
export { SqlitePersistence, type SqlitePersistenceInit, sqlitePersistence } from './sqlite-persistence.js'
export { type SqliteDurability, type SqliteSettings, SqliteStoreBackend } from './sqlite-store-backend.js'
export { storeFileName } from './store-file.js'
export { APPLICATION_ID, FORMAT_VERSION } from './store-format.js'
