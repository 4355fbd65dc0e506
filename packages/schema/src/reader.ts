/**
 * A bounds-checked cursor over encoded bytes and the msgpack-shaped primitives the compiled
 * decoders read with. Every read checks the remaining length first, and every length read
 * from the input is checked against the remaining bytes before anything is allocated.
 *
 * @module
 */
import { DecodeError } from './contract.js'

// 8-byte scratch space so 64-bit reads need no DataView over the caller's buffer.
const scratch = new Uint8Array(8)
const scratchView = new DataView(scratch.buffer)

/** Precomputed bigints 0..1023: small counts are common and need no allocation this way. */
const SMALL: bigint[] = Array.from({ length: 1024 }, (_, i) => BigInt(i))

/** A cursor over one input. */
export class Reader {
  readonly bytes: Uint8Array
  pos = 0
  readonly end: number

  constructor(bytes: Uint8Array) {
    this.bytes = bytes
    this.end = bytes.length
  }

  /** Throws a {@link DecodeError} at `at` (default: the current position). */
  fail(message: string, at: number = this.pos): never {
    throw new DecodeError(`${message} (at byte ${at})`, { offset: at })
  }

  truncated(): never {
    return this.fail('unexpected end of input')
  }

  byte(): number {
    if (this.pos >= this.end) this.truncated()
    return this.bytes[this.pos++]!
  }

  /** Checks that `n` more bytes exist. */
  need(n: number): void {
    if (this.end - this.pos < n) this.truncated()
  }

  skip(n: number): void {
    this.need(n)
    this.pos += n
  }

  u16(): number {
    this.need(2)
    const b = this.bytes
    const p = this.pos
    this.pos = p + 2
    return (b[p]! << 8) | b[p + 1]!
  }

  u32(): number {
    this.need(4)
    const b = this.bytes
    const p = this.pos
    this.pos = p + 4
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!)
  }

  private load8(): void {
    this.need(8)
    // A byte loop, not subarray(): a view of a small on-heap typed array forces V8 to move
    // its contents off-heap, which costs more than the whole decode.
    const b = this.bytes
    const p = this.pos
    for (let i = 0; i < 8; i++) scratch[i] = b[p + i]!
    this.pos = p + 8
  }

  u64(): bigint {
    this.load8()
    return scratchView.getBigUint64(0)
  }

  i64(): bigint {
    this.load8()
    return scratchView.getBigInt64(0)
  }

  f64(): number {
    this.load8()
    return scratchView.getFloat64(0)
  }

  f32(): number {
    this.need(4)
    for (let i = 0; i < 4; i++) scratch[i] = this.bytes[this.pos + i]!
    this.pos += 4
    return scratchView.getFloat32(0)
  }
}

/** Whether the next byte is nil (does not consume it). */
export function atNil(r: Reader): boolean {
  return r.pos < r.end && r.bytes[r.pos] === 0xc0
}

/**
 * Reads an integer in any msgpack width as a bigint in [min, max] (the type's range: int64,
 * uint64). Widths are the writer's choice; the range is the type's.
 */
export function readBig(r: Reader, min: bigint, max: bigint): bigint {
  const at = r.pos
  const b = r.byte()
  let v: bigint
  if (b < 0x80) return SMALL[b]!
  if (b >= 0xe0) v = BigInt(b - 256)
  else {
    switch (b) {
      case 0xcc:
        return SMALL[r.byte()]!
      case 0xcd: {
        const n = r.u16()
        return n < 1024 ? SMALL[n]! : BigInt(n)
      }
      case 0xce:
        v = BigInt(r.u32())
        break
      case 0xcf:
        v = r.u64()
        break
      case 0xd0:
        v = BigInt((r.byte() << 24) >> 24)
        break
      case 0xd1:
        v = BigInt((r.u16() << 16) >> 16)
        break
      case 0xd2:
        v = BigInt(r.u32() | 0)
        break
      case 0xd3:
        v = r.i64()
        break
      default:
        return r.fail('expected an integer', at)
    }
  }
  if (v < min || v > max) r.fail(`integer ${v} is out of range`, at)
  return v
}

/** Reads an unsigned integer no larger than `max` (at most 2^32-1) as a number. */
export function readUint(r: Reader, max: number): number {
  const at = r.pos
  const b = r.byte()
  let v: number
  if (b < 0x80) v = b
  else if (b === 0xcc) v = r.byte()
  else if (b === 0xcd) v = r.u16()
  else if (b === 0xce) v = r.u32()
  else return r.fail('expected an unsigned integer', at)
  if (v > max) r.fail(`integer ${v} is out of range`, at)
  return v
}

/** Reads an array header; the count is checked against the remaining bytes (one per element). */
export function readArrayHeader(r: Reader): number {
  const at = r.pos
  const b = r.byte()
  let n: number
  if ((b & 0xf0) === 0x90) n = b & 0x0f
  else if (b === 0xdc) n = r.u16()
  else if (b === 0xdd) n = r.u32()
  else return r.fail('expected an array', at)
  if (n > r.end - r.pos) r.fail(`array of ${n} elements does not fit in the remaining bytes`, at)
  return n
}

/** Reads a map header; the count is checked against the remaining bytes (two per entry). */
export function readMapHeader(r: Reader): number {
  const at = r.pos
  const b = r.byte()
  let n: number
  if ((b & 0xf0) === 0x80) n = b & 0x0f
  else if (b === 0xde) n = r.u16()
  else if (b === 0xdf) n = r.u32()
  else return r.fail('expected a map', at)
  if (n * 2 > r.end - r.pos) r.fail(`map of ${n} entries does not fit in the remaining bytes`, at)
  return n
}

/** Reads a bin header; returns the payload length, checked against the remaining bytes. */
export function readBinHeader(r: Reader): number {
  const at = r.pos
  const b = r.byte()
  let n: number
  if (b === 0xc4) n = r.byte()
  else if (b === 0xc5) n = r.u16()
  else if (b === 0xc6) n = r.u32()
  else return r.fail('expected bytes (bin)', at)
  r.need(n)
  return n
}

/** Reads a float (float64, or float32 from foreign writers). */
export function readFloat(r: Reader): number {
  const at = r.pos
  const b = r.byte()
  if (b === 0xcb) return r.f64()
  if (b === 0xca) return r.f32()
  return r.fail('expected a float', at)
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
// One reusable argument array per short length, for String.fromCharCode.apply.
const charArgs: number[][] = Array.from({ length: 65 }, (_, n) => new Array<number>(n).fill(0))

/**
 * Reads a msgpack str. Invalid UTF-8 (including encoded surrogates and overlong forms) is a
 * DecodeError, so every decoded string is well-formed. `ignoreBOM` keeps a leading U+FEFF.
 */
export function readStr(r: Reader): string {
  const at = r.pos
  const b = r.byte()
  let n: number
  if ((b & 0xe0) === 0xa0) n = b & 0x1f
  else if (b === 0xd9) n = r.byte()
  else if (b === 0xda) n = r.u16()
  else if (b === 0xdb) n = r.u32()
  else return r.fail('expected a string', at)
  r.need(n)
  const bytes = r.bytes
  const p = r.pos
  r.pos = p + n
  if (n <= 64) {
    const args = charArgs[n]!
    let ascii = true
    for (let i = 0; i < n; i++) {
      const c = bytes[p + i]!
      if (c > 0x7f) {
        ascii = false
        break
      }
      args[i] = c
    }
    if (ascii) return String.fromCharCode.apply(null, args)
  }
  try {
    return utf8.decode(bytes.subarray(p, p + n))
  } catch {
    return r.fail('invalid UTF-8 in string', at)
  }
}

/**
 * Skips one value of any msgpack type (an unknown trailing record field written by a newer
 * schema). Iterative, so forged nesting cannot exhaust the stack; every pending element needs
 * at least one byte, so forged counts fail as soon as they exceed the input.
 */
export function skipValue(r: Reader): void {
  let pending = 1
  while (pending > 0) {
    pending--
    const at = r.pos
    const b = r.byte()
    if (b < 0x80 || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue
    if (b < 0x90) pending += (b & 0x0f) * 2
    else if (b < 0xa0) pending += b & 0x0f
    else if (b < 0xc0) r.skip(b & 0x1f)
    else {
      switch (b) {
        case 0xc4:
        case 0xd9:
          r.skip(r.byte())
          break
        case 0xc5:
        case 0xda:
          r.skip(r.u16())
          break
        case 0xc6:
        case 0xdb:
          r.skip(r.u32())
          break
        case 0xc7:
          r.skip(r.byte() + 1)
          break
        case 0xc8:
          r.skip(r.u16() + 1)
          break
        case 0xc9:
          r.skip(r.u32() + 1)
          break
        case 0xcc:
        case 0xd0:
          r.skip(1)
          break
        case 0xcd:
        case 0xd1:
          r.skip(2)
          break
        case 0xca:
        case 0xce:
        case 0xd2:
          r.skip(4)
          break
        case 0xcb:
        case 0xcf:
        case 0xd3:
          r.skip(8)
          break
        case 0xd4:
          r.skip(2)
          break
        case 0xd5:
          r.skip(3)
          break
        case 0xd6:
          r.skip(5)
          break
        case 0xd7:
          r.skip(9)
          break
        case 0xd8:
          r.skip(17)
          break
        case 0xdc:
          pending += r.u16()
          break
        case 0xdd:
          pending += r.u32()
          break
        case 0xde:
          pending += r.u16() * 2
          break
        case 0xdf:
          pending += r.u32() * 2
          break
        default:
          r.fail('invalid msgpack type byte 0xc1', at)
      }
    }
    if (pending > r.end - r.pos) r.fail('nested value does not fit in the remaining bytes', at)
  }
}
