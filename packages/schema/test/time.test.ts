/**
 * Fixed cases for time and interval: nanosecond values, helpers, text forms.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { fromJson, interval, t, time, ValidationError } from '../src/index.js'
import { codes, hex } from './helpers.js'

const MIN_I64 = -(2n ** 63n)
const MAX_I64 = 2n ** 63n - 1n

describe('time', () => {
  test('Zeek decimal seconds are exact', () => {
    expect(time.parse('1521911721.255387')).toBe(1521911721255387000n)
    expect(time.parse('1521911721.123456789')).toBe(1521911721123456789n)
    expect(time.parse('0')).toBe(0n)
    expect(time.parse('-1.5')).toBe(-1500000000n)
    expect(time.format(1521911721255387000n)).toBe('1521911721.255387')
    expect(time.format(1521911721123456789n)).toBe('1521911721.123456789')
    expect(time.format(0n)).toBe('0.000000')
    expect(() => time.parse('1.0000000001')).toThrow(ValidationError)
    expect(() => time.parse('yesterday')).toThrow(ValidationError)
  })

  test('nanosecond values round-trip on the wire', () => {
    for (const v of [0n, 1n, -1n, 1521911721255387001n, MIN_I64, MAX_I64]) {
      expect(t.time().decode(t.time().encode(v))).toBe(v)
    }
    expect(hex(t.time().encode(1521911721255387000n))).toBe('cf151eeaa5a4ee3f78')
  })

  test('Dates, milliseconds and seconds', () => {
    const d = new Date('2018-03-24T17:15:21.255Z')
    expect(time.fromDate(d)).toBe(1521911721255000000n)
    expect(time.toDate(1521911721255387000n).toISOString()).toBe('2018-03-24T17:15:21.255Z')
    expect(time.toDate(-1n).toISOString()).toBe('1969-12-31T23:59:59.999Z')
    expect(time.fromMillis(1.5)).toBe(1500000n)
    expect(time.fromSeconds(1521911721.255387)).toBe(1521911721255387000n)
    expect(time.toMillis(-1n)).toBe(-1)
    expect(() => time.fromDate(new Date(Number.NaN))).toThrow(RangeError)
    expect(() => time.fromSeconds(1e-10)).toThrow(RangeError)
  })

  test('ISO text: 3 digits, 6 or 9 only when needed; UTC without suffix', () => {
    expect(time.toIso(1404901004000000000n)).toBe('2014-07-09T10:16:44.000')
    expect(time.toIso(1521911721255000000n)).toBe('2018-03-24T17:15:21.255')
    expect(time.toIso(1521911721255387000n)).toBe('2018-03-24T17:15:21.255387')
    expect(time.toIso(1521911721255387001n)).toBe('2018-03-24T17:15:21.255387001')
    expect(time.toIso(-1n)).toBe('1969-12-31T23:59:59.999999999')
    expect(time.toIso(MIN_I64)).toBe('1677-09-21T00:12:43.145224192')
    expect(time.toIso(MAX_I64)).toBe('2262-04-11T23:47:16.854775807')
    expect(time.fromIso('2000-02-29T00:00:00Z')).toBe(951782400000000000n)
    expect(time.fromIso('2014-07-09T10:16:44')).toBe(1404901004000000000n)
    for (const bad of [
      '2001-02-29T00:00:00',
      '2014-13-01T00:00:00',
      '2014-07-09 10:16:44',
      '2014-07-09T24:00:00',
    ]) {
      expect(() => time.fromIso(bad)).toThrow(ValidationError)
    }
    expect(() => time.fromIso('2262-04-11T23:47:16.854775808')).toThrow(/range/)
  })

  test('ISO text round-trips every int64', () => {
    fc.assert(
      fc.property(fc.bigInt(MIN_I64, MAX_I64), (ns) => {
        expect(time.fromIso(time.toIso(ns))).toBe(ns)
        expect(time.parse(time.format(ns))).toBe(ns)
      }),
      { numRuns: 2000 },
    )
  })

  test('numbers are refused', () => {
    expect(codes(t.time(), 1521911721.255387)).toEqual([['', 'type']])
    expect(codes(t.time(), new Date())).toEqual([['', 'type']])
  })
})

describe('interval', () => {
  const parsed: [string, bigint][] = [
    ['5m', 300_000_000_000n],
    ['250ms', 250_000_000n],
    ['1h30m', 5_400_000_000_000n],
    ['-2s', -2_000_000_000n],
    ['0.004266', 4_266_000n],
    ['-0.5', -500_000_000n],
    ['2.5 secs', 2_500_000_000n],
    ['1500ms', 1_500_000_000n],
    ['5min', 300_000_000_000n],
    ['1d', 86_400_000_000_000n],
    ['3us', 3000n],
    ['3µs', 3000n],
    ['7ns', 7n],
    ['1.5us', 1500n],
    ['1 day 2 hrs', 93_600_000_000_000n],
  ]
  test.each(parsed)('%s is %s ns', (text, ns) => {
    expect(interval.parse(text)).toBe(ns)
  })

  test('bad text', () => {
    for (const bad of ['', 'abc', '5x', '1.5ns', 's', '1h 2', '--1s']) {
      expect(() => interval.parse(bad)).toThrow(ValidationError)
    }
    expect(() => interval.parse('9999999999999d')).toThrow(/range/)
  })

  test('unit constructors are exact', () => {
    expect(interval.ms(250)).toBe(250_000_000n)
    expect(interval.s(0.004266)).toBe(4_266_000n)
    expect(interval.us(1n)).toBe(1000n)
    expect(interval.min(1.5)).toBe(90_000_000_000n)
    expect(interval.h(-1)).toBe(-3_600_000_000_000n)
    expect(interval.d(1)).toBe(86_400_000_000_000n)
    expect(interval.ns(5)).toBe(5n)
    expect(() => interval.ns(0.5)).toThrow(RangeError)
    expect(() => interval.s(Number.NaN)).toThrow(TypeError)
    expect(interval.toSeconds(1_500_000_000n)).toBe(1.5)
    expect(interval.toMillis(1_500_000n)).toBe(1.5)
  })

  test("Broker's text: the coarsest exact unit of ns, us, ms, s", () => {
    expect(interval.format(0n)).toBe('0s')
    expect(interval.format(1n)).toBe('1ns')
    expect(interval.format(999n)).toBe('999ns')
    expect(interval.format(1000n)).toBe('1us')
    expect(interval.format(1_500_000_000n)).toBe('1500ms')
    expect(interval.format(-3_000_000_000n)).toBe('-3s')
    expect(interval.format(3_600_000_000_000n)).toBe('3600s')
  })

  test('negative intervals round-trip on the wire and in text', () => {
    fc.assert(
      fc.property(fc.bigInt(MIN_I64, MAX_I64), (ns) => {
        expect(t.interval().decode(t.interval().encode(ns))).toBe(ns)
        expect(interval.parse(interval.format(ns))).toBe(ns)
      }),
      { numRuns: 1000 },
    )
  })

  test('long digit runs are refused in linear time, with a short message', () => {
    // A regex trim of trailing zeros backtracked quadratically: 200k zeros took minutes.
    const zeros = '0'.repeat(200_000)
    const issueOf = (fn: () => unknown) => {
      try {
        fn()
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError)
        const [issue] = (error as ValidationError).issues
        expect(issue!.message.length).toBeLessThan(200)
        return issue!.code
      }
      throw new Error('expected a ValidationError')
    }
    expect(issueOf(() => interval.parse(`0.${zeros}1`))).toBe('range')
    expect(issueOf(() => interval.parse(`0.${zeros}1d`))).toBe('range')
    expect(issueOf(() => time.parse(`-0.${zeros}1`))).toBe('range')
    expect(issueOf(() => time.parse(`1${zeros}`))).toBe('range')
    expect(issueOf(() => interval.parse(`1${zeros}.5h`))).toBe('range')
    const json = `{"@data-type":"timespan","data":"0.${zeros}1d"}`
    expect(() => fromJson(t.interval(), json)).toThrow(ValidationError)
    // Leading zeros and trailing zeros are still just zeros.
    expect(interval.parse(`${zeros}1.5${zeros}s`)).toBe(1_500_000_000n)
    expect(time.parse(`0.255387${zeros}`)).toBe(255_387_000n)
    // The longest fraction that is still whole nanoseconds: 2^-16 of a day.
    expect(interval.parse('0.0000152587890625d')).toBe(1_318_359_375n)
    expect(() => interval.ns(1e300)).toThrow(RangeError)
  })
})
