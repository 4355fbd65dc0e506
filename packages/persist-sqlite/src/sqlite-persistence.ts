import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { OpenBackendOptions, Persistence, PersistenceCapabilities } from '@concord/core'
import { AbortedError, ClosedError, makeDataFolder, PersistenceError } from '@concord/core'
import { type SqliteDurability, SqliteStoreBackend } from './sqlite-store-backend.js'
import { storeFileName } from './store-file.js'
import { createStoreFile, inspectStoreFile, removeDatabaseFiles } from './store-format.js'
import { StoreLock } from './store-lock.js'

/** Options of {@link sqlitePersistence}. */
export interface SqlitePersistenceInit {
  /**
   * The data folder: one database file per store is kept in it (`<store>.sqlite`, see the
   * README for the naming), created on the first `open` when absent.
   */
  readonly path: string
  /**
   * What an acknowledged commit survives. `sync` (default): the write-ahead log is synced to
   * disk before `commit` resolves (`synchronous = FULL`), so a power loss or OS crash keeps
   * it. `relaxed`: it is written to the OS but synced only at checkpoints
   * (`synchronous = NORMAL`): a process crash keeps it, a power loss may lose the last
   * commits (never corrupting the file).
   */
  readonly durability?: SqliteDurability
  /**
   * Runs SQLite's `PRAGMA quick_check` on every store file at open, so a damaged page fails
   * `open` (S9.2) instead of a later read. It reads the whole file. Default false: open then
   * checks the header, the tables and the meta rows only.
   */
  readonly integrityCheck?: boolean
  /**
   * Extra pragmas set on every store connection after Concord's own, e.g.
   * `{ cache_size: -65536, mmap_size: 268435456 }`. `journal_mode`, `locking_mode` and
   * `synchronous` are Concord's and refused here.
   */
  readonly pragmas?: Readonly<Record<string, string | number | boolean>>
}

const CAPABILITIES: PersistenceCapabilities = Object.freeze({
  name: 'sqlite',
  durable: true,
  crashable: false,
  largerThanMemory: true,
})

const RESERVED_PRAGMAS = new Set(['journal_mode', 'locking_mode', 'synchronous'])

/**
 * {@link Persistence} over SQLite (better-sqlite3): one database file per store in a data
 * folder, in WAL mode, each held with an exclusive lock by the backend that opened it.
 * Constructing one does no I/O.
 */
export class SqlitePersistence implements Persistence {
  /** `sqlite`: durable, not crashable, larger than memory. */
  readonly capabilities: PersistenceCapabilities = CAPABILITIES
  /** The data folder, absolute. */
  readonly path: string
  /** The durability mode of every store. */
  readonly durability: SqliteDurability
  readonly #integrityCheck: boolean
  readonly #pragmas: ReadonlyArray<readonly [string, string]>
  readonly #backends = new Map<string, SqliteStoreBackend>()
  #closed = false

  constructor(init: SqlitePersistenceInit) {
    if (typeof init?.path !== 'string' || init.path === '') {
      throw new TypeError('sqlitePersistence() needs { path: string }: the data folder')
    }
    const durability = init.durability ?? 'sync'
    if (durability !== 'sync' && durability !== 'relaxed') {
      throw new TypeError(`durability must be 'sync' or 'relaxed', got ${JSON.stringify(durability)}`)
    }
    this.path = resolve(init.path)
    this.durability = durability
    this.#integrityCheck = init.integrityCheck ?? false
    this.#pragmas = checkPragmas(init.pragmas ?? {})
  }

  /** The database file of `store` (no I/O: it may not exist yet). */
  fileOf(store: string): string {
    if (typeof store !== 'string' || store === '') throw new TypeError('store must be a non-empty string')
    return join(this.path, storeFileName(store))
  }

  /**
   * Opens the backend of `store`, creating its file when absent. Rejects with
   * `PersistenceError` when the file is corrupt, truncated or not a store file, of another
   * format version, written for another store, or under a fingerprint that `compatible`
   * refuses — writing nothing then (S9.2) — and when another hub (or this persistence)
   * has the store open, naming the holder. Rejects with `ClosedError` after {@link close} and
   * with `AbortedError` when `signal` is aborted.
   */
  async open(store: string, options: OpenBackendOptions): Promise<SqliteStoreBackend> {
    if (typeof store !== 'string' || store === '') throw new TypeError('store must be a non-empty string')
    if (typeof options?.fingerprint !== 'string' || typeof options.compatible !== 'function') {
      throw new TypeError('open() needs options { fingerprint: string, compatible: function }')
    }
    await undefined
    if (this.#closed) throw new ClosedError('sqlite persistence is closed')
    if (options.signal?.aborted) throw new AbortedError('open aborted', { cause: options.signal.reason })
    if (this.#backends.has(store)) {
      throw new PersistenceError(
        `store '${store}' is already open in this persistence: close its backend first`,
      )
    }
    return this.#open(store, options)
  }

  /** Closes every backend it opened (letting their accepted writes finish), then refuses opens. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    const results = await Promise.allSettled([...this.#backends.values()].map((backend) => backend.close()))
    const failed = results.find((result) => result.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** The synchronous part of `open`: nothing else runs between its steps. */
  #open(store: string, options: OpenBackendOptions): SqliteStoreBackend {
    const file = this.fileOf(store)
    makeDataFolder(this.path)
    const lock = StoreLock.acquire(`${file}.lock`, store)
    let created = false
    try {
      if (!existsSync(file)) {
        createStoreFile(file, store, options.fingerprint)
        created = true
      }
      const found = inspectStoreFile(file, store, this.#integrityCheck)
      if (found.fingerprint !== options.fingerprint && !options.compatible(found.fingerprint)) {
        throw new PersistenceError(
          `store '${store}' was written with schema fingerprint ${found.fingerprint}, ` +
            `incompatible with the current fingerprint ${options.fingerprint}`,
        )
      }
      const backend = SqliteStoreBackend.open({
        store,
        file,
        lock,
        fingerprint: options.fingerprint,
        durability: this.durability,
        pragmas: this.#pragmas,
        closed: (closed) => {
          if (this.#backends.get(store) === closed) this.#backends.delete(store)
        },
      })
      this.#backends.set(store, backend)
      return backend
    } catch (error) {
      if (created) removeDatabaseFiles(file)
      lock.release(true)
      throw error
    }
  }
}

/** Checks the extra pragmas once, so `open` can set them without quoting. */
function checkPragmas(
  pragmas: Readonly<Record<string, string | number | boolean>>,
): ReadonlyArray<readonly [string, string]> {
  return Object.entries(pragmas).map(([name, value]) => {
    if (!/^[a-z_]+$/.test(name)) throw new TypeError(`invalid pragma name ${JSON.stringify(name)}`)
    if (RESERVED_PRAGMAS.has(name)) {
      throw new TypeError(`pragma ${name} is set by @concord/persist-sqlite (see durability)`)
    }
    if (typeof value === 'boolean') return [name, value ? 'ON' : 'OFF'] as const
    if (typeof value === 'number' && Number.isFinite(value)) return [name, String(value)] as const
    if (typeof value === 'string' && /^[A-Za-z0-9_-]+$/.test(value)) return [name, value] as const
    throw new TypeError(`invalid value for pragma ${name}: ${JSON.stringify(value)}`)
  })
}

/**
 * SQLite persistence: see {@link SqlitePersistence}.
 *
 * @example
 * const hub = await createHub({
 *   transport, listen, stores: { kv: { schema: t.string() } },
 *   persistence: sqlitePersistence({ path: './concord-data' }),
 * })
 */
export function sqlitePersistence(init: SqlitePersistenceInit): SqlitePersistence {
  return new SqlitePersistence(init)
}
