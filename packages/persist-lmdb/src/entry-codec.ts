import type { StoredEntry } from '@concord/core'

/*
 * The stored forms (format version 1), all little-endian:
 *
 *   entry    = flags:u8  seq:f64  [deadline:f64 if flags&1]  [keyLength:u32 key:utf8 if flags&2]  value
 *   deadline = deadline:f64  [key:utf8 if the stored key is long]
 *
 * `seq` and `deadline` are safe integers / ms timestamps, exact in a float64.
 */

const HAS_DEADLINE = 1
const HAS_FULL_KEY = 2
const KNOWN_FLAGS = HAS_DEADLINE | HAS_FULL_KEY

/** A stored entry, decoded; `key` is set when the entry carries its full key (a long key). */
export interface DecodedEntry {
  readonly entry: StoredEntry
  readonly key: string | undefined
}

/**
 * The stored form of an entry. Copies `value`, so the caller may reuse its buffer.
 * `fullKey` is the key's UTF-8 bytes when its stored key is the hashed form.
 */
export function encodeEntry(
  value: Uint8Array,
  seq: number,
  deadline: number | undefined,
  fullKey: Buffer | undefined,
): Buffer {
  const head = 9 + (deadline === undefined ? 0 : 8) + (fullKey === undefined ? 0 : 4 + fullKey.length)
  const out = Buffer.allocUnsafe(head + value.byteLength)
  out[0] = (deadline === undefined ? 0 : HAS_DEADLINE) | (fullKey === undefined ? 0 : HAS_FULL_KEY)
  out.writeDoubleLE(seq, 1)
  let at = 9
  if (deadline !== undefined) {
    out.writeDoubleLE(deadline, at)
    at += 8
  }
  if (fullKey !== undefined) {
    out.writeUInt32LE(fullKey.length, at)
    fullKey.copy(out, at + 4)
    at += 4 + fullKey.length
  }
  out.set(value, at)
  return out
}

/**
 * Decodes a stored entry. The value is a view into `raw`, which must be a buffer of its own
 * (lmdb-js `getBinary` and range reads return copies). Throws `RangeError` when malformed.
 */
export function decodeEntry(raw: Buffer): DecodedEntry {
  const flags = raw[0]
  if (flags === undefined || (flags & ~KNOWN_FLAGS) !== 0 || raw.length < 9) {
    throw new RangeError(`malformed entry record (${raw.length} bytes, flags ${flags})`)
  }
  const seq = raw.readDoubleLE(1)
  let at = 9
  let deadline: number | undefined
  if (flags & HAS_DEADLINE) {
    deadline = raw.readDoubleLE(at)
    at += 8
  }
  let key: string | undefined
  if (flags & HAS_FULL_KEY) {
    const length = raw.readUInt32LE(at)
    key = raw.toString('utf8', at + 4, at + 4 + length)
    at += 4 + length
  }
  if (at > raw.length || !Number.isSafeInteger(seq)) {
    throw new RangeError(`malformed entry record (${raw.length} bytes, seq ${seq})`)
  }
  // A plain Uint8Array view (not a Buffer), as values are everywhere else in Concord.
  return {
    entry: { value: new Uint8Array(raw.buffer, raw.byteOffset + at, raw.length - at), seq, deadline },
    key,
  }
}

/** The stored form of a deadline index record. */
export function encodeDeadline(deadline: number, fullKey: Buffer | undefined): Buffer {
  const out = Buffer.allocUnsafe(8 + (fullKey?.length ?? 0))
  out.writeDoubleLE(deadline, 0)
  fullKey?.copy(out, 8)
  return out
}

/** Decodes a deadline index record; `key` is set when it carries the full key. */
export function decodeDeadline(raw: Buffer): { deadline: number; key: string | undefined } {
  if (raw.length < 8) throw new RangeError(`malformed deadline record (${raw.length} bytes)`)
  return {
    deadline: raw.readDoubleLE(0),
    key: raw.length > 8 ? raw.toString('utf8', 8) : undefined,
  }
}

/** A float64 (count, last seq) as stored in the meta db. */
export function encodeNumber(n: number): Buffer {
  const out = Buffer.allocUnsafe(8)
  out.writeDoubleLE(n, 0)
  return out
}

/** Reads a stored float64; undefined when absent or not 8 bytes. */
export function decodeNumber(raw: Uint8Array | undefined): number | undefined {
  if (raw === undefined || raw.length !== 8) return undefined
  return Buffer.from(raw.buffer, raw.byteOffset, 8).readDoubleLE(0)
}
