import { bindingModule, Tokens } from '@concord/core'
import { type SqlitePersistenceInit, sqlitePersistence } from './sqlite-persistence.js'

/**
 * A container module binding `Tokens.Persistence` to `sqlitePersistence(init)`, for
 * `createHub({ modules: [sqliteModule({ path })], … })`.
 */
export function sqliteModule(init: SqlitePersistenceInit): ReturnType<typeof bindingModule> {
  return bindingModule(Tokens.Persistence, sqlitePersistence(init))
}
