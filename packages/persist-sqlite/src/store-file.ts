import { createHash } from 'node:crypto'

/** The suffix of every store's database file. */
export const STORE_FILE_SUFFIX = '.sqlite'

/** Longest encoded name kept whole; longer ones are shortened and made unique by a hash. */
const MAX_ENCODED = 160
const encoder = new TextEncoder()

/**
 * The database file name of `store`, without a folder: the name's UTF-8 bytes with every
 * byte outside `a-z 0-9 - _ .` written as `%XX`, then `.sqlite`.
 *
 * Upper-case letters are escaped too, so two stores differing only in case never share a file
 * on a case-insensitive file system (macOS, Windows); `/` and a leading `.` are escaped so a
 * name never leaves the folder or hides. Names whose encoding exceeds 160 characters keep a
 * prefix plus `~` and a hash of the whole name. The store's name is also recorded inside the
 * file and checked at open, so a collision can never mix two stores.
 */
export function storeFileName(store: string): string {
  let encoded = ''
  for (const byte of encoder.encode(store)) {
    const keep =
      (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x5f
    const dot = byte === 0x2e && encoded !== ''
    encoded +=
      keep || dot ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  if (encoded.length > MAX_ENCODED) {
    const hash = createHash('sha256').update(store).digest('hex').slice(0, 16)
    // Cut before a split escape, so the kept part still reads as the name's beginning.
    encoded = `${encoded.slice(0, MAX_ENCODED - 17).replace(/%[0-9A-F]?$/, '')}~${hash}`
  }
  return encoded + STORE_FILE_SUFFIX
}
