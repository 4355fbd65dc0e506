import { existsSync, rmSync } from 'node:fs'
import { hostname } from 'node:os'
import { PersistenceError } from '@concord/core'
import Database from 'better-sqlite3'
import { describeError } from './describe-error.js'

/** What a lock file says about the process holding it. */
export interface LockHolder {
  readonly pid: number
  readonly host: string
  /** ISO date of when it took the lock. */
  readonly since: string
}

/**
 * The exclusive lock of one store, held for the life of its backend so that two hubs never
 * open the same store file (in two processes or in one).
 *
 * The lock file is a tiny SQLite database next to the store: the holder keeps an open write
 * transaction on it, which SQLite turns into an OS lock (`fcntl` on POSIX, `LockFileEx` on
 * Windows). The OS drops that lock when the holder's process dies, so a crash never leaves a
 * stale lock behind and no pid has to be guessed alive or dead. The file also records who
 * holds it, so a refused open can name the holder. It stays when the store closes: unlinking
 * a lock file that another process has just opened would let two processes lock two different
 * files. Only a failed open removes the lock file it created (then the store connection's own
 * exclusive lock still keeps two openers apart).
 */
export class StoreLock {
  readonly #db: Database.Database

  private constructor(
    db: Database.Database,
    /** The lock file. */
    readonly path: string,
    /** Whether taking the lock created the file. */
    readonly created: boolean,
  ) {
    this.#db = db
  }

  /**
   * Takes the lock of `store` at `path`, creating the lock file when absent. Throws
   * `PersistenceError` naming the holder when another connection holds it.
   */
  static acquire(path: string, store: string): StoreLock {
    let db: Database.Database | undefined
    const created = !existsSync(path)
    try {
      // timeout 0: a held lock fails at once instead of waiting for it.
      db = new Database(path, { timeout: 0 })
      db.pragma('synchronous = NORMAL')
      db.exec(
        'CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER, host TEXT, since TEXT)',
      )
      if (!tryBegin(db)) throw held(db, path, store)
      const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() }
      db.prepare('INSERT OR REPLACE INTO holder (id, pid, host, since) VALUES (1, ?, ?, ?)').run(
        me.pid,
        me.host,
        me.since,
      )
      db.exec('COMMIT')
      // Held from here on: an open write transaction that writes nothing.
      if (!tryBegin(db)) throw held(db, path, store)
      return new StoreLock(db, path, created)
    } catch (error) {
      let failure = error
      // Busy while creating the table: another process is taking the lock right now.
      if (db !== undefined && isBusy(error)) failure = held(db, path, store)
      if (db?.inTransaction) db.exec('ROLLBACK')
      db?.close()
      if (failure instanceof PersistenceError) throw failure
      throw new PersistenceError(
        `cannot take the lock of store '${store}' (${path}): ${describeError(error)}`,
        { cause: error },
      )
    }
  }

  /**
   * Releases the lock. Idempotent. With `discard`, also removes the lock file when taking the
   * lock created it (a failed open leaves the folder as it found it).
   */
  release(discard = false): void {
    if (!this.#db.open) return
    try {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK')
    } finally {
      this.#db.close()
      if (discard && this.created) rmSync(this.path, { force: true })
    }
  }
}

/** `BEGIN IMMEDIATE`: true when it took the write lock, false when another connection holds it. */
function tryBegin(db: Database.Database): boolean {
  try {
    db.exec('BEGIN IMMEDIATE')
    return true
  } catch (error) {
    if (isBusy(error)) return false
    throw error
  }
}

function isBusy(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'SQLITE_BUSY'
}

function readHolder(db: Database.Database): LockHolder | undefined {
  const row = db.prepare('SELECT pid, host, since FROM holder WHERE id = 1').get() as
    | { pid: unknown; host: unknown; since: unknown }
    | undefined
  if (typeof row?.pid !== 'number' || typeof row.host !== 'string' || typeof row.since !== 'string') {
    return undefined
  }
  return { pid: row.pid, host: row.host, since: row.since }
}

function held(db: Database.Database, path: string, store: string): PersistenceError {
  let holder: LockHolder | undefined
  try {
    holder = readHolder(db)
  } catch {
    holder = undefined
  }
  const who =
    holder === undefined
      ? 'another connection'
      : `pid ${holder.pid} on host '${holder.host}'${holder.pid === process.pid && holder.host === hostname() ? ' (this process)' : ''} since ${holder.since}`
  return new PersistenceError(
    `store '${store}' is locked by ${who} (lock file ${path}): another hub has it open`,
  )
}
