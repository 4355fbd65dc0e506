import { createHash } from 'node:crypto'
import { join } from 'node:path'

/** The files of one store inside the persistence folder. */
export interface StoreFiles {
  /** The LMDB environment (one file; LMDB adds `<data>-lock`, its reader table). */
  readonly data: string
  /** The lock that keeps a second hub out ({@link StoreLock}). */
  readonly lock: string
}

/** Longest file name stem before the name is shortened and a hash appended. */
const MAX_STEM = 120

/**
 * The files of `store` under `folder`. The stem keeps `a-z 0-9 _ -` and escapes every other
 * UTF-8 byte as `%XX` (upper-case letters too, so two names never meet on a case-insensitive
 * file system); a stem longer than 120 characters is cut and completed with a hash of the
 * name. The meta db records the exact name, so a collision would be reported, not served.
 */
export function storeFiles(folder: string, store: string): StoreFiles {
  let stem = ''
  for (const byte of Buffer.from(store, 'utf8')) {
    const c = String.fromCharCode(byte)
    stem += /[a-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  if (stem.length > MAX_STEM) {
    const hash = createHash('sha256').update(store, 'utf8').digest('hex').slice(0, 16)
    stem = `${stem.slice(0, MAX_STEM - 17)}~${hash}`
  }
  return { data: join(folder, `${stem}.mdb`), lock: join(folder, `${stem}.hub-lock`) }
}
