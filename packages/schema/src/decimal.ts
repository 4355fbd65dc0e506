/**
 * Exact decimal arithmetic for times and intervals: decimal text is scaled to nanoseconds
 * with bigints, so `1521911721.255387` is 1521911721255387000 ns exactly, never a rounded
 * float.
 *
 * @module
 */
import { Problem } from './issues.js'

const POW10: bigint[] = Array.from({ length: 40 }, (_, i) => 10n ** BigInt(i))

/**
 * `int.frac` (digits only) times `unit` nanoseconds, exactly; a {@link Problem} when the result
 * is not a whole number of nanoseconds.
 */
export function scaleDecimal(int: string, frac: string, unit: bigint): bigint | Problem {
  let v = BigInt(int) * unit
  if (frac.length > 0) {
    const digits = frac.replace(/0+$/, '')
    if (digits.length > 0) {
      const pow = POW10[digits.length] ?? 10n ** BigInt(digits.length)
      const scaled = BigInt(digits) * unit
      if (scaled % pow !== 0n) {
        return new Problem('range', `${int}.${frac} is finer than a nanosecond`)
      }
      v += scaled / pow
    }
  }
  return v
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
