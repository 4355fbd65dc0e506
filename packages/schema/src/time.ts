/**
 * Time values: bigint nanoseconds since the Unix epoch (Zeek's `time`), the exact conversions
 * to and from text, and the public `time` helpers.
 *
 * @module
 */
import { ValidationError } from './contract.js'
import { scaleDecimal, scaleNumber } from './decimal.js'
import { Problem } from './issues.js'
import { MAX_I64, MIN_I64 } from './limits.js'

const NS_PER_S = 1_000_000_000n
const NS_PER_MS = 1_000_000n

/** Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's civil_from_days). */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  )
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day]
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

/**
 * ISO 8601 UTC text without zone suffix, as Broker's JSON writes timestamps
 * (`2014-07-09T10:16:44.000`). Always at least 3 fractional digits; 6 or 9 only when the value
 * has sub-millisecond precision, so nothing is lost.
 */
export function formatIso(ns: bigint): string {
  let secs = ns / NS_PER_S
  let frac = ns % NS_PER_S
  if (frac < 0n) {
    frac += NS_PER_S
    secs -= 1n
  }
  const s = Number(secs)
  const days = Math.floor(s / 86400)
  const sod = s - days * 86400
  const [y, mo, d] = civilFromDays(days)
  const f = Number(frac)
  const fraction = f % 1_000_000 === 0 ? pad(f / 1_000_000, 3) : f % 1000 === 0 ? pad(f / 1000, 6) : pad(f, 9)
  const hh = Math.floor(sod / 3600)
  const mm = Math.floor((sod % 3600) / 60)
  return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(hh, 2)}:${pad(mm, 2)}:${pad(sod % 60, 2)}.${fraction}`
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$/

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/** Parses {@link formatIso}'s form (1 to 9 fractional digits, an optional `Z`). */
export function parseIso(text: string): bigint | Problem {
  const m = ISO.exec(text)
  if (m === null) {
    return new Problem(
      'format',
      `${JSON.stringify(text)} is not an ISO 8601 timestamp like "2014-07-09T10:16:44.000"`,
    )
  }
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return new Problem('format', `${JSON.stringify(text)} is not a valid date and time`)
  }
  const secs = BigInt(daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)
  const frac = m[7] === undefined ? 0n : BigInt(m[7].padEnd(9, '0'))
  const ns = secs * NS_PER_S + frac
  if (ns < MIN_I64 || ns > MAX_I64)
    return new Problem('range', `${text} is outside the range of time (int64 ns)`)
  return ns
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d*))?$/

/** Parses decimal seconds (`1521911721.255387`, as Zeek's logs write times) exactly. */
export function parseDecimalSeconds(text: string, what: string): bigint | Problem {
  const m = DECIMAL.exec(text)
  if (m === null) return new Problem('format', `${JSON.stringify(text)} is not ${what} in decimal seconds`)
  const v = scaleDecimal(m[2]!, m[3] ?? '', NS_PER_S)
  if (v instanceof Problem) return v
  const ns = m[1] === '-' ? -v : v
  if (ns < MIN_I64 || ns > MAX_I64)
    return new Problem('range', `${text} is outside the int64 nanosecond range`)
  return ns
}

/** Decimal seconds with at least 6 fractional digits (as Zeek writes them), more only when needed. */
export function formatDecimalSeconds(ns: bigint): string {
  const negative = ns < 0n
  const abs = negative ? -ns : ns
  const frac = String(abs % NS_PER_S)
    .padStart(9, '0')
    .replace(/0{1,3}$/, '')
  return `${negative ? '-' : ''}${abs / NS_PER_S}.${frac}`
}

function unwrap(v: bigint | Problem): bigint {
  if (v instanceof Problem) throw new ValidationError([v.toIssue()])
  return v
}

function checkRange(ns: bigint, what: string): bigint {
  if (ns < MIN_I64 || ns > MAX_I64) throw new RangeError(`${what}: outside the int64 nanosecond range`)
  return ns
}

/**
 * Helpers for `time` values: bigint nanoseconds since 1970-01-01T00:00:00Z. Text parsers throw
 * {@link ValidationError} with a `format` or `range` issue; number conversions throw
 * `RangeError` when the result would not be exact.
 */
export const time = {
  /** Nanoseconds of a `Date` (millisecond precision). */
  fromDate(date: Date): bigint {
    const ms = date.getTime()
    if (Number.isNaN(ms)) throw new RangeError('time.fromDate: invalid Date')
    return BigInt(ms) * NS_PER_MS
  },
  /** A `Date` at the millisecond that contains `ns` (rounded toward the past). */
  toDate(ns: bigint): Date {
    return new Date(time.toMillis(ns))
  },
  /** Nanoseconds of a count of milliseconds; fractional milliseconds are taken exactly as written. */
  fromMillis(ms: number | bigint): bigint {
    return checkRange(scaleNumber(ms, NS_PER_MS, 'time.fromMillis'), 'time.fromMillis')
  },
  /** Whole milliseconds (rounded toward the past). */
  toMillis(ns: bigint): number {
    const q = ns / NS_PER_MS
    return Number(ns % NS_PER_MS < 0n ? q - 1n : q)
  },
  /** Nanoseconds of seconds given as a number, exact to the digits `String(seconds)` shows. */
  fromSeconds(seconds: number | bigint): bigint {
    return checkRange(scaleNumber(seconds, NS_PER_S, 'time.fromSeconds'), 'time.fromSeconds')
  },
  /** Seconds as a number (may round: a double has 15-17 significant digits). */
  toSeconds(ns: bigint): number {
    return Number(ns) / 1e9
  },
  /** Parses decimal seconds as Zeek's logs write them (`1521911721.255387`), exactly. */
  parse(text: string): bigint {
    return unwrap(parseDecimalSeconds(String(text), 'a time'))
  },
  /** Decimal seconds as Zeek's logs write them (`1521911721.255387`); more digits only when needed. */
  format(ns: bigint): string {
    return formatDecimalSeconds(ns)
  },
  /** Parses ISO 8601 UTC text (`2014-07-09T10:16:44.000`, up to 9 fractional digits, optional `Z`). */
  fromIso(text: string): bigint {
    return unwrap(parseIso(String(text)))
  },
  /** ISO 8601 UTC text as Broker's JSON writes it, extended to 6 or 9 digits when needed. */
  toIso(ns: bigint): string {
    return formatIso(ns)
  },
} as const
