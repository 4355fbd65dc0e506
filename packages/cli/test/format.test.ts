/**
 * Human-readable values and their parser: what `get`, `watch` and `export` print, and what
 * `put` reads back.
 */
import { interval, t, time } from '@concord/schema'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { formatInterval, formatTime, formatValue } from '../src/format.js'
import { parseInput, parseValue } from '../src/parse-value.js'
import { parseZeekType } from '../src/zeek-types.js'

describe('formatValue', () => {
  test.each([
    ['bool', true, 'true'],
    ['count', 42n, '42'],
    ['int', -7n, '-7'],
    ['double', 1.5, '1.5'],
    ['double', -0, '-0'],
    ['string', 'hello world', 'hello world'],
    ['addr', '2001:db8::1', '2001:db8::1'],
    ['subnet', '10.0.0.0/8', '10.0.0.0/8'],
    ['port', { port: 80, proto: 'tcp' }, '80/tcp'],
    ['port', { port: 0, proto: 'unknown' }, '0/?'],
    ['time', 1521911721255387000n, '2018-03-24T17:15:21.255387Z'],
    ['time', 0n, '1970-01-01T00:00:00.000Z'],
    ['interval', 1_500_000_000n, '1.5s'],
    ['enum { tcp, udp }', 'udp', 'udp'],
    ['set[string]', new Set(['a', 'b']), '{a, b}'],
    ['set[string]', new Set(['x y', '', 'a,b', '"q"']), '{"x y", "", "a,b", "\\"q\\""}'],
    ['set[port]', new Set([{ port: 53, proto: 'udp' }]), '{53/udp}'],
    ['vector of count', [1n, 2n], '[1, 2]'],
    ['vector of string', [], '[]'],
    [
      'table[addr] of count',
      new Map([
        ['10.0.0.1', 3n],
        ['10.0.0.2', 4n],
      ]),
      '{[10.0.0.1] = 3, [10.0.0.2] = 4}',
    ],
    [
      'record { ts: time; id: record { h: addr; p: port }; service: string &optional; tags: set[string] }',
      { ts: 1000000000n, id: { h: '10.0.0.1', p: { port: 22, proto: 'tcp' } }, tags: new Set(['ssh']) },
      '[ts=1970-01-01T00:00:01.000Z, id=[h=10.0.0.1, p=22/tcp], tags={ssh}]',
    ],
  ])('%s %o', (type, value, text) => {
    expect(formatValue(parseZeekType(type), value)).toBe(text)
  })

  test('without a schema, by JavaScript type', () => {
    expect(formatValue(undefined, { a: 1n, b: ['x', 'y z'], c: new Set([true]) })).toBe(
      '[a=1, b=[x, "y z"], c={true}]',
    )
  })
})

describe('formatInterval', () => {
  test.each([
    [0n, '0ns'],
    [750n, '750ns'],
    [1_500n, '1.5us'],
    [4_266_000n, '4.266ms'],
    [1_500_000_000n, '1.5s'],
    [-3_000_000_000n, '-3s'],
    [150_000_000_000n, '2m30s'],
    [5_400_000_000_000n, '1h30m'],
    [183_600_000_000_000n, '2d3h'],
    [90_061_000_000_001n, '1d1h1m1.000000001s'],
  ])('%s ns is %s', (ns, text) => {
    expect(formatInterval(ns)).toBe(text)
  })

  test('interval.parse reads back every formatted interval exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }), (ns) => {
        expect(interval.parse(formatInterval(ns))).toBe(ns)
      }),
    )
  })

  test('formatTime reads back exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 4_000_000_000n * 1_000_000_000n }), (ns) => {
        expect(parseValue(t.time(), formatTime(ns))).toBe(ns)
      }),
    )
  })
})

describe('parseValue', () => {
  test.each([
    ['count', '42', 42n],
    ['int', '-42', -42n],
    ['double', '-1.5e3', -1500],
    ['bool', 'T', true],
    ['bool', 'false', false],
    ['string', '  spaced  ', '  spaced  '],
    ['addr', '::FFFF:10.0.0.1', '10.0.0.1'],
    ['subnet', '10.0.0.0/8', '10.0.0.0/8'],
    ['port', '53/udp', { port: 53, proto: 'udp' }],
    ['port', '0/unknown', { port: 0, proto: 'unknown' }],
    ['time', '2018-03-24T17:15:21.255387Z', 1521911721255387000n],
    ['time', '1521911721.255387', 1521911721255387000n],
    ['interval', '1.5s', 1_500_000_000n],
    ['interval', '0.004266', 4_266_000n],
    ['interval', '1h30m', 5_400_000_000_000n],
    ['enum { tcp, udp }', 'tcp', 'tcp'],
    ['set[count]', '{1, 2, 3}', new Set([1n, 2n, 3n])],
    ['set[string]', '{}', new Set()],
    ['vector of string', '["a, b", c]', ['a, b', 'c']],
  ])('%s %j', (type, text, value) => {
    expect(parseValue(parseZeekType(type), text)).toEqual(value)
  })

  test('a long line of digits is refused at once, with a short message', () => {
    // The double pattern backtracked quadratically: 100k digits and an x took about 16 s.
    const digits = '1'.repeat(100_000)
    expect(() => parseValue(t.double(), `${digits}x`)).toThrow(
      `expected a number like 1.5, found "${'1'.repeat(60)}"… (100001 characters)`,
    )
    expect(parseValue(t.double(), `${digits}.5e-99995`)).toBe(Number(`${digits}.5e-99995`))
    expect(parseValue(t.double(), '1.')).toBe(1)
    expect(parseValue(t.double(), '.5')).toBe(0.5)
  })

  test('now is the injected clock', () => {
    expect(parseValue(t.time(), 'now', { now: () => 1234 })).toBe(time.fromMillis(1234))
  })

  test.each([
    ['count', '-1', 'expected a count (an integer >= 0), found "-1"'],
    [
      'count',
      '18446744073709551616',
      '18446744073709551616n is outside the range of count [0, 18446744073709551615]',
    ],
    ['bool', 'yes', 'expected true or false (or T, F), found "yes"'],
    ['port', '80', 'expected a port with its protocol like 80/tcp, found "80"'],
    ['addr', '10.0.0.256', 'expected an IP address like 10.0.0.1 or 2001:db8::1, found "10.0.0.256"'],
    ['interval', 'soon', 'expected an interval like 1.5s, 250ms, 5m, 1h30m, found "soon"'],
    [
      'time',
      'yesterday',
      'expected a time like 2018-03-24T17:15:21.255Z, epoch seconds like 1521911721.255387, or now; found "yesterday"',
    ],
    ['enum { tcp, udp }', 'sctp', 'expected one of tcp, udp, found "sctp"'],
    ['set[count]', '{1, 1}', 'the set lists an element twice: "{1, 1}"'],
    ['set[count]', '1, 2', 'expected a set like {a, b}, found "1, 2"'],
    ['record { a: count }', '[a=1]', 'a record has no human form: give it as Zeek JSON (with --json)'],
    ['table[addr] of count', '{}', 'a table has no human form: give it as Zeek JSON (with --json)'],
    [
      'set[record { a: count }]',
      '{}',
      'a set of records has no human form: give it as Zeek JSON (with --json)',
    ],
  ])('%s %j fails: %s', (type, text, message) => {
    expect(() => parseValue(parseZeekType(type), text)).toThrow(message)
  })

  test('parseInput reads Zeek JSON only with --json and a leading {', () => {
    const schema = parseZeekType('record { a: count }')
    expect(
      parseInput(schema, '{"@data-type":"vector","data":[{"@data-type":"count","data":1}]}', true),
    ).toEqual({
      a: 1n,
    })
    expect(parseInput(t.set(t.string()), '{a}', false)).toEqual(new Set(['a']))
    expect(parseInput(t.count(), '5', true)).toBe(5n)
  })
})

test("the README's example", () => {
  const Conn = parseZeekType('record { uid: string; id: record { orig_h: addr; orig_p: port } }')
  expect(
    formatValue(Conn, { uid: 'C1', id: { orig_h: '10.0.0.1', orig_p: { port: 22, proto: 'tcp' } } }),
  ).toBe('[uid=C1, id=[orig_h=10.0.0.1, orig_p=22/tcp]]')
})
