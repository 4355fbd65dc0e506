import { createHash } from 'node:crypto'

/**
 * Keys up to this many UTF-8 bytes are stored as they are. LMDB caps keys (lmdb-js: 1978
 * bytes with 4 KiB pages), and Concord does not, so longer keys are stored as their first
 * `SHORT_KEY_MAX` bytes, a 0xFF marker and the SHA-256 of the whole key; the entry then
 * carries the full key. Part of the file format: changing it needs a new format version.
 */
export const SHORT_KEY_MAX = 1024

/** 0xFF never occurs in UTF-8, so a long key's stored form never equals a short key's. */
const LONG_KEY_MARK = 0xff

/**
 * The first byte of every stored key (`k`). LMDB refuses empty keys and Concord allows the
 * empty key, so every key gets one constant byte in front; order is unchanged.
 */
const KEY_TAG = 0x6b

/** An unpaired surrogate: UTF-8 cannot encode it, so two such keys could collide. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/** A key as stored: `bytes` is the LMDB key; `full` is the key's UTF-8 when `bytes` is the hashed form. */
export interface StoredKey {
  readonly bytes: Buffer
  readonly full: Buffer | undefined
}

/**
 * The LMDB key of `key`: `k` and its UTF-8 bytes, so stored keys sort in code point order,
 * or the hashed form of a long key. Throws `TypeError` for a key that is not a well-formed
 * string (an unpaired surrogate has no UTF-8 form).
 */
export function encodeKey(key: string): StoredKey {
  if (typeof key !== 'string') throw new TypeError(`key must be a string, got ${typeof key}`)
  if (LONE_SURROGATE.test(key)) throw new TypeError('key contains an unpaired UTF-16 surrogate')
  const length = Buffer.byteLength(key, 'utf8')
  if (length <= SHORT_KEY_MAX) {
    const bytes = Buffer.allocUnsafe(1 + length)
    bytes[0] = KEY_TAG
    bytes.write(key, 1, 'utf8')
    return { bytes, full: undefined }
  }
  const full = Buffer.from(key, 'utf8')
  const digest = createHash('sha256').update(full).digest()
  const bytes = Buffer.concat([
    Buffer.of(KEY_TAG),
    full.subarray(0, SHORT_KEY_MAX),
    Buffer.of(LONG_KEY_MARK),
    digest,
  ])
  return { bytes, full }
}

/** Whether a stored key is the hashed form of a long key (the record then carries the key). */
export function isLongKey(stored: Uint8Array): boolean {
  return stored.length > 1 + SHORT_KEY_MAX
}

/** The key of a short stored key. */
export function decodeShortKey(stored: Uint8Array): string {
  // lmdb-js hands out Buffers; wrapping a Uint8Array in a Buffer view costs more than decoding.
  const buffer = Buffer.isBuffer(stored)
    ? stored
    : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength)
  return buffer.toString('utf8', 1)
}

/**
 * The range of stored keys that may belong to keys starting with `prefix`: `[start, end)`,
 * where `end` is `start` with its last byte incremented (no stored byte before the marker
 * is 0xFF, so this bounds every key extending `start`, hashed long keys included). A prefix
 * longer than {@link SHORT_KEY_MAX} bytes is cut to it; `exact` is then false and the caller
 * must check each key.
 */
export function prefixRange(prefix: string): { start: Buffer; end: Buffer; exact: boolean } {
  const utf8 = Buffer.from(prefix, 'utf8')
  const exact = utf8.length <= SHORT_KEY_MAX
  const start = Buffer.concat([Buffer.of(KEY_TAG), exact ? utf8 : utf8.subarray(0, SHORT_KEY_MAX)])
  const end = Buffer.from(start)
  end[end.length - 1]! += 1
  return { start, end, exact }
}

/** The smallest stored key after `stored`: the position to resume a scan from. */
export function keyAfter(stored: Uint8Array): Buffer {
  const next = Buffer.alloc(stored.length + 1)
  next.set(stored)
  return next
}
