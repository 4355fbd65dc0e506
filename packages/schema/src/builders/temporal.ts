/**
 * Time schemas: time (an instant) and interval (a duration), both bigint nanoseconds.
 *
 * @module
 */
import type { Impl } from '../impl.js'
import { formatInterval, parseInterval } from '../interval.js'
import { Problem, show } from '../issues.js'
import { MAX_I64, MIN_I64 } from '../limits.js'
import { formatIso, parseIso } from '../time.js'
import { leaf } from './leaf.js'
import { bigintProblem, decI64, encI64 } from './scalars.js'

/** `time`: bigint ns since the epoch, an int64 on the wire, ISO 8601 `timestamp` in JSON. */
export const time: Impl = leaf({
  desc: 'time',
  dataType: 'timestamp',
  problem: (v) =>
    bigintProblem(
      v,
      MIN_I64,
      MAX_I64,
      'time, nanoseconds since the epoch',
      'use time.fromDate(), time.parse()',
    ),
  enc: encI64,
  dec: decI64,
  toData: (v) => `"${formatIso(v as bigint)}"`,
  fromData(d) {
    if (typeof d !== 'string') return new Problem('type', `expected timestamp text, got ${show(d)}`)
    return parseIso(d)
  },
  key: (v) => String(v),
  render: (v) => String(v),
})

/** `interval`: bigint ns, an int64 on the wire, Broker's `timespan` text in JSON. */
export const interval: Impl = leaf({
  desc: 'interval',
  dataType: 'timespan',
  problem: (v) =>
    bigintProblem(v, MIN_I64, MAX_I64, 'interval, nanoseconds', 'use interval.ms(), interval.parse()'),
  enc: encI64,
  dec: decI64,
  toData: (v) => `"${formatInterval(v as bigint)}"`,
  fromData(d) {
    if (typeof d !== 'string')
      return new Problem('type', `expected timespan text like "1500ms", got ${show(d)}`)
    return parseInterval(d)
  },
  key: (v) => String(v),
  render: (v) => String(v),
})
