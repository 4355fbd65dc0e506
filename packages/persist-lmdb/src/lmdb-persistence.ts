import { resolve } from 'node:path'
import {
  AbortedError,
  type Clock,
  ClosedError,
  makeDataFolder,
  type OpenBackendOptions,
  type Persistence,
  type PersistenceCapabilities,
  type StoreBackend,
  systemClock,
} from '@concord/core'
import { LmdbStoreBackend } from './lmdb-store-backend.js'
import { type EnvironmentOptions, StoreEnvironment } from './store-environment.js'
import { storeFiles } from './store-files.js'
import { StoreLock } from './store-lock.js'

/**
 * When a commit resolves, and what survives a crash after it did:
 *
 * - `'sync'`: after LMDB wrote the transaction and `fsync`ed the file (on lmdb-js's write
 *   thread; the event loop is not blocked). Survives a process crash and an OS crash or
 *   power loss.
 * - `'relaxed'`: after LMDB wrote the transaction into the OS page cache, without `fsync`
 *   (a synchronous transaction inside the `commit` call: no thread hop, no waiting).
 *   Survives a process crash (`kill -9`, OOM kill, uncaught exception): the kernel still
 *   writes the pages back. An OS crash or power loss loses the commits since the last flush
 *   (every `syncInterval` ms, and at `close()`), and may leave the file unopenable, since
 *   LMDB's crash safety relies on its fsync ordering; `open` then fails with `PersistenceError`.
 */
export type LmdbDurability = 'sync' | 'relaxed'

/** Options of {@link lmdbPersistence}. */
export interface LmdbPersistenceInit {
  /** The folder holding the stores: one LMDB file per store. Created when absent. */
  readonly path: string
  /** Default `'sync'`. See {@link LmdbDurability}. */
  readonly durability?: LmdbDurability
  /**
   * Initial size of the memory map in bytes. Default: lmdb-js's (128 KiB), which it doubles
   * whenever a write transaction needs more, so it never needs setting. Address space only:
   * no memory or disk is taken by it.
   */
  readonly mapSize?: number
  /** Page size of new store files: 4096 (default: the OS page size) to 65536, a power of two. */
  readonly pageSize?: number
  /** LMDB reader slots per store file (concurrent read transactions). Default 126. */
  readonly maxReaders?: number
  /**
   * `MDB_NORDAHEAD`: no read-ahead on the file. Helps random reads when the store is much
   * larger than free RAM (Linux; ignored on Windows). Default false.
   */
  readonly noReadAhead?: boolean
  /**
   * Map the file in chunks on demand (lmdb-js `remapChunks`) instead of whole. Caps the
   * file-backed part of RSS (measured: 0.5 GiB instead of 1.4 GiB after 1M random gets on a
   * 1.3 GiB store) at the price of much slower random reads (4-8x). Default false: the whole-file
   * map's resident pages are clean page cache the kernel reclaims under memory pressure.
   */
  readonly remapChunks?: boolean
  /** `'relaxed'` only: flush (`fsync`) what was committed every this many ms; 0 = never (but at close). Default 1000. */
  readonly syncInterval?: number
  /** The clock of the relaxed-mode flush timer. Default `systemClock`. */
  readonly clock?: Clock
}

const CAPABILITIES: PersistenceCapabilities = Object.freeze({
  name: 'lmdb',
  durable: true,
  crashable: false,
  largerThanMemory: true,
})

/**
 * {@link Persistence} over LMDB (lmdb-js): one LMDB environment file per store in a folder,
 * read synchronously through the memory map, so a store may be larger than the hub's heap.
 * Constructing one does no I/O. See the package README for the layout and durability modes.
 */
export class LmdbPersistence implements Persistence {
  /** `lmdb`, durable, not crashable, larger than memory. */
  readonly capabilities: PersistenceCapabilities = CAPABILITIES
  /** The absolute folder of the stores. */
  readonly path: string
  readonly #options: EnvironmentOptions
  readonly #backends = new Set<LmdbStoreBackend>()
  readonly #opening = new Set<Promise<unknown>>()
  #closed = false
  #closing: Promise<void> | undefined

  constructor(init: LmdbPersistenceInit) {
    if (typeof init?.path !== 'string' || init.path === '') {
      throw new TypeError('lmdbPersistence() needs { path: string } (a folder)')
    }
    const durability = init.durability ?? 'sync'
    if (durability !== 'sync' && durability !== 'relaxed') {
      throw new RangeError(`durability must be 'sync' or 'relaxed', got ${String(durability)}`)
    }
    const pageSize = init.pageSize
    if (
      pageSize !== undefined &&
      (!Number.isInteger(pageSize) ||
        pageSize < 4096 ||
        pageSize > 65536 ||
        (pageSize & (pageSize - 1)) !== 0)
    ) {
      throw new RangeError(`pageSize must be a power of two from 4096 to 65536, got ${pageSize}`)
    }
    const mapSize = init.mapSize
    if (mapSize !== undefined && (!Number.isSafeInteger(mapSize) || mapSize < 1 << 20)) {
      throw new RangeError(`mapSize must be an integer >= 1 MiB, got ${mapSize}`)
    }
    const maxReaders = init.maxReaders ?? 126
    if (!Number.isInteger(maxReaders) || maxReaders < 1) {
      throw new RangeError(`maxReaders must be an integer >= 1, got ${maxReaders}`)
    }
    const syncInterval = init.syncInterval ?? 1000
    if (!Number.isFinite(syncInterval) || syncInterval < 0) {
      throw new RangeError(`syncInterval must be a number >= 0, got ${syncInterval}`)
    }
    this.path = resolve(init.path)
    this.#options = Object.freeze({
      durability,
      mapSize,
      pageSize,
      maxReaders,
      noReadAhead: init.noReadAhead ?? false,
      remapChunks: init.remapChunks ?? false,
      syncInterval,
      clock: init.clock ?? systemClock,
    })
  }

  /** The durability mode commits follow. */
  get durability(): LmdbDurability {
    return this.#options.durability
  }

  /**
   * Opens (creating when absent) the backend of `store`: locks it, checks the file and
   * recovers its epochs and last seq. Rejects with `PersistenceError` when another backend
   * (in this or another process) has the store open, or when the file is corrupt, of another
   * format version or of a schema `compatible` refuses (S9.2: nothing is written then); with
   * `ClosedError` after {@link close}; with `AbortedError` when `signal` is aborted.
   */
  async open(store: string, options: OpenBackendOptions): Promise<StoreBackend> {
    if (typeof store !== 'string' || store === '') throw new TypeError('store must be a non-empty string')
    if (typeof options?.fingerprint !== 'string' || typeof options.compatible !== 'function') {
      throw new TypeError('open() needs options { fingerprint: string, compatible: function }')
    }
    const opening = this.#open(store, options)
    this.#opening.add(opening)
    try {
      return await opening
    } finally {
      this.#opening.delete(opening)
    }
  }

  async #open(store: string, options: OpenBackendOptions): Promise<LmdbStoreBackend> {
    const { signal } = options
    const check = () => {
      if (this.#closed) throw new ClosedError('lmdb persistence is closed')
      if (signal?.aborted) throw new AbortedError('open aborted', { cause: signal.reason })
    }
    check()
    makeDataFolder(this.path)
    check()
    const files = storeFiles(this.path, store)
    const lock = await StoreLock.acquire(files.lock, store)
    let environment: StoreEnvironment | undefined
    try {
      check()
      const opened = await StoreEnvironment.open({
        store,
        files,
        lock,
        fingerprint: options.fingerprint,
        compatible: options.compatible,
        signal,
        options: this.#options,
      })
      environment = opened.environment
      check()
      const backend = new LmdbStoreBackend(this, store, environment, {
        epochs: opened.epochs,
        lastSeq: opened.lastSeq,
      })
      this.#backends.add(backend)
      return backend
    } catch (error) {
      if (environment !== undefined) await environment.close().catch(() => undefined)
      else await lock.release()
      throw error
    }
  }

  /** Closes every backend (letting their accepted writes finish), then refuses new opens. Idempotent. */
  close(): Promise<void> {
    this.#closed = true
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#opening])
      await Promise.all([...this.#backends].map((backend) => backend.close()))
    })()
    return this.#closing
  }

  /** Calls {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** @internal Called by a backend once it closed. */
  forget(backend: LmdbStoreBackend): void {
    this.#backends.delete(backend)
  }
}

/**
 * LMDB persistence: see {@link LmdbPersistence}.
 *
 * @example
 * const hub = await createHub({
 *   transport,
 *   listen: 'tcp://0.0.0.0:7000',
 *   persistence: lmdbPersistence({ path: './concord-data' }),
 *   stores: { kv: { schema: t.string() } },
 * })
 */
export function lmdbPersistence(init: LmdbPersistenceInit): LmdbPersistence {
  return new LmdbPersistence(init)
}
