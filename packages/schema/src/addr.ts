/**
 * IP addresses: strict parsing, RFC 5952 formatting and the public `addr` helpers.
 *
 * The canonical text of an address is the dotted quad for IPv4 and RFC 5952 for IPv6
 * (lower case, no leading zeros, the longest run of two or more zero groups as `::`, the
 * first on a tie). An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) *is* the IPv4 address, as
 * in Zeek, so its canonical text is the dotted quad.
 *
 * @module
 */
import { ValidationError } from './contract.js'

/** Decimal text of 0..255, so formatting an IPv4 address is four lookups. */
const DEC: string[] = Array.from({ length: 256 }, (_, i) => String(i))
const HEX: string[] = []

/**
 * Parses a dotted quad in `s[from, to)` strictly: four parts of 1-3 digits, each at most 255,
 * no leading zeros (`010` is octal to `inet_aton` and decimal to others, so it is refused as
 * ambiguous). Returns the address as an unsigned 32-bit number, or -1.
 */
export function parseV4(s: string, from: number, to: number): number {
  let value = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1
      part = part * 10 + (c - 48)
      if (part > 255) return -1
      digits++
    } else if (c === 46) {
      if (digits === 0 || dots === 3) return -1
      value = value * 256 + part
      dots++
      part = 0
      digits = 0
    } else {
      return -1
    }
  }
  if (digits === 0 || dots !== 3) return -1
  return value * 256 + part
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

const words = new Uint16Array(8)

/**
 * Parses IPv6 text (any case, leading zeros, one `::`, an embedded dotted quad at the end;
 * no zone index, no brackets) into `out[0, 16)`. Returns whether it parsed.
 */
export function parseV6(s: string, out: Uint8Array): boolean {
  const len = s.length
  if (len < 2 || len > 45) return false
  let count = 0
  let gap = -1
  let i = 0
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false
    gap = 0
    i = 2
  }
  while (i < len) {
    if (count === 8) return false
    let j = i
    let v = 0
    while (j < len && j - i < 5) {
      const d = hexDigit(s.charCodeAt(j))
      if (d < 0) break
      v = v * 16 + d
      j++
    }
    if (j < len && s.charCodeAt(j) === 46) {
      // An embedded IPv4 address ends the text and fills the last two groups.
      if (count > 6) return false
      const v4 = parseV4(s, i, len)
      if (v4 < 0) return false
      words[count++] = v4 >>> 16
      words[count++] = v4 & 0xffff
      i = len
      break
    }
    if (j === i || j - i > 4) return false
    words[count++] = v
    if (j === len) {
      i = j
      break
    }
    if (s.charCodeAt(j) !== 58) return false
    if (j + 1 < len && s.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return false
      gap = count
      i = j + 2
    } else {
      i = j + 1
      if (i === len) return false
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return false
  const zeros = 8 - count
  let k = 0
  for (let g = 0; g < 8; g++) {
    let word = 0
    if (gap >= 0 && g >= gap && g < gap + zeros) word = 0
    else word = words[k++]!
    out[g * 2] = word >>> 8
    out[g * 2 + 1] = word & 0xff
  }
  return true
}

/** Whether the 16 bytes at `off` are an IPv4-mapped IPv6 address (`::ffff:0:0/96`). */
export function isV4Mapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false
  return b[off + 10] === 0xff && b[off + 11] === 0xff
}

/** Dotted quad of the 4 bytes at `off`. */
export function formatV4(b: Uint8Array, off: number): string {
  return `${DEC[b[off]!]}.${DEC[b[off + 1]!]}.${DEC[b[off + 2]!]}.${DEC[b[off + 3]!]}`
}

function hex(word: number): string {
  return HEX[word] ?? word.toString(16)
}

/** RFC 5952 text of the 16 bytes at `off`; the dotted quad when IPv4-mapped. */
export function formatV6(b: Uint8Array, off: number): string {
  if (isV4Mapped(b, off)) return formatV4(b, off + 12)
  const w: number[] = []
  for (let g = 0; g < 8; g++) w.push((b[off + g * 2]! << 8) | b[off + g * 2 + 1]!)
  let bestStart = -1
  let bestLen = 0
  let runStart = -1
  for (let g = 0; g < 8; g++) {
    if (w[g] !== 0) {
      runStart = -1
      continue
    }
    if (runStart < 0) runStart = g
    const runLen = g - runStart + 1
    if (runLen > bestLen) {
      bestLen = runLen
      bestStart = runStart
    }
  }
  // RFC 5952 4.2.2: a single zero group is never shortened to "::".
  if (bestLen < 2) return w.map(hex).join(':')
  return `${w.slice(0, bestStart).map(hex).join(':')}::${w
    .slice(bestStart + bestLen)
    .map(hex)
    .join(':')}`
}

/** Canonical text of a 4- or 16-byte address at `off`. */
export function formatAddr(b: Uint8Array, off: number, length: number): string {
  return length === 4 ? formatV4(b, off) : formatV6(b, off)
}

/**
 * Parses any accepted textual form into `out` without mapping: 4 bytes for a dotted quad,
 * 16 for anything with a colon. Returns the length, or 0 when `s` is not an address.
 */
export function parseAddrRaw(s: string, out: Uint8Array): number {
  if (s.indexOf(':') < 0) {
    const v = parseV4(s, 0, s.length)
    if (v < 0) return 0
    out[0] = v >>> 24
    out[1] = (v >>> 16) & 0xff
    out[2] = (v >>> 8) & 0xff
    out[3] = v & 0xff
    return 4
  }
  return parseV6(s, out) ? 16 : 0
}

/**
 * Parses canonical address text only (the form validation accepts) into `out`. Returns 4 or
 * 16, or 0 when `s` is not an address or not in canonical form.
 */
export function parseCanonicalAddr(s: string, out: Uint8Array): number {
  const n = parseAddrRaw(s, out)
  if (n !== 16) return n
  if (isV4Mapped(out, 0)) return 0
  return formatV6(out, 0) === s ? 16 : 0
}

const scratch = new Uint8Array(16)

/** Canonical text of any accepted form, or `undefined` when `text` is not an address. */
export function canonicalAddrOrUndefined(text: string): string | undefined {
  const n = parseAddrRaw(text, scratch)
  return n === 0 ? undefined : formatAddr(scratch, 0, n)
}

function formatIssue(text: string, what: string): ValidationError {
  return new ValidationError([
    { path: '', code: 'format', message: `${JSON.stringify(text)} is not ${what}` },
  ])
}

/** Helpers for address values (canonical strings). */
export const addr = {
  /**
   * The canonical text of an address in any accepted form: `"::FFFF:10.0.0.1"` →
   * `"10.0.0.1"`, `"2001:0DB8:0:0:0:0:0:1"` → `"2001:db8::1"`. Throws {@link ValidationError}
   * (a `format` issue) for text that is not an address; IPv4 parts with leading zeros are
   * refused as ambiguous.
   */
  canonical(text: string): string {
    const canonical = typeof text === 'string' ? canonicalAddrOrUndefined(text) : undefined
    if (canonical === undefined) throw formatIssue(String(text), 'an IP address')
    return canonical
  },
  /** The address's bytes: 4 for IPv4 (including IPv4-mapped IPv6 text), 16 for IPv6. */
  toBytes(text: string): Uint8Array {
    const out = new Uint8Array(16)
    const n = typeof text === 'string' ? parseAddrRaw(text, out) : 0
    if (n === 0) throw formatIssue(String(text), 'an IP address')
    if (n === 16 && isV4Mapped(out, 0)) return out.slice(12)
    return out.slice(0, n)
  },
  /** The canonical text of 4 or 16 address bytes. Throws `RangeError` for any other length. */
  fromBytes(bytes: Uint8Array): string {
    if (bytes.length !== 4 && bytes.length !== 16) throw new RangeError('an address has 4 or 16 bytes')
    return formatAddr(bytes, 0, bytes.length)
  },
} as const

for (let i = 0; i < 0x10000; i++) HEX.push(i.toString(16))
