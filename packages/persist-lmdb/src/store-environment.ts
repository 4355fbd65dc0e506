import { open as openFile, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { AbortedError, type Clock, type EpochRecord, PersistenceError, type TimerHandle } from '@concord/core'
import { type Database, open, type RootDatabase, type RootDatabaseOptionsWithPath } from 'lmdb'
import { decodeNumber, encodeNumber } from './entry-codec.js'
import { inspectLmdbFile } from './lmdb-header.js'
import type { StoreFiles } from './store-files.js'
import type { StoreLock } from './store-lock.js'

/** The file format this package writes and reads. Bump it for any change of the stored forms. */
export const FORMAT = Object.freeze({ name: 'concord-lmdb', version: 1 })

/** Meta keys. */
export const META_FORMAT = 'format'
export const META_STORE = 'store'
export const META_FINGERPRINT = 'fingerprint'
export const META_COUNT = 'count'
export const META_LAST_SEQ = 'lastSeq'
export const META_CREATED = 'created'

/** The named databases of one store's environment. */
export const DB_NAMES = Object.freeze({
  meta: 'meta',
  entries: 'entries',
  deadlines: 'deadlines',
  epochs: 'epochs',
})

/** Environment options, normalised by the persistence. */
export interface EnvironmentOptions {
  readonly durability: 'sync' | 'relaxed'
  readonly mapSize: number | undefined
  readonly pageSize: number | undefined
  readonly maxReaders: number
  readonly noReadAhead: boolean
  readonly remapChunks: boolean
  readonly syncInterval: number
  readonly clock: Clock
}

/** What {@link StoreEnvironment.open} needs. */
export interface OpenEnvironmentParams {
  readonly store: string
  readonly files: StoreFiles
  readonly lock: StoreLock
  readonly fingerprint: string
  readonly compatible: (storedFingerprint: string) => boolean
  readonly signal: AbortSignal | undefined
  readonly options: EnvironmentOptions
}

type BinaryDb = Database<Buffer, Buffer>
type MetaDb = Database<Buffer, string>
type EpochDb = Database<Buffer, number>

/**
 * One store's LMDB environment: the file, its four named databases and the lock. Opening
 * validates everything before anything is written (S9.2); the backend does the rest.
 */
export class StoreEnvironment {
  #closing: Promise<void> | undefined
  #syncTimer: TimerHandle | undefined
  /** Set by a relaxed-mode commit; cleared when a background sync starts. */
  #unsynced = false
  #syncing: Promise<void> | undefined

  private constructor(
    readonly files: StoreFiles,
    private readonly root: RootDatabase<Buffer, Buffer>,
    readonly meta: MetaDb,
    readonly entries: BinaryDb,
    readonly deadlines: BinaryDb,
    readonly epochs: EpochDb,
    private readonly lock: StoreLock,
    private readonly options: EnvironmentOptions,
  ) {}

  /**
   * Opens the store's file (creating it when absent, see {@link #create}), checks it and
   * returns the environment with what it recovered. Rejects with `PersistenceError` saying
   * what was found when the file is empty or truncated, not an LMDB environment, not a
   * Concord store, of another format version, of another store, inconsistent, or of an
   * incompatible schema; nothing is written then. The caller owns `lock` until this resolves.
   */
  static async open(
    params: OpenEnvironmentParams,
  ): Promise<{ environment: StoreEnvironment; epochs: EpochRecord[]; lastSeq: number }> {
    const { store, files, options } = params
    const state = await inspectLmdbFile(files.data).catch((error: unknown) => {
      throw new PersistenceError(
        `cannot open store '${store}': reading ${files.data} failed: ${(error as Error)?.message ?? error}; nothing was changed`,
        { cause: error },
      )
    })
    if (state.kind === 'invalid') {
      throw new PersistenceError(
        `cannot open store '${store}': ${files.data} holds ${state.found}; nothing was changed`,
      )
    }
    checkAborted(params.signal)
    if (state.kind === 'absent') {
      await StoreEnvironment.#create(params)
      checkAborted(params.signal)
    }
    const root = openRoot(files.data, store, options)
    try {
      const found = StoreEnvironment.#load(root, params)
      checkAborted(params.signal)
      const environment = new StoreEnvironment(
        files,
        root,
        found.meta,
        found.entries,
        found.deadlines,
        found.epochs,
        params.lock,
        options,
      )
      if (found.storedFingerprint !== params.fingerprint) {
        // Checked last, so `compatible` only sees a store that is otherwise sound.
        if (!params.compatible(found.storedFingerprint)) {
          throw new PersistenceError(
            `store '${store}' (${files.data}) was written with schema fingerprint ${found.storedFingerprint}, ` +
              `incompatible with the current fingerprint ${params.fingerprint}; nothing was changed`,
          )
        }
        await environment.transact(() => {
          found.meta.putSync(META_FINGERPRINT, json(params.fingerprint))
        })
      }
      environment.#scheduleSync()
      return { environment, epochs: found.epochRecords, lastSeq: found.lastSeq }
    } catch (error) {
      await root.close().catch(() => undefined)
      if (error instanceof PersistenceError || error instanceof AbortedError) throw error
      throw new PersistenceError(
        `cannot open store '${store}' (${files.data}): ${(error as Error).message}`,
        {
          cause: error,
        },
      )
    }
  }

  /**
   * Builds a new store's file under a temporary name (every database and the meta record in
   * one transaction), syncs it, renames it into place and syncs the folder. So a file at
   * `files.data` always holds a whole store: a crash while creating leaves at most the
   * temporary file, which the next creation replaces, and an empty file in its place is
   * damage, never a store being born.
   */
  static async #create(params: OpenEnvironmentParams): Promise<void> {
    const { store, files, options } = params
    const temporary = `${files.data}.creating`
    const removeTemporary = () =>
      Promise.all([rm(temporary, { force: true }), rm(`${temporary}-lock`, { force: true })])
    try {
      await removeTemporary()
      const root = openRoot(temporary, store, options)
      try {
        StoreEnvironment.#load(root, params)
      } finally {
        await root.close()
      }
      await syncPath(temporary)
      await rename(temporary, files.data)
      await syncPath(dirname(files.data))
    } catch (error) {
      throw new PersistenceError(
        `cannot create the file of store '${store}' (${files.data}): ${(error as Error)?.message ?? error}`,
        { cause: error },
      )
    } finally {
      await removeTemporary().catch(() => undefined)
    }
  }

  /**
   * Opens and checks the named databases. An environment with none gets them created (one
   * transaction): a new store's temporary file, or a file an earlier version left half made.
   */
  static #load(root: RootDatabase<Buffer, Buffer>, params: OpenEnvironmentParams) {
    const { store, files } = params
    const corrupt = (what: string) =>
      new PersistenceError(`corrupt store '${store}' (${files.data}): ${what}; nothing was changed`)
    // `create: false` (open only if present) is an lmdb-js option its typings do not list.
    const opener = root as unknown as { openDB(options: object): unknown }
    const openDb = <V, K extends string | number | Buffer>(
      name: string,
      create: boolean,
      keyEncoding: string,
    ) => opener.openDB({ name, encoding: 'binary', keyEncoding, create }) as Database<V, K> | undefined

    const meta = openDb<Buffer, string>(DB_NAMES.meta, false, 'ordered-binary')
    if (meta === undefined) {
      const names = [...root.getKeys({ limit: 8 })].map((k) =>
        JSON.stringify(k.toString('utf8').replace(/\0$/, '')),
      )
      if (names.length > 0) {
        throw new PersistenceError(
          `cannot open store '${store}': ${files.data} is an LMDB environment but not a Concord store ` +
            `(it holds ${names.join(', ')}, no 'meta'); nothing was changed`,
        )
      }
      // A new store: every database and the meta record in one transaction.
      let created: { meta: MetaDb; entries: BinaryDb; deadlines: BinaryDb; epochs: EpochDb } | undefined
      root.transactionSync(() => {
        const m = openDb<Buffer, string>(DB_NAMES.meta, true, 'ordered-binary')!
        created = {
          meta: m,
          entries: openDb<Buffer, Buffer>(DB_NAMES.entries, true, 'binary')!,
          deadlines: openDb<Buffer, Buffer>(DB_NAMES.deadlines, true, 'binary')!,
          epochs: openDb<Buffer, number>(DB_NAMES.epochs, true, 'uint32')!,
        }
        m.putSync(META_FORMAT, json(FORMAT))
        m.putSync(META_STORE, json(store))
        m.putSync(META_FINGERPRINT, json(params.fingerprint))
        m.putSync(META_CREATED, json(Date.now()))
        m.putSync(META_COUNT, encodeNumber(0))
        m.putSync(META_LAST_SEQ, encodeNumber(0))
      })
      if (created === undefined) throw new Error('creating the databases failed')
      return { ...created, storedFingerprint: params.fingerprint, epochRecords: [], lastSeq: 0 }
    }

    const format = readJson(meta, META_FORMAT) as { name?: unknown; version?: unknown } | undefined
    if (format === undefined || typeof format !== 'object' || format === null) {
      throw corrupt('its meta database has no readable format record')
    }
    if (format.name !== FORMAT.name) {
      throw new PersistenceError(
        `cannot open store '${store}': ${files.data} holds format ${JSON.stringify(format.name)}, ` +
          `not ${FORMAT.name}; nothing was changed`,
      )
    }
    if (format.version !== FORMAT.version) {
      throw new PersistenceError(
        `cannot open store '${store}': ${files.data} is in ${FORMAT.name} format version ${String(format.version)}, ` +
          `this version of @concord/persist-lmdb reads version ${FORMAT.version} only; nothing was changed`,
      )
    }
    const storedName = readJson(meta, META_STORE)
    if (storedName !== store) {
      throw new PersistenceError(
        `cannot open store '${store}': ${files.data} holds store ${JSON.stringify(storedName)}; nothing was changed`,
      )
    }
    const entries = openDb<Buffer, Buffer>(DB_NAMES.entries, false, 'binary')
    const deadlines = openDb<Buffer, Buffer>(DB_NAMES.deadlines, false, 'binary')
    const epochs = openDb<Buffer, number>(DB_NAMES.epochs, false, 'uint32')
    for (const [name, db] of [
      [DB_NAMES.entries, entries],
      [DB_NAMES.deadlines, deadlines],
      [DB_NAMES.epochs, epochs],
    ] as const) {
      if (db === undefined) throw corrupt(`its ${name} database is missing`)
    }
    const count = decodeNumber(meta.getBinary(META_COUNT))
    const lastSeq = decodeNumber(meta.getBinary(META_LAST_SEQ))
    if (count === undefined || !Number.isSafeInteger(count) || count < 0)
      throw corrupt('its entry count is unreadable')
    if (lastSeq === undefined || !Number.isSafeInteger(lastSeq) || lastSeq < 0) {
      throw corrupt('its last seq is unreadable')
    }
    const stored = entryCount(entries!)
    if (stored !== count)
      throw corrupt(`its meta counts ${count} entries but the entries database holds ${stored}`)
    const withDeadline = entryCount(deadlines!)
    if (withDeadline > count)
      throw corrupt(`its deadline index holds ${withDeadline} keys for ${count} entries`)
    const storedFingerprint = readJson(meta, META_FINGERPRINT)
    if (typeof storedFingerprint !== 'string') throw corrupt('its schema fingerprint is unreadable')
    const epochRecords: EpochRecord[] = []
    for (const { key, value } of epochs!.getRange({ start: 0 })) {
      const record = parseJson(value) as Partial<EpochRecord> | undefined
      if (
        key !== epochRecords.length ||
        typeof record?.epoch !== 'string' ||
        typeof record.startSeq !== 'number' ||
        typeof record.at !== 'number'
      ) {
        throw corrupt(`its epoch history is damaged at record ${epochRecords.length}`)
      }
      epochRecords.push(Object.freeze({ epoch: record.epoch, startSeq: record.startSeq, at: record.at }))
    }
    return {
      meta,
      entries: entries!,
      deadlines: deadlines!,
      epochs: epochs!,
      storedFingerprint,
      epochRecords,
      lastSeq,
    }
  }

  /** LMDB's own entry count of `db` (`mdb_stat`), in the current write transaction if any: O(1). */
  entryCount(db: BinaryDb): number {
    return entryCount(db)
  }

  /**
   * Runs `body` in one write transaction; a throw rolls back everything `body` did.
   *
   * `'sync'`: an lmdb-js child transaction inside its write batch; LMDB commits and fsyncs on
   * lmdb-js's write thread, and the promise resolves after the fsync. `'relaxed'`: a
   * synchronous transaction on this thread (there is no fsync to wait for, and it saves the
   * two thread hops of an asynchronous one); the promise resolves on the next microtask.
   */
  transact(body: () => void): Promise<void> {
    if (this.options.durability === 'sync') {
      return this.entries.childTransaction(body).then(() => undefined, failedCommit)
    }
    try {
      this.root.transactionSync(body)
    } catch (error) {
      return Promise.reject(error)
    }
    this.#unsynced = true
    return Promise.resolve()
  }

  /**
   * Stops background syncs, flushes to disk in `'relaxed'` mode (so a clean shutdown is
   * durable in both modes), closes the environment and releases the lock. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#syncTimer !== undefined) this.options.clock.clearTimeout(this.#syncTimer)
      let failure: unknown
      try {
        await this.#syncing
        if (this.options.durability === 'relaxed') await this.#sync()
      } catch (error) {
        failure = error
      }
      try {
        await this.root.close()
      } catch (error) {
        failure ??= error
      }
      await this.lock.release()
      if (failure !== undefined) {
        throw new PersistenceError(
          `closing ${this.files.data} failed: ${(failure as Error)?.message ?? failure}`,
          {
            cause: failure,
          },
        )
      }
    })()
    return this.#closing
  }

  /** Flushes the OS buffers of the file (`mdb_env_sync` on a libuv worker thread). */
  #sync(): Promise<void> {
    this.#unsynced = false
    const root = this.root as unknown as { sync(callback: (error?: Error) => void): void }
    return new Promise<void>((resolve, reject) => root.sync((error) => (error ? reject(error) : resolve())))
  }

  /** Relaxed mode: every `syncInterval` ms, flushes what was committed since the last flush. */
  #scheduleSync(): void {
    if (this.options.durability !== 'relaxed' || this.options.syncInterval <= 0) return
    this.#syncTimer = this.options.clock.setTimeout(() => {
      if (this.#closing !== undefined) return
      if (this.#unsynced && this.#syncing === undefined) {
        this.#syncing = this.#sync()
          .catch(() => {
            // A failed background flush changes nothing a commit promised in relaxed mode;
            // the next interval tries again and close() flushes (and reports) once more.
            this.#unsynced = true
          })
          .finally(() => {
            this.#syncing = undefined
          })
      }
      this.#scheduleSync()
    }, this.options.syncInterval)
  }
}

/**
 * The error of an lmdb-js transaction whose batch failed to commit. lmdb-js rejects each
 * transaction of the batch with a generic `Commit failed` error and then, in the same
 * callback, rejects the promise in its `commitError` with the cause (ENOSPC, EIO, EFBIG…).
 * Nothing in lmdb-js handles that promise: left alone it ends the process on an unhandled
 * rejection. This handles it and throws its cause; the generic error when the cause does not
 * come within the turn (it always does in lmdb-js 3.x).
 */
async function failedCommit(error: unknown): Promise<never> {
  const pending = (error as { commitError?: unknown } | null)?.commitError as PromiseLike<unknown> | undefined
  if (typeof pending?.then !== 'function') throw error
  const cause = await Promise.race([
    Promise.resolve(pending).then(
      () => undefined,
      (reason: unknown) => reason,
    ),
    new Promise<undefined>((resolve) => setImmediate(resolve, undefined)),
  ])
  throw cause ?? error
}

/** Opens the LMDB environment at `path` with the store options, or throws `PersistenceError`. */
function openRoot(path: string, store: string, options: EnvironmentOptions): RootDatabase<Buffer, Buffer> {
  // `noReadAhead` is an lmdb-js option its typings do not list.
  const envOptions: RootDatabaseOptionsWithPath & { noReadAhead: boolean } = {
    path,
    noSubdir: true,
    maxDbs: 8,
    keyEncoding: 'binary',
    encoding: 'binary',
    cache: false,
    compression: false,
    // 'sync': LMDB's classic commit (write pages, fsync, write the meta page) on lmdb-js's
    // write thread. 'relaxed': no fsync at commit (background syncs only). Not lmdb-js's
    // overlappingSync: it still fsyncs every commit, only later, on the same write thread.
    overlappingSync: false,
    // Event-turn batching opens each turn's batch with a write whose promise lmdb-js drops:
    // when the batch fails to commit (a full disk), that promise rejects unhandled and
    // ends the process. Writes still group: a commit starts on the next turn.
    eventTurnBatching: false,
    noSync: options.durability === 'relaxed',
    maxReaders: options.maxReaders,
    noReadAhead: options.noReadAhead,
    remapChunks: options.remapChunks,
    ...(options.mapSize === undefined ? {} : { mapSize: options.mapSize }),
    ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
  }
  try {
    return open<Buffer, Buffer>(envOptions)
  } catch (error) {
    throw new PersistenceError(`cannot open store '${store}' (${path}): ${(error as Error).message}`, {
      cause: error,
    })
  }
}

/** fsync of a file or a folder (on POSIX a folder's entry list; Windows cannot and need not). */
async function syncPath(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof openFile>>
  try {
    handle = await openFile(path, 'r')
  } catch (error) {
    if (process.platform === 'win32') return
    throw error
  }
  try {
    await handle.sync()
  } catch (error) {
    // Some file systems cannot sync a folder.
    const code = (error as NodeJS.ErrnoException).code
    if (process.platform !== 'win32' && code !== 'EINVAL' && code !== 'EPERM') throw error
  } finally {
    await handle.close()
  }
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('open aborted', { cause: signal.reason })
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8')
}

function parseJson(raw: Uint8Array | undefined): unknown {
  if (raw === undefined) return undefined
  try {
    return JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'))
  } catch {
    return undefined
  }
}

function readJson(db: MetaDb, key: string): unknown {
  return parseJson(db.getBinary(key))
}

/** LMDB's own entry count of a database (`mdb_stat`): O(1). */
function entryCount(db: Database<unknown, never> | BinaryDb): number {
  return (db.getStats() as { entryCount: number }).entryCount
}
