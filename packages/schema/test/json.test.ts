/**
 * Zeek/Broker JSON v1. The fixed cases are the examples of Broker's documentation and tests:
 * - zeek/broker doc/web-socket.rst, "JSON API v1" → "Data Representation" (one example per type,
 *   and "Encoding of Zeek Events"),
 * - zeek/broker libbroker/broker/format/json.test.cc (the encoder's expected outputs).
 */
import { describe, expect, test } from 'vitest'
import { fromJson, interval, t, time, toJson, ValidationError } from '../src/index.js'
import { issuesOf } from './helpers.js'

/** The compact form of a pretty-printed JSON example, as Broker writes it. */
const compact = (text: string): string => JSON.stringify(JSON.parse(text))

const cases: [string, ReturnType<typeof t.string> | ReturnType<typeof t.record>, unknown, string][] = [
  // doc/web-socket.rst
  ['boolean true', t.bool(), true, '{"@data-type":"boolean","data":true}'],
  ['boolean false', t.bool(), false, '{"@data-type":"boolean","data":false}'],
  ['count 123', t.count(), 123n, '{"@data-type":"count","data":123}'],
  ['integer -7', t.int(), -7n, '{"@data-type":"integer","data":-7}'],
  ['real -7.5', t.double(), -7.5, '{"@data-type":"real","data":-7.5}'],
  ['timespan 1.5 s', t.interval(), 1_500_000_000n, '{"@data-type":"timespan","data":"1500ms"}'],
  [
    'timestamp',
    t.time(),
    time.fromIso('2022-04-10T07:00:00'),
    '{"@data-type":"timestamp","data":"2022-04-10T07:00:00.000"}',
  ],
  ['string', t.string(), 'Hello World!', '{"@data-type":"string","data":"Hello World!"}'],
  ['enum-value', t.enum(['foo', 'bar']), 'foo', '{"@data-type":"enum-value","data":"foo"}'],
  ['address v6', t.addr(), '2001:db8::', '{"@data-type":"address","data":"2001:db8::"}'],
  ['subnet', t.subnet(), '255.255.255.0/24', '{"@data-type":"subnet","data":"255.255.255.0/24"}'],
  ['port', t.port(), { port: 8080, proto: 'tcp' }, '{"@data-type":"port","data":"8080/tcp"}'],
  // libbroker/broker/format/json.test.cc
  ['count 0', t.count(), 0n, '{"@data-type":"count","data":0}'],
  ['integer -10', t.int(), -10n, '{"@data-type":"integer","data":-10}'],
  ['string escapes', t.string(), 'foo\n"bar', '{"@data-type":"string","data":"foo\\n\\"bar"}'],
  ['address v4', t.addr(), '192.128.4.4', '{"@data-type":"address","data":"192.128.4.4"}'],
  ['subnet v4', t.subnet(), '192.128.4.0/24', '{"@data-type":"subnet","data":"192.128.4.0/24"}'],
  ['port udp', t.port(), { port: 9000, proto: 'udp' }, '{"@data-type":"port","data":"9000/udp"}'],
  ['timespan 0', t.interval(), 0n, '{"@data-type":"timespan","data":"0s"}'],
  ['timespan 1ns', t.interval(), 1n, '{"@data-type":"timespan","data":"1ns"}'],
  ['timespan 999ns', t.interval(), 999n, '{"@data-type":"timespan","data":"999ns"}'],
  ['timespan 1000ns', t.interval(), 1000n, '{"@data-type":"timespan","data":"1us"}'],
  ['timespan 999us', t.interval(), 999_000n, '{"@data-type":"timespan","data":"999us"}'],
  ['timespan 1000us', t.interval(), 1_000_000n, '{"@data-type":"timespan","data":"1ms"}'],
  ['timespan 999ms', t.interval(), 999_000_000n, '{"@data-type":"timespan","data":"999ms"}'],
  ['timespan 1000ms', t.interval(), 1_000_000_000n, '{"@data-type":"timespan","data":"1s"}'],
  [
    'timestamp genesis',
    t.time(),
    1404901004000000000n,
    '{"@data-type":"timestamp","data":"2014-07-09T10:16:44.000"}',
  ],
  ['enum escapes', t.enum(['foo\n"bar']), 'foo\n"bar', '{"@data-type":"enum-value","data":"foo\\n\\"bar"}'],
  [
    'set of integers',
    t.set(t.int()),
    new Set([1n, 2n, 3n]),
    compact(`{"@data-type":"set","data":[{"@data-type":"integer","data":1},{"@data-type":"integer","data":2},
      {"@data-type":"integer","data":3}]}`),
  ],
  [
    'vector of integer, count, string as a record',
    t.record({ a: t.int(), b: t.count(), c: t.string() }),
    { a: 1n, b: 2n, c: 'three' },
    compact(`{"@data-type":"vector","data":[{"@data-type":"integer","data":1},{"@data-type":"count","data":2},
      {"@data-type":"string","data":"three"}]}`),
  ],
  [
    'table string to string',
    t.table(t.string(), t.string()),
    new Map([
      ['first-name', 'John'],
      ['last-name', 'Doe'],
    ]),
    compact(`{"@data-type":"table","data":[
      {"key":{"@data-type":"string","data":"first-name"},"value":{"@data-type":"string","data":"John"}},
      {"key":{"@data-type":"string","data":"last-name"},"value":{"@data-type":"string","data":"Doe"}}]}`),
  ],
  ['optional unset is none', t.string().optional(), undefined, '{"@data-type":"none","data":{}}'],
  ['empty set', t.set(t.string()), new Set(), '{"@data-type":"set","data":[]}'],
  ['empty table', t.table(t.string(), t.count()), new Map(), '{"@data-type":"table","data":[]}'],
] as never

describe('Broker JSON v1 examples', () => {
  test.each(cases)('%s', (_, schema, value, json) => {
    expect(toJson(schema, value as never)).toBe(json)
    expect(fromJson(schema, json)).toEqual(value)
    expect(fromJson(schema, JSON.parse(json))).toEqual(value)
  })

  test('a Zeek event, as doc/web-socket.rst "Encoding of Zeek Events" shows it', () => {
    const Event = t.record({
      format: t.count(),
      type: t.count(),
      event: t.record({ name: t.string(), args: t.record({ n: t.int(), s: t.string() }) }),
    })
    const doc = compact(`{
      "@data-type": "vector",
      "data": [
        { "@data-type": "count", "data": 1 },
        { "@data-type": "count", "data": 1 },
        { "@data-type": "vector", "data": [
            { "@data-type": "string", "data": "event_1" },
            { "@data-type": "vector", "data": [
                { "@data-type": "integer", "data": 42 },
                { "@data-type": "string", "data": "test" } ] } ] } ] }`)
    const value = { format: 1n, type: 1n, event: { name: 'event_1', args: { n: 42n, s: 'test' } } }
    expect(toJson(Event, value)).toBe(doc)
    expect(fromJson(Event, doc)).toEqual(value)
  })
})

describe('JSON details', () => {
  test('reals always read back as reals; -0 survives', () => {
    expect(toJson(t.double(), 42)).toBe('{"@data-type":"real","data":42.0}')
    expect(toJson(t.double(), 1e21)).toBe('{"@data-type":"real","data":1e+21}')
    expect(Object.is(fromJson(t.double(), toJson(t.double(), -0)), -0)).toBe(true)
  })

  test('integers beyond 2^53 are exact from text, a range issue from a parsed tree', () => {
    const json = toJson(t.count(), 2n ** 64n - 1n)
    expect(json).toBe('{"@data-type":"count","data":18446744073709551615}')
    expect(fromJson(t.count(), json)).toBe(2n ** 64n - 1n)
    expect(fromJson(t.int(), '{"@data-type":"integer","data":-9223372036854775808}')).toBe(-(2n ** 63n))
    const [issue] = issuesOf(() => fromJson(t.count(), JSON.parse(json)))
    expect(issue).toMatchObject({ path: '', code: 'range' })
    expect(issue!.message).toContain('pass the JSON text')
    expect(
      issuesOf(() => fromJson(t.count(), '{"@data-type":"count","data":18446744073709551616}'))[0]!.code,
    ).toBe('range')
    expect(issuesOf(() => fromJson(t.count(), '{"@data-type":"count","data":1.5}'))[0]!.code).toBe('type')
  })

  test('timestamps keep nanoseconds; ports accept "?" and "unknown"', () => {
    expect(toJson(t.time(), 1521911721255387001n)).toBe(
      '{"@data-type":"timestamp","data":"2018-03-24T17:15:21.255387001"}',
    )
    expect(toJson(t.port(), { port: 0, proto: 'unknown' })).toBe('{"@data-type":"port","data":"0/?"}')
    expect(fromJson(t.port(), '{"@data-type":"port","data":"0/unknown"}')).toEqual({
      port: 0,
      proto: 'unknown',
    })
    expect(fromJson(t.interval(), '{"@data-type":"timespan","data":"-5min"}')).toBe(interval.min(-5))
    expect(fromJson(t.interval(), '{"@data-type":"timespan","data":"2h"}')).toBe(interval.h(2))
  })

  test('addresses are canonicalised on input; subnets with host bits are refused', () => {
    expect(fromJson(t.addr(), '{"@data-type":"address","data":"::FFFF:10.0.0.1"}')).toBe('10.0.0.1')
    expect(fromJson(t.addr(), '{"@data-type":"address","data":"::0.0.0.2"}')).toBe('::2')
    expect(fromJson(t.subnet(), '{"@data-type":"subnet","data":"::ffff:10.0.0.0/104"}')).toBe('10.0.0.0/8')
    expect(
      issuesOf(() => fromJson(t.subnet(), '{"@data-type":"subnet","data":"10.0.0.1/8"}'))[0]!.message,
    ).toContain('10.0.0.0/8')
  })

  test('records: unset optional fields are none; shorter and longer vectors are accepted', () => {
    const R = t.record({ a: t.string(), b: t.count().optional(), c: t.bool().default(true) })
    expect(toJson(R, { a: 'x' })).toBe(
      '{"@data-type":"vector","data":[{"@data-type":"string","data":"x"},{"@data-type":"none","data":{}},{"@data-type":"boolean","data":true}]}',
    )
    expect(fromJson(R, '{"@data-type":"vector","data":[{"@data-type":"string","data":"x"}]}')).toEqual({
      a: 'x',
      c: true,
    })
    const longer =
      '{"@data-type":"vector","data":[{"@data-type":"string","data":"x"},{"@data-type":"none","data":{}},' +
      '{"@data-type":"boolean","data":false},{"@data-type":"string","data":"from a newer schema"}]}'
    expect(fromJson(R, longer)).toEqual({ a: 'x', c: false })
    expect(issuesOf(() => fromJson(R, '{"@data-type":"vector","data":[]}'))).toEqual([
      { path: 'a', code: 'missing', message: 'required field "a" is missing' },
    ])
  })

  test('issues carry the paths validate uses', () => {
    const S = t.record({
      conns: t.vector(t.record({ id: t.record({ orig_h: t.addr() }) })),
      m: t.table(t.string(), t.count()),
      tags: t.set(t.string()),
    })
    const json = JSON.stringify({
      '@data-type': 'vector',
      data: [
        {
          '@data-type': 'vector',
          data: [
            {
              '@data-type': 'vector',
              data: [{ '@data-type': 'vector', data: [{ '@data-type': 'address', data: 'nope' }] }],
            },
          ],
        },
        {
          '@data-type': 'table',
          data: [{ key: { '@data-type': 'string', data: 'k' }, value: { '@data-type': 'integer', data: 1 } }],
        },
        {
          '@data-type': 'set',
          data: [
            { '@data-type': 'string', data: 'a' },
            { '@data-type': 'string', data: 'a' },
          ],
        },
      ],
    })
    expect(issuesOf(() => fromJson(S, json)).map((i) => [i.path, i.code])).toEqual([
      ['conns[0].id.orig_h', 'format'],
      ['m{"k"}', 'type'],
      ['tags[1]', 'duplicate'],
    ])
  })

  test('bad input is always a ValidationError', () => {
    for (const bad of [
      '',
      '{',
      '[1,]',
      '{"@data-type":"count"}',
      'null',
      '"x"',
      '{"@data-type":"count","data":-1}',
      'nul',
    ]) {
      expect(() => fromJson(t.count(), bad)).toThrow(ValidationError)
    }
    expect(() => fromJson(t.vector(t.count()), `${'['.repeat(200_000)}${']'.repeat(200_000)}`)).toThrow(
      ValidationError,
    )
    expect(() => fromJson(t.count(), 5 as never)).toThrow(ValidationError)
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error('boom')
        },
      },
    )
    expect(() => fromJson(t.count(), hostile)).toThrow(ValidationError)
    expect(() => toJson(t.count(), 1 as never)).toThrow(ValidationError)
  })
})
