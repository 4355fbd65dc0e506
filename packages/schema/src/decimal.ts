/**
 * Exact decimal arithmetic for times and intervals: decimal text is scaled to nanoseconds
 * with bigints, so `1521911721.255387` is 1521911721255387000 ns exactly, never a rounded
 * float.
 *
 * @module
 */
import { Problem } from './issues.js'

/**
 * A fraction with more digits than this (up to its last non-zero one) is finer than a
 * nanosecond in every unit: the coarsest, a day, is 2^16 * 3^3 * 5^11 ns, so a fraction it
 * turns into whole nanoseconds has at most 16 digits.
 */
const MAX_FRACTION_DIGITS = 24
/** An integer part with more digits than this (after leading zeros) is far beyond int64 nanoseconds. */
const MAX_INTEGER_DIGITS = 24

const POW10: bigint[] = Array.from({ length: MAX_FRACTION_DIGITS + 1 }, (_, i) => 10n ** BigInt(i))

/** The text of `int.frac` for a message, shortened when long. */
function shown(int: string, frac: string): string {
  const text = frac === '' ? int : `${int}.${frac}`
  return text.length > 40 ? `${text.slice(0, 40)}… (${text.length} characters)` : text
}

/**
 * `int.frac` (digits only) times `unit` nanoseconds, exactly; a {@link Problem} when the result
 * is not a whole number of nanoseconds or is far beyond int64 (callers check the exact range).
 * Linear in the length of the text, so hostile text cannot stall it.
 */
export function scaleDecimal(int: string, frac: string, unit: bigint): bigint | Problem {
  let first = 0
  while (first < int.length - 1 && int.charCodeAt(first) === 48) first++
  if (int.length - first > MAX_INTEGER_DIGITS) {
    return new Problem('range', `${shown(int, frac)} is outside the int64 nanosecond range`)
  }
  const v = BigInt(int.slice(first)) * unit
  // Trailing zeros trimmed by hand: /0+$/ backtracks quadratically over a long run of zeros.
  let end = frac.length
  while (end > 0 && frac.charCodeAt(end - 1) === 48) end--
  if (end === 0) return v
  const scaled = end > MAX_FRACTION_DIGITS ? undefined : BigInt(frac.slice(0, end)) * unit
  const pow = POW10[end]!
  if (scaled === undefined || scaled % pow !== 0n) {
    return new Problem('range', `${shown(int, frac)} is finer than a nanosecond`)
  }
  return v + scaled / pow
}

/**
 * The decimal digits of a finite number's shortest round-trip text (what `String(n)` shows),
 * without exponent: `1.5e-7` → `{ negative: false, int: '0', frac: '00000015' }`.
 */
export function numberDigits(n: number): { negative: boolean; int: string; frac: string } {
  const negative = n < 0 || Object.is(n, -0)
  const text = String(Math.abs(n))
  const e = text.indexOf('e')
  if (e < 0) {
    const dot = text.indexOf('.')
    return dot < 0
      ? { negative, int: text, frac: '' }
      : { negative, int: text.slice(0, dot), frac: text.slice(dot + 1) }
  }
  const mantissa = text.slice(0, e)
  const exponent = Number(text.slice(e + 1))
  const dot = mantissa.indexOf('.')
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1)
  const point = (dot < 0 ? mantissa.length : dot) + exponent
  if (point <= 0) return { negative, int: '0', frac: '0'.repeat(-point) + digits }
  if (point >= digits.length) return { negative, int: digits + '0'.repeat(point - digits.length), frac: '' }
  return { negative, int: digits.slice(0, point), frac: digits.slice(point) }
}

/** `n` (a finite number or a bigint) times `unit` nanoseconds; throws `RangeError` when not exact. */
export function scaleNumber(n: number | bigint, unit: bigint, what: string): bigint {
  if (typeof n === 'bigint') return n * unit
  if (typeof n !== 'number' || !Number.isFinite(n))
    throw new TypeError(`${what}: expected a finite number or a bigint`)
  const d = numberDigits(n)
  const v = scaleDecimal(d.int, d.frac, unit)
  if (v instanceof Problem) throw new RangeError(`${what}: ${v.message}`)
  return d.negative ? -v : v
}
