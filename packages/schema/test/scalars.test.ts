/**
 * Fixed cases for bool, int, count, double, string and enum: values, wire forms, issues.
 */
import { describe, expect, test } from 'vitest'
import { DecodeError, t, ValidationError } from '../src/index.js'
import { bytes, codes, hex, issuesOf } from './helpers.js'

const MIN_I64 = -(2n ** 63n)
const MAX_I64 = 2n ** 63n - 1n
const MAX_U64 = 2n ** 64n - 1n

describe('bool', () => {
  test('wire form and round trip', () => {
    expect(hex(t.bool().encode(true))).toBe('c3')
    expect(hex(t.bool().encode(false))).toBe('c2')
    expect(t.bool().decode(bytes('c3'))).toBe(true)
  })
  test('issues', () => {
    expect(codes(t.bool(), 1)).toEqual([['', 'type']])
    expect(() => t.bool().decode(bytes('01'))).toThrow(DecodeError)
  })
})

describe('int', () => {
  const cases: [bigint, string][] = [
    [0n, '00'],
    [127n, '7f'],
    [-1n, 'ff'],
    [-32n, 'e0'],
    [-33n, 'd0df'],
    [255n, 'ccff'],
    [-32768n, 'd18000'],
    [65536n, 'ce00010000'],
    [2n ** 32n, 'cf0000000100000000'],
    [MAX_I64, 'cf7fffffffffffffff'],
    [MIN_I64, 'd38000000000000000'],
  ]
  test.each(cases)('%s is %s on the wire and round-trips', (v, wire) => {
    expect(hex(t.int().encode(v))).toBe(wire)
    expect(t.int().decode(bytes(wire))).toBe(v)
  })
  test('only bigints in int64 are valid', () => {
    expect(codes(t.int(), 3)).toEqual([['', 'type']])
    expect(t.int().validate(3)[0]!.message).toContain('nothing is rounded')
    expect(codes(t.int(), MAX_I64 + 1n)).toEqual([['', 'range']])
    expect(codes(t.int(), MIN_I64 - 1n)).toEqual([['', 'range']])
    expect(codes(t.int(), '1')).toEqual([['', 'type']])
  })
  test('encode throws ValidationError; decode refuses out-of-range uint64', () => {
    expect(() => t.int().encode(1 as never)).toThrow(ValidationError)
    expect(() => t.int().decode(bytes('cf8000000000000000'))).toThrow(DecodeError)
    // Any width is accepted: the writer chooses the width, the type chooses the range.
    expect(t.int().decode(bytes('d300000000000000ff'))).toBe(255n)
  })
})

describe('count', () => {
  test('2^64-1 round-trips exactly', () => {
    expect(hex(t.count().encode(MAX_U64))).toBe('cfffffffffffffffff')
    expect(t.count().decode(t.count().encode(MAX_U64))).toBe(MAX_U64)
  })
  test('negative or too large is a range issue; negative wire values are refused', () => {
    expect(codes(t.count(), -1n)).toEqual([['', 'range']])
    expect(codes(t.count(), MAX_U64 + 1n)).toEqual([['', 'range']])
    expect(() => t.count().decode(bytes('ff'))).toThrow(DecodeError)
    expect(() => t.count().decode(bytes('d3ffffffffffffffff'))).toThrow(DecodeError)
  })
})

describe('double', () => {
  test('finite values round-trip, -0 included', () => {
    for (const v of [0, -0, 1.5, -7.5, Number.MAX_VALUE, Number.MIN_VALUE, 1e21, 2 ** 53 + 2]) {
      expect(Object.is(t.double().decode(t.double().encode(v)), v)).toBe(true)
    }
    expect(hex(t.double().encode(1.5))).toBe('cb3ff8000000000000')
  })
  test('NaN and infinities are range issues, on the wire too', () => {
    expect(codes(t.double(), Number.NaN)).toEqual([['', 'range']])
    expect(codes(t.double(), Number.POSITIVE_INFINITY)).toEqual([['', 'range']])
    expect(codes(t.double(), Number.NEGATIVE_INFINITY)).toEqual([['', 'range']])
    expect(codes(t.double(), 1n)).toEqual([['', 'type']])
    expect(() => t.double().decode(bytes('cb7ff8000000000000'))).toThrow(DecodeError)
    expect(() => t.double().decode(bytes('ca7f800000'))).toThrow(DecodeError)
    expect(t.double().decode(bytes('ca3fc00000'))).toBe(1.5)
  })
})

describe('string', () => {
  const samples = [
    '',
    'a',
    'x'.repeat(31),
    'x'.repeat(32),
    'x'.repeat(300),
    'x'.repeat(70_000),
    'héllo wörld',
    '日本語のテキスト',
    '👩‍👩‍👧 family, 🇨🇭 flag',
    '\u{10FFFF}\u0000\u007f\u0080\u07ff\u0800\uffff',
    '\uFEFFleading byte order mark',
    'ü'.repeat(100),
    `${'a'.repeat(50)}😀${'b'.repeat(50)}`,
  ]
  test.each(samples.map((s) => [s.slice(0, 20), s]))('%s round-trips', (_, s) => {
    expect(t.string().decode(t.string().encode(s))).toBe(s)
  })
  test('header widths', () => {
    expect(hex(t.string().encode('ab'))).toBe('a26162')
    expect(hex(t.string().encode('x'.repeat(32))).slice(0, 4)).toBe('d920')
    expect(hex(t.string().encode('x'.repeat(256))).slice(0, 6)).toBe('da0100')
    expect(hex(t.string().encode('x'.repeat(70_000))).slice(0, 10)).toBe('db00011170')
    // Non-ASCII beyond the native threshold shrinks its header to the exact length.
    expect(hex(t.string().encode('é'.repeat(100))).slice(0, 4)).toBe('d9c8')
  })
  test('a lone surrogate is a format issue (UTF-8 cannot carry it)', () => {
    expect(codes(t.string(), 'a\ud800b')).toEqual([['', 'format']])
    expect(codes(t.string(), '\udc00')).toEqual([['', 'format']])
    expect(codes(t.string(), `${'x'.repeat(100)}\ud800`)).toEqual([['', 'format']])
    expect(issuesOf(() => t.string().encode('\ud800'))[0]!.code).toBe('format')
    expect(issuesOf(() => t.string().encode(`${'x'.repeat(100)}\udfff`))[0]!.code).toBe('format')
  })
  test('invalid UTF-8 is a DecodeError', () => {
    expect(() => t.string().decode(bytes('a1ff'))).toThrow(DecodeError)
    expect(() => t.string().decode(bytes('a2c0af'))).toThrow(DecodeError) // overlong '/'
    expect(() => t.string().decode(bytes('a3eda080'))).toThrow(DecodeError) // encoded surrogate
    expect(() => t.string().decode(bytes('a5616263'))).toThrow(DecodeError) // truncated
  })
})

describe('enum', () => {
  const Proto = t.enum(['tcp', 'udp', 'icmp'])
  test('encodes the index', () => {
    expect(hex(Proto.encode('icmp'))).toBe('02')
    expect(Proto.decode(bytes('01'))).toBe('udp')
  })
  test('unknown names and indexes', () => {
    expect(codes(Proto, 'sctp')).toEqual([['', 'enum']])
    expect(codes(Proto, 0)).toEqual([['', 'type']])
    expect(Proto.validate('sctp')[0]!.message).toContain('"tcp", "udp", "icmp"')
    expect(() => Proto.decode(bytes('03'))).toThrow(DecodeError)
  })
  test('builder checks its names', () => {
    expect(() => t.enum([] as unknown as ['a'])).toThrow(TypeError)
    expect(() => t.enum(['a', 'a'])).toThrow(TypeError)
  })
})

describe('decode framing', () => {
  test('trailing bytes, empty input and non-Uint8Array input', () => {
    expect(() => t.bool().decode(bytes('c3c3'))).toThrow(/left over/)
    expect(() => t.bool().decode(new Uint8Array())).toThrow(DecodeError)
    expect(() => t.bool().decode([0xc3] as unknown as Uint8Array)).toThrow(TypeError)
    expect(t.bool().decode(Buffer.from([0xc3]))).toBe(true)
    const e = (() => {
      try {
        t.count().decode(bytes('cd01'))
      } catch (error) {
        return error as DecodeError
      }
    })()
    expect(e?.code).toBe('ERR_DECODE')
    expect(e?.offset).toBe(1)
  })
})
