import { open as openFile } from 'node:fs/promises'

/** What {@link inspectLmdbFile} found. */
export type LmdbFileState =
  | { readonly kind: 'absent' }
  | { readonly kind: 'lmdb'; readonly pageSize: number; readonly lastPage: number; readonly size: number }
  /** Anything else; `found` says what, for the error message. */
  | { readonly kind: 'invalid'; readonly found: string }

// The meta page layout of the LMDB lmdb-js builds (data version 2, 64-bit): a 24-byte page
// header (flags at 18), then MDB_meta: magic, version, address, mapsize, the free and main
// MDB_db records (48 bytes each: pad = page size for the free db, flags, depth, counts,
// root), last page, txnid.
const P_META = 0x08
const MDB_MAGIC = 0xbeefc0de
const MDB_DATA_VERSION = 2
const META_BYTES = 192
const OFF_FLAGS = 18
const OFF_MAGIC = 24
const OFF_VERSION = 28
const OFF_PAGE_SIZE = 48
const OFF_FREE_ROOT = 88
const OFF_MAIN_DEPTH = 102
const OFF_MAIN_ROOT = 136
const OFF_LAST_PAGE = 144
const OFF_TXNID = 152
const NO_PAGE = 0xffff_ffff_ffff_ffffn

interface Meta {
  readonly pageSize: number
  readonly lastPage: bigint
  readonly txnid: bigint
}

/**
 * Reads the two meta pages of an LMDB file without opening it with LMDB, which cannot be
 * trusted with a damaged file: given a bad header lmdb-js ends the process (segmentation
 * fault) instead of failing, and a file shorter than its last page makes later reads fault
 * (SIGBUS). So `open` only hands LMDB a file whose meta pages are both well-formed and
 * whose last page is inside the file.
 *
 * What this cannot see: damage inside the B-tree pages. LMDB has no page checksums.
 */
export async function inspectLmdbFile(path: string): Promise<LmdbFileState> {
  let handle: Awaited<ReturnType<typeof openFile>>
  try {
    handle = await openFile(path, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' }
    throw error
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) return { kind: 'invalid', found: 'something that is not a regular file' }
    const size = stat.size
    // Never a store being created: new files are renamed into place whole.
    if (size === 0) return { kind: 'invalid', found: 'nothing: the file is empty (0 bytes), truncated' }
    const head = Buffer.alloc(Math.min(size, META_BYTES))
    await handle.read(head, 0, head.length, 0)
    if (head.toString('latin1', 0, 16) === 'SQLite format 3\0') {
      return { kind: 'invalid', found: `an SQLite database (${size} bytes), not an LMDB environment` }
    }
    const first = readMeta(head, 0, size)
    if (typeof first === 'string') {
      return { kind: 'invalid', found: `${size} bytes that are not an LMDB environment (${first})` }
    }
    const second = Buffer.alloc(META_BYTES)
    if (size < first.pageSize + META_BYTES) {
      return { kind: 'invalid', found: `a truncated LMDB environment (${size} bytes, no second meta page)` }
    }
    await handle.read(second, 0, META_BYTES, first.pageSize)
    const other = readMeta(second, 1, size)
    if (typeof other === 'string') {
      return { kind: 'invalid', found: `a damaged LMDB environment (${other})` }
    }
    if (other.pageSize !== first.pageSize) {
      return {
        kind: 'invalid',
        found: 'a damaged LMDB environment (its meta pages disagree on the page size)',
      }
    }
    const latest = other.txnid > first.txnid ? other : first
    const needed = (latest.lastPage + 1n) * BigInt(latest.pageSize)
    if (needed > BigInt(size)) {
      return {
        kind: 'invalid',
        found: `a truncated LMDB environment (${size} bytes; its last page ends at byte ${needed})`,
      }
    }
    return { kind: 'lmdb', pageSize: latest.pageSize, lastPage: Number(latest.lastPage), size }
  } finally {
    await handle.close()
  }
}

/** One meta page, or what is wrong with it. */
function readMeta(page: Buffer, index: number, fileSize: number): Meta | string {
  if (page.length < META_BYTES) return `only ${page.length} bytes`
  if ((page.readUInt16LE(OFF_FLAGS) & P_META) === 0 || page.readUInt32LE(OFF_MAGIC) !== MDB_MAGIC) {
    return `no LMDB meta page at page ${index}; first bytes ${page.subarray(0, 8).toString('hex')}`
  }
  const version = page.readUInt32LE(OFF_VERSION) & 0xffff
  if (version !== MDB_DATA_VERSION) {
    return `meta page ${index} has LMDB data version ${version}, this build reads ${MDB_DATA_VERSION}`
  }
  const pageSize = page.readUInt32LE(OFF_PAGE_SIZE)
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    return `meta page ${index} has page size ${pageSize}`
  }
  const lastPage = page.readBigUInt64LE(OFF_LAST_PAGE)
  const txnid = page.readBigUInt64LE(OFF_TXNID)
  const depth = page.readUInt16LE(OFF_MAIN_DEPTH)
  const mainRoot = page.readBigUInt64LE(OFF_MAIN_ROOT)
  const freeRoot = page.readBigUInt64LE(OFF_FREE_ROOT)
  const pages = BigInt(Math.ceil(fileSize / pageSize)) + 1n
  if (lastPage < 1n || lastPage > pages * 1024n) return `meta page ${index} names last page ${lastPage}`
  for (const root of [mainRoot, freeRoot]) {
    if (root !== NO_PAGE && (root < 2n || root > lastPage)) {
      return `meta page ${index} names root page ${root} beyond its last page ${lastPage}`
    }
  }
  if (depth > 64) return `meta page ${index} names a tree of depth ${depth}`
  return { pageSize, lastPage, txnid }
}
