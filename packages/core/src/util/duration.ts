/** A duration: milliseconds as a number, or text such as `250ms`, `5s`, `5m`, `1h`, `1d`, `1h30m`. */
export type Duration = number | string

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * Whole milliseconds of a {@link Duration}, rounded to the nearest (`'4.1m'` is 246 000; an
 * expiry travels as an integer). Throws `RangeError` on text it cannot read, a negative value
 * or one past 2^53 ms.
 */
export function toMillis(duration: Duration): number {
  if (typeof duration === 'number') {
    if (!Number.isFinite(duration) || duration < 0) throw new RangeError(`invalid duration ${duration}`)
    return whole(duration, duration)
  }
  const text = duration.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return whole(Number(text), duration)
  const part = /(\d+(?:\.\d+)?)(ms|min|s|m|h|d)/gy
  let total = 0
  let consumed = 0
  for (let match = part.exec(text); match !== null; match = part.exec(text)) {
    total += Number(match[1]) * UNITS[match[2]!]!
    consumed = part.lastIndex
  }
  if (consumed === 0 || consumed !== text.length) throw new RangeError(`invalid duration '${duration}'`)
  return whole(total, duration)
}

function whole(ms: number, duration: Duration): number {
  const rounded = Math.round(ms)
  if (!Number.isSafeInteger(rounded))
    throw new RangeError(`invalid duration ${JSON.stringify(duration)}: over 2^53 ms`)
  return rounded
}
