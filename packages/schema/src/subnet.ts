/**
 * Subnets: parsing, canonical CIDR text and the public `subnet` helpers.
 *
 * The canonical text is `<canonical address>/<prefix length>` with the host bits zero. A
 * subnet inside `::ffff:0:0/96` is an IPv4 subnet, as in Zeek: `::ffff:10.0.0.0/104` is
 * `10.0.0.0/8`.
 *
 * @module
 */
import { formatAddr, isV4Mapped, parseAddrRaw, parseV4 } from './addr.js'
import { ValidationError } from './contract.js'

/** Whether the address bits of `b[0, n)` past `prefix` are all zero. */
export function hostBitsZero(b: Uint8Array, n: number, prefix: number): boolean {
  for (let i = 0; i < n; i++) {
    const keep = prefix - i * 8
    if (keep >= 8) continue
    const mask = keep <= 0 ? 0 : (0xff << (8 - keep)) & 0xff
    if ((b[i]! & ~mask & 0xff) !== 0) return false
  }
  return true
}

function maskHostBits(b: Uint8Array, n: number, prefix: number): void {
  for (let i = 0; i < n; i++) {
    const keep = prefix - i * 8
    if (keep >= 8) continue
    b[i] = keep <= 0 ? 0 : b[i]! & (0xff << (8 - keep))
  }
}

/** Parses a decimal prefix length in `s[from, to)`; -1 when not digits or when `strict` and not canonical. */
function parsePrefix(s: string, from: number, to: number, strict: boolean): number {
  if (to <= from || to - from > 3) return -1
  if (strict && to - from > 1 && s.charCodeAt(from) === 48) return -1
  let v = 0
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return -1
    v = v * 10 + (c - 48)
  }
  return v
}

/**
 * Parses subnet text into `out`: the address bytes, then the prefix length at `out[n]`.
 * Returns `n` (4 or 16), or 0 when `s` is not a subnet. Not strict: any address form, host bits
 * masked (unless `mask` is false), IPv4-mapped IPv6 subnets turned into IPv4 subnets.
 */
export function parseSubnetLoose(s: string, out: Uint8Array, mask = true): number {
  const slash = s.lastIndexOf('/')
  if (slash < 0) return 0
  let n = parseAddrRaw(s.slice(0, slash), out)
  if (n === 0) return 0
  let prefix = parsePrefix(s, slash + 1, s.length, false)
  if (prefix < 0 || prefix > n * 8) return 0
  if (n === 16 && prefix >= 96 && isV4Mapped(out, 0)) {
    out.copyWithin(0, 12, 16)
    n = 4
    prefix -= 96
  }
  if (mask) maskHostBits(out, n, prefix)
  out[n] = prefix
  return n
}

/**
 * Parses canonical subnet text only (the form validation accepts) into `out` as
 * {@link parseSubnetLoose} does. Returns 4 or 16, or 0 when not canonical.
 */
export function parseCanonicalSubnet(s: string, out: Uint8Array): number {
  const slash = s.lastIndexOf('/')
  if (slash < 0) return 0
  const prefix = parsePrefix(s, slash + 1, s.length, true)
  if (prefix < 0) return 0
  if (s.indexOf(':') < 0) {
    // The fast path: a strictly parsed dotted quad is canonical by construction.
    const v = parseV4(s, 0, slash)
    if (v < 0 || prefix > 32) return 0
    out[0] = v >>> 24
    out[1] = (v >>> 16) & 0xff
    out[2] = (v >>> 8) & 0xff
    out[3] = v & 0xff
    out[4] = prefix
    return hostBitsZero(out, 4, prefix) ? 4 : 0
  }
  const n = parseAddrRaw(s.slice(0, slash), out)
  if (n !== 16 || prefix > 128) return 0
  if (!hostBitsZero(out, 16, prefix)) return 0
  if (prefix >= 96 && isV4Mapped(out, 0)) return 0
  out[16] = prefix
  return formatAddr(out, 0, 16) === s.slice(0, slash) ? 16 : 0
}

/** Canonical text of the subnet in `b` (`n` address bytes, then the prefix length). */
export function formatSubnet(b: Uint8Array, n: number): string {
  return `${formatAddr(b, 0, n)}/${b[n]}`
}

const scratch = new Uint8Array(17)
const scratch2 = new Uint8Array(17)

/** Canonical text of any accepted subnet form (host bits masked), or `undefined`. */
export function canonicalSubnetOrUndefined(text: string): string | undefined {
  const n = parseSubnetLoose(text, scratch)
  return n === 0 ? undefined : formatSubnet(scratch, n)
}

function formatIssue(text: string, what: string): ValidationError {
  return new ValidationError([
    { path: '', code: 'format', message: `${JSON.stringify(text)} is not ${what}` },
  ])
}

/** Helpers for subnet values (canonical CIDR strings). */
export const subnet = {
  /**
   * The canonical text of a subnet in any accepted form, host bits cleared as Zeek does:
   * `"10.1.2.3/8"` → `"10.0.0.0/8"`, `"::ffff:10.0.0.0/104"` → `"10.0.0.0/8"`. Throws
   * {@link ValidationError} (a `format` issue) for text that is not a subnet.
   */
  canonical(text: string): string {
    const canonical = typeof text === 'string' ? canonicalSubnetOrUndefined(text) : undefined
    if (canonical === undefined) throw formatIssue(String(text), 'a subnet in CIDR notation')
    return canonical
  },
  /** Whether `address` (any accepted form) lies in `net` (any accepted form). */
  contains(net: string, address: string): boolean {
    const n = typeof net === 'string' ? parseSubnetLoose(net, scratch) : 0
    if (n === 0) throw formatIssue(String(net), 'a subnet in CIDR notation')
    let m = typeof address === 'string' ? parseAddrRaw(address, scratch2) : 0
    if (m === 0) throw formatIssue(String(address), 'an IP address')
    if (m === 16 && isV4Mapped(scratch2, 0)) {
      scratch2.copyWithin(0, 12, 16)
      m = 4
    }
    if (m !== n) return false
    const prefix = scratch[n]!
    maskHostBits(scratch2, m, prefix)
    for (let i = 0; i < n; i++) if (scratch[i] !== scratch2[i]) return false
    return true
  },
} as const
