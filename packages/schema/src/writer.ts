/**
 * A growable byte buffer and the msgpack-shaped primitives the compiled encoders write with.
 *
 * @module
 */
import { INVALID } from './issues.js'

/** A growable output buffer. One is shared by all encoders (see {@link acquireWriter}). */
export class Writer {
  bytes: Uint8Array
  view: DataView
  pos = 0
  /** Whether an `encode` is using this writer (a getter inside a value may call `encode` again). */
  busy = false

  constructor(size: number) {
    this.bytes = new Uint8Array(size)
    this.view = new DataView(this.bytes.buffer)
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.bytes.length) this.grow(this.pos + n)
  }

  private grow(need: number): void {
    let size = this.bytes.length * 2
    while (size < need) size *= 2
    const next = new Uint8Array(size)
    next.set(this.bytes.subarray(0, this.pos))
    this.bytes = next
    this.view = new DataView(next.buffer)
  }
}

const INITIAL_SIZE = 8192
/** A buffer grown past this by one large value is dropped afterwards rather than kept forever. */
const KEEP_LIMIT = 1 << 20
let shared = new Writer(INITIAL_SIZE)

/** The shared writer, reset; a fresh one when the shared one is in use (re-entrant encode). */
export function acquireWriter(): Writer {
  if (shared.busy) return new Writer(256)
  shared.busy = true
  shared.pos = 0
  return shared
}

/**
 * A copy of the written bytes in its own ArrayBuffer (`byteOffset` 0). Pooling small results
 * in shared slabs, as `Buffer.allocUnsafe` does, measured about 18% faster on a conn record,
 * but a long-lived store keeping a few results would pin whole slabs: not worth it here.
 */
export function takeBytes(w: Writer): Uint8Array {
  return w.bytes.slice(0, w.pos)
}

/** Results up to this size are carved out of a shared slab by {@link takeTransientBytes}. */
const TRANSIENT_MAX = 1024
const SLAB_SIZE = 64 * 1024
let slab = new Uint8Array(SLAB_SIZE)
let slabUsed = 0

/**
 * The written bytes copied into a shared slab (a fresh one when it is full): one allocation
 * per 64 KiB instead of one per value, for results that are dropped soon after. Larger
 * results get a buffer of their own.
 */
export function takeTransientBytes(w: Writer): Uint8Array {
  const size = w.pos
  if (size > TRANSIENT_MAX) return takeBytes(w)
  if (slabUsed + size > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE)
    slabUsed = 0
  }
  const out = slab.subarray(slabUsed, slabUsed + size)
  const bytes = w.bytes
  for (let i = 0; i < size; i++) out[i] = bytes[i]!
  slabUsed += size
  return out
}

/** Releases the writer. */
export function releaseWriter(w: Writer): void {
  w.busy = false
  if (w === shared && w.bytes.length > KEEP_LIMIT) shared = new Writer(INITIAL_SIZE)
}

/** Writes a non-negative integer (at most 2^53) in the smallest msgpack form. */
export function writeUint(w: Writer, n: number): void {
  w.ensure(9)
  const b = w.bytes
  let p = w.pos
  if (n < 0x80) {
    b[p++] = n
  } else if (n < 0x100) {
    b[p++] = 0xcc
    b[p++] = n
  } else if (n < 0x10000) {
    b[p++] = 0xcd
    b[p++] = n >>> 8
    b[p++] = n & 0xff
  } else if (n <= 0xffffffff) {
    b[p++] = 0xce
    b[p++] = n >>> 24
    b[p++] = (n >>> 16) & 0xff
    b[p++] = (n >>> 8) & 0xff
    b[p++] = n & 0xff
  } else {
    b[p++] = 0xcf
    w.view.setBigUint64(p, BigInt(n))
    p += 8
  }
  w.pos = p
}

/** Writes an integer in [-2^31, 2^32) in the smallest msgpack form. */
export function writeInt(w: Writer, n: number): void {
  if (n >= 0) {
    writeUint(w, n)
    return
  }
  w.ensure(5)
  const b = w.bytes
  let p = w.pos
  if (n >= -32) {
    b[p++] = n & 0xff
  } else if (n >= -128) {
    b[p++] = 0xd0
    b[p++] = n & 0xff
  } else if (n >= -32768) {
    b[p++] = 0xd1
    b[p++] = (n >> 8) & 0xff
    b[p++] = n & 0xff
  } else {
    b[p++] = 0xd2
    b[p++] = (n >> 24) & 0xff
    b[p++] = (n >> 16) & 0xff
    b[p++] = (n >> 8) & 0xff
    b[p++] = n & 0xff
  }
  w.pos = p
}

/** Writes a bigint the caller has range-checked to [-2^63, 2^64) in the smallest msgpack form. */
export function writeBig(w: Writer, v: bigint): void {
  // Most values (counts, intervals) fit 32 bits, where number arithmetic is much cheaper.
  if (v >= -0x80000000n && v <= 0xffffffffn) {
    writeInt(w, Number(v))
    return
  }
  w.ensure(9)
  const p = w.pos
  if (v < 0n) {
    w.bytes[p] = 0xd3
    w.view.setBigInt64(p + 1, v)
  } else {
    w.bytes[p] = 0xcf
    w.view.setBigUint64(p + 1, v)
  }
  w.pos = p + 9
}

/** Writes a float64. */
export function writeFloat(w: Writer, v: number): void {
  w.ensure(9)
  const p = w.pos
  w.bytes[p] = 0xcb
  w.view.setFloat64(p + 1, v)
  w.pos = p + 9
}

/**
 * Writes a JavaScript number as msgpackr does: an integer that fits 32 bits (signed or not)
 * in the smallest integer form, anything else as a float64; `-0` is the integer 0.
 */
export function writeNumber(w: Writer, v: number): void {
  if (v >>> 0 === v) writeUint(w, v)
  else if (v >> 0 === v) writeInt(w, v)
  else writeFloat(w, v)
}

/** Writes a byte that is a whole msgpack value (nil, true, false, a fixint). */
export function writeByte(w: Writer, byte: number): void {
  w.ensure(1)
  w.bytes[w.pos++] = byte
}

/** Copies pre-encoded bytes (a default value). */
export function writeRaw(w: Writer, raw: Uint8Array): void {
  w.ensure(raw.length)
  w.bytes.set(raw, w.pos)
  w.pos += raw.length
}

/** Writes an array header for `n` elements. */
export function writeArrayHeader(w: Writer, n: number): void {
  w.ensure(5)
  const b = w.bytes
  const p = w.pos
  if (n < 16) {
    b[p] = 0x90 | n
    w.pos = p + 1
  } else if (n < 0x10000) {
    b[p] = 0xdc
    b[p + 1] = n >>> 8
    b[p + 2] = n & 0xff
    w.pos = p + 3
  } else {
    b[p] = 0xdd
    w.view.setUint32(p + 1, n)
    w.pos = p + 5
  }
}

/** Writes a map header for `n` key/value pairs. */
export function writeMapHeader(w: Writer, n: number): void {
  w.ensure(5)
  const b = w.bytes
  const p = w.pos
  if (n < 16) {
    b[p] = 0x80 | n
    w.pos = p + 1
  } else if (n < 0x10000) {
    b[p] = 0xde
    b[p + 1] = n >>> 8
    b[p + 2] = n & 0xff
    w.pos = p + 3
  } else {
    b[p] = 0xdf
    w.view.setUint32(p + 1, n)
    w.pos = p + 5
  }
}

/** Bytes of the str header for a payload of `n` bytes. */
function strHeaderSize(n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

function putStrHeader(w: Writer, p: number, size: number, n: number): void {
  const b = w.bytes
  if (size === 1) b[p] = 0xa0 | n
  else if (size === 2) {
    b[p] = 0xd9
    b[p + 1] = n
  } else if (size === 3) {
    b[p] = 0xda
    b[p + 1] = n >>> 8
    b[p + 2] = n & 0xff
  } else {
    b[p] = 0xdb
    w.view.setUint32(p + 1, n)
  }
}

const encoder = new TextEncoder()
/** Strings at least this long go through `TextEncoder.encodeInto` (native, after a surrogate check). */
const NATIVE_FROM = 64

/**
 * Writes a msgpack str. Throws `INVALID` for a string with a lone surrogate, which UTF-8 cannot
 * carry (the text would not survive the round trip).
 */
export function writeStr(w: Writer, s: string): void {
  const len = s.length
  if (len < NATIVE_FROM) {
    // ASCII fast path: the payload is exactly `len` bytes, so the header is known up front.
    const size = len < 32 ? 1 : 2
    w.ensure(size + len)
    const b = w.bytes
    const start = w.pos + size
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) {
        writeStrUtf8(w, s)
        return
      }
      b[start + i] = c
    }
    putStrHeader(w, w.pos, size, len)
    w.pos = start + len
    return
  }
  if (!isWellFormed(s)) throw INVALID
  const max = len * 3
  const size = strHeaderSize(max)
  w.ensure(size + max)
  const start = w.pos + size
  const written = encoder.encodeInto(s, w.bytes.subarray(start, start + max)).written
  const exact = strHeaderSize(written)
  if (exact !== size) w.bytes.copyWithin(w.pos + exact, start, start + written)
  putStrHeader(w, w.pos, exact, written)
  w.pos += exact + written
}

/** The general path: exact UTF-8 length first, then the bytes. */
function writeStrUtf8(w: Writer, s: string): void {
  const n = utf8Length(s)
  if (n < 0) throw INVALID
  const size = strHeaderSize(n)
  w.ensure(size + n)
  putStrHeader(w, w.pos, size, n)
  const b = w.bytes
  let p = w.pos + size
  const len = s.length
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      b[p++] = c
    } else if (c < 0x800) {
      b[p++] = 0xc0 | (c >> 6)
      b[p++] = 0x80 | (c & 0x3f)
    } else if (c >= 0xd800 && c <= 0xdbff) {
      // utf8Length has checked that a low surrogate follows.
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00)
      b[p++] = 0xf0 | (c >> 18)
      b[p++] = 0x80 | ((c >> 12) & 0x3f)
      b[p++] = 0x80 | ((c >> 6) & 0x3f)
      b[p++] = 0x80 | (c & 0x3f)
    } else {
      b[p++] = 0xe0 | (c >> 12)
      b[p++] = 0x80 | ((c >> 6) & 0x3f)
      b[p++] = 0x80 | (c & 0x3f)
    }
  }
  w.pos = p
}

/** UTF-8 length of `s`, or -1 when it has a lone surrogate. */
export function utf8Length(s: string): number {
  let n = 0
  const len = s.length
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdfff) {
      if (c > 0xdbff) return -1
      const d = i + 1 < len ? s.charCodeAt(i + 1) : 0
      if (d < 0xdc00 || d > 0xdfff) return -1
      i++
      n += 4
    } else n += 3
  }
  return n
}

/** Index of the first lone surrogate in `s`, or -1. */
export function loneSurrogateAt(s: string): number {
  const len = s.length
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800 || c > 0xdfff) continue
    if (c > 0xdbff) return i
    const d = i + 1 < len ? s.charCodeAt(i + 1) : 0
    if (d < 0xdc00 || d > 0xdfff) return i
    i++
  }
  return -1
}

type WellFormed = { isWellFormed?: () => boolean }
/** `String.prototype.isWellFormed` (native in Node 20) with a JavaScript fallback. */
function isWellFormed(s: string): boolean {
  const native = (s as unknown as WellFormed).isWellFormed
  return native === undefined ? loneSurrogateAt(s) < 0 : native.call(s)
}

/** Writes a bin header and `n` bytes of room; returns where the payload starts. */
export function writeBinHeader(w: Writer, n: number): number {
  w.ensure(n + 5)
  const b = w.bytes
  const p = w.pos
  if (n < 0x100) {
    b[p] = 0xc4
    b[p + 1] = n
    w.pos = p + 2 + n
    return p + 2
  }
  if (n < 0x10000) {
    b[p] = 0xc5
    b[p + 1] = n >>> 8
    b[p + 2] = n & 0xff
    w.pos = p + 3 + n
    return p + 3
  }
  b[p] = 0xc6
  w.view.setUint32(p + 1, n)
  w.pos = p + 5 + n
  return p + 5
}

/** Writes `bytes` as a msgpack bin. */
export function writeBin(w: Writer, bytes: Uint8Array): void {
  const at = writeBinHeader(w, bytes.byteLength) // may grow the buffer: read it after
  w.bytes.set(bytes, at)
}
