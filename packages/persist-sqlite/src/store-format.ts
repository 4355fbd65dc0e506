import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs'
import { dirname } from 'node:path'
import { PersistenceError } from '@concord/core'
import Database from 'better-sqlite3'
import { describeError } from './describe-error.js'

/**
 * The version of the file layout this package writes and reads. A file of another version
 * fails `open` (S9.2) until a migration exists.
 */
export const FORMAT_VERSION = 1

/** SQLite's `application_id` of a Concord store file: `Conc` in ASCII. */
export const APPLICATION_ID = 0x436f6e63

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1')
const HEADER_SIZE = 100

/** The tables of a store file. `meta` holds one row per key listed in {@link MetaKey}. */
const SCHEMA = `
CREATE TABLE meta (
  key TEXT PRIMARY KEY NOT NULL,
  value NOT NULL
) WITHOUT ROWID;
CREATE TABLE entries (
  key TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL,
  seq INTEGER NOT NULL,
  deadline INTEGER
) WITHOUT ROWID;
CREATE INDEX entries_by_deadline ON entries (deadline) WHERE deadline IS NOT NULL;
CREATE TABLE epochs (
  id INTEGER PRIMARY KEY,
  epoch TEXT NOT NULL,
  start_seq INTEGER NOT NULL,
  at INTEGER NOT NULL
);
`

/** The rows of the `meta` table. */
export type MetaKey = 'format' | 'store' | 'fingerprint' | 'last_seq' | 'count'

/** What {@link inspectStoreFile} found in a store file that can be opened. */
export interface StoreFileInfo {
  /** The schema fingerprint recorded by the last successful open. */
  readonly fingerprint: string
}

/**
 * Creates the file of a new store atomically: it is built and synced under a temporary name
 * and renamed into place, so a file at `file` always holds a complete, empty store and a
 * crash while creating leaves no half-made store behind.
 */
export function createStoreFile(file: string, store: string, fingerprint: string): void {
  const temporary = `${file}.creating`
  removeDatabaseFiles(temporary)
  try {
    const db = new Database(temporary, { timeout: 0 })
    try {
      db.pragma('journal_mode = WAL')
      db.pragma(`application_id = ${APPLICATION_ID}`)
      db.exec(SCHEMA)
      const insert = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)')
      db.transaction(() => {
        const rows: Array<[MetaKey, string | number]> = [
          ['format', FORMAT_VERSION],
          ['store', store],
          ['fingerprint', fingerprint],
          ['last_seq', 0],
          ['count', 0],
        ]
        for (const [key, value] of rows) insert.run(key, value)
      })()
    } finally {
      // Closing checkpoints the write-ahead log into the file and removes it.
      db.close()
    }
    syncFile(temporary)
    renameSync(temporary, file)
    syncFile(dirname(file))
  } catch (error) {
    removeDatabaseFiles(temporary)
    throw new PersistenceError(
      `cannot create the file of store '${store}' (${file}): ${describeError(error)}`,
      {
        cause: error,
      },
    )
  }
}

/**
 * Checks that `file` is a readable store file of this format, written for `store`, and
 * returns its recorded fingerprint. Throws `PersistenceError` saying what was found otherwise
 * (S9.2). It reads through a read-only connection, so it never writes to the file, and it
 * removes the `-wal`/`-shm` files that SQLite creates for such a connection when they were
 * absent before.
 */
export function inspectStoreFile(file: string, store: string, integrityCheck: boolean): StoreFileInfo {
  checkHeader(file, store)
  const sidecars = [`${file}-wal`, `${file}-shm`].filter((path) => !existsSync(path))
  let db: Database.Database | undefined
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 })
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[]).map(
        String,
      ),
    )
    const missing = ['meta', 'entries', 'epochs'].filter((name) => !tables.has(name))
    if (missing.length > 0) {
      throw corrupt(store, file, `a Concord store file without its table(s) ${missing.join(', ')}`)
    }
    const meta = new Map(
      (db.prepare('SELECT key, value FROM meta').raw().all() as Array<[string, unknown]>).map(([k, v]) => [
        k,
        v,
      ]),
    )
    const format = meta.get('format')
    if (typeof format !== 'number') throw corrupt(store, file, 'no format version in its meta table')
    if (format !== FORMAT_VERSION) {
      const which = format > FORMAT_VERSION ? 'a newer' : 'an older'
      throw new PersistenceError(
        `store '${store}' (${file}) has format version ${format}, written by ${which} @concord/persist-sqlite; ` +
          `this one reads format version ${FORMAT_VERSION}`,
      )
    }
    const recorded = meta.get('store')
    if (recorded !== store) {
      throw new PersistenceError(
        `${file} holds store ${JSON.stringify(recorded)}, not '${store}': was it renamed or copied?`,
      )
    }
    const fingerprint = meta.get('fingerprint')
    if (typeof fingerprint !== 'string') throw corrupt(store, file, 'no schema fingerprint in its meta table')
    for (const key of ['last_seq', 'count'] as const) {
      const value = meta.get(key)
      if (!Number.isSafeInteger(value) || (value as number) < 0) {
        throw corrupt(store, file, `meta ${key} is ${JSON.stringify(value)}, not a count`)
      }
    }
    if (integrityCheck) {
      const problems = db.pragma('quick_check(5)', { simple: false }) as Array<{ quick_check: string }>
      const found = problems.map((row) => row.quick_check)
      if (found.length !== 1 || found[0] !== 'ok')
        throw corrupt(store, file, `quick_check: ${found.join('; ')}`)
    }
    return { fingerprint }
  } catch (error) {
    if (error instanceof PersistenceError) throw error
    throw corrupt(store, file, `SQLite reports: ${describeError(error)}`, error)
  } finally {
    db?.close()
    for (const path of sidecars) {
      // Only what this read created: an empty log and its index.
      if (path.endsWith('-wal') && existsSync(path) && statSync(path).size > 0) continue
      rmSync(path, { force: true })
    }
  }
}

/** Reads the first bytes: an empty, truncated or foreign file is named before SQLite sees it. */
function checkHeader(file: string, store: string): void {
  const header = Buffer.alloc(HEADER_SIZE)
  let size: number
  let read: number
  try {
    const fd = openSync(file, 'r')
    try {
      size = fstatSync(fd).size
      read = readSync(fd, header, 0, HEADER_SIZE, 0)
    } finally {
      closeSync(fd)
    }
  } catch (error) {
    throw new PersistenceError(
      `cannot read the file of store '${store}' (${file}): ${describeError(error)}`,
      {
        cause: error,
      },
    )
  }
  if (size === 0) throw corrupt(store, file, 'the file is empty (0 bytes): truncated')
  const magicLength = Math.min(read, SQLITE_MAGIC.length)
  if (!header.subarray(0, magicLength).equals(SQLITE_MAGIC.subarray(0, magicLength))) {
    throw corrupt(store, file, `not a SQLite database: it starts with ${preview(header.subarray(0, read))}`)
  }
  if (read < HEADER_SIZE) {
    throw corrupt(store, file, `truncated: ${size} bytes, fewer than a SQLite header (${HEADER_SIZE})`)
  }
  const applicationId = header.readUInt32BE(68)
  if (applicationId !== APPLICATION_ID) {
    throw new PersistenceError(
      `store '${store}' (${file}) is a SQLite database but not a Concord store ` +
        `(application_id 0x${applicationId.toString(16).padStart(8, '0')})`,
    )
  }
}

function corrupt(store: string, file: string, detail: string, cause?: unknown): PersistenceError {
  return new PersistenceError(`corrupt store '${store}' (${file}): ${detail}`, { cause })
}

/** Up to 16 bytes as hex, and as text when they are printable. */
function preview(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, 16))
  const hex = head.toString('hex').replace(/(..)(?!$)/g, '$1 ')
  const text = head.toString('latin1')
  return /^[\x20-\x7e]*$/.test(text) ? `${hex} ("${text}")` : hex
}

/** fsync of a file or a folder (on POSIX a folder's entry list; Windows cannot and need not). */
function syncFile(path: string): void {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    if (process.platform === 'win32') return
    throw error
  }
  try {
    fsyncSync(fd)
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (process.platform !== 'win32' && code !== 'EINVAL' && code !== 'EPERM') throw error
  } finally {
    closeSync(fd)
  }
}

/** Removes a database file and the files SQLite keeps beside it. */
export function removeDatabaseFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true })
}
