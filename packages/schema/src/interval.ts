/**
 * Interval values: bigint nanoseconds (Zeek's `interval`, may be negative), their text forms
 * and the public `interval` helpers.
 *
 * @module
 */
import { ValidationError } from './contract.js'
import { scaleDecimal, scaleNumber } from './decimal.js'
import { Problem } from './issues.js'
import { MAX_I64, MIN_I64 } from './limits.js'
import { parseDecimalSeconds } from './time.js'

const NS_PER_US = 1_000n
const NS_PER_MS = 1_000_000n
const NS_PER_S = 1_000_000_000n
const NS_PER_MIN = 60n * NS_PER_S
const NS_PER_H = 60n * NS_PER_MIN
const NS_PER_D = 24n * NS_PER_H

/** Unit names accepted by {@link parseInterval}: Broker's, Go's and Zeek's spellings. */
const UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['nsec', 1n],
  ['nsecs', 1n],
  ['us', NS_PER_US],
  ['µs', NS_PER_US],
  ['μs', NS_PER_US],
  ['usec', NS_PER_US],
  ['usecs', NS_PER_US],
  ['ms', NS_PER_MS],
  ['msec', NS_PER_MS],
  ['msecs', NS_PER_MS],
  ['s', NS_PER_S],
  ['sec', NS_PER_S],
  ['secs', NS_PER_S],
  ['m', NS_PER_MIN],
  ['min', NS_PER_MIN],
  ['mins', NS_PER_MIN],
  ['h', NS_PER_H],
  ['hr', NS_PER_H],
  ['hrs', NS_PER_H],
  ['d', NS_PER_D],
  ['day', NS_PER_D],
  ['days', NS_PER_D],
])

const TERM = /\s*(\d+)(?:\.(\d+))?\s*([a-zµμ]+)/y

/**
 * Parses an interval: decimal seconds (`0.004266`, as Zeek's logs write intervals), or one or
 * more `<number><unit>` terms (`250ms`, `1h30m`, `2.5 secs`, Broker's `-5min`), with an
 * optional leading sign for the whole. Exact; finer than a nanosecond is a `range` problem.
 */
export function parseInterval(text: string): bigint | Problem {
  const plain = parseDecimalSeconds(text, 'an interval')
  if (!(plain instanceof Problem) || plain.code === 'range') return plain
  const bad = new Problem(
    'format',
    `${JSON.stringify(text)} is not an interval like "250ms", "1h30m" or "0.004266"`,
  )
  let i = 0
  let negative = false
  if (text.startsWith('-') || text.startsWith('+')) {
    negative = text[0] === '-'
    i = 1
  }
  let total = 0n
  let terms = 0
  while (i < text.length) {
    TERM.lastIndex = i
    const m = TERM.exec(text)
    if (m === null) {
      if (text.slice(i).trim() === '' && terms > 0) break
      return bad
    }
    const unit = UNITS.get(m[3]!)
    if (unit === undefined) return bad
    const v = scaleDecimal(m[1]!, m[2] ?? '', unit)
    if (v instanceof Problem) return v
    total += v
    terms++
    i = TERM.lastIndex
  }
  if (terms === 0) return bad
  const ns = negative ? -total : total
  if (ns < MIN_I64 || ns > MAX_I64)
    return new Problem('range', `${text} is outside the int64 nanosecond range`)
  return ns
}

/**
 * Broker's timespan text: an integer and the coarsest unit of ns, us, ms, s that is exact
 * (`"1500ms"`, `"-3s"`); `"0s"` for zero.
 */
export function formatInterval(ns: bigint): string {
  if (ns === 0n) return '0s'
  if (ns % NS_PER_US !== 0n) return `${ns}ns`
  if (ns % NS_PER_MS !== 0n) return `${ns / NS_PER_US}us`
  if (ns % NS_PER_S !== 0n) return `${ns / NS_PER_MS}ms`
  return `${ns / NS_PER_S}s`
}

function of(n: number | bigint, unit: bigint, what: string): bigint {
  const ns = scaleNumber(n, unit, what)
  if (ns < MIN_I64 || ns > MAX_I64) throw new RangeError(`${what}: outside the int64 nanosecond range`)
  return ns
}

/**
 * Helpers for `interval` values: bigint nanoseconds. The unit constructors take a number or a
 * bigint and throw `RangeError` when the result is not a whole number of nanoseconds (numbers
 * are taken exactly as `String(n)` writes them, so `interval.s(0.004266)` is 4266000n).
 */
export const interval = {
  /** Nanoseconds. */
  ns: (n: number | bigint): bigint => of(n, 1n, 'interval.ns'),
  /** Microseconds. */
  us: (n: number | bigint): bigint => of(n, NS_PER_US, 'interval.us'),
  /** Milliseconds. */
  ms: (n: number | bigint): bigint => of(n, NS_PER_MS, 'interval.ms'),
  /** Seconds. */
  s: (n: number | bigint): bigint => of(n, NS_PER_S, 'interval.s'),
  /** Minutes. */
  min: (n: number | bigint): bigint => of(n, NS_PER_MIN, 'interval.min'),
  /** Hours. */
  h: (n: number | bigint): bigint => of(n, NS_PER_H, 'interval.h'),
  /** Days (of 24 hours). */
  d: (n: number | bigint): bigint => of(n, NS_PER_D, 'interval.d'),
  /**
   * Parses `5m`, `250ms`, `1h30m`, `2.5 secs`, `-3s` or decimal seconds `0.004266`. Throws
   * {@link ValidationError} with a `format` or `range` issue.
   */
  parse(text: string): bigint {
    const v = parseInterval(String(text))
    if (v instanceof Problem) throw new ValidationError([v.toIssue()])
    return v
  },
  /** Broker's text: the coarsest exact unit of ns, us, ms, s (`"1500ms"`, `"0s"`). */
  format(ns: bigint): string {
    return formatInterval(ns)
  },
  /** Seconds as a number (may round). */
  toSeconds(ns: bigint): number {
    return Number(ns) / 1e9
  },
  /** Milliseconds as a number (may round). */
  toMillis(ns: bigint): number {
    return Number(ns) / 1e6
  },
} as const
