import { bindingModule, type Persistence, Tokens } from '@concord/core'
import { type LmdbPersistenceInit, lmdbPersistence } from './lmdb-persistence.js'

/**
 * A container module binding `Tokens.Persistence` to {@link lmdbPersistence}`(init)`, for
 * `createHub({ modules: [lmdbModule({ path })], … })`.
 */
export function lmdbModule(init: LmdbPersistenceInit): ReturnType<typeof bindingModule> {
  return bindingModule<Persistence>(Tokens.Persistence, lmdbPersistence(init))
}
