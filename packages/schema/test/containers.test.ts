/**
 * Fixed cases for sets, vectors, tables and records, composite table keys included.
 */
import { describe, expect, test } from 'vitest'
import { DecodeError, fromJson, t, toJson, ValidationError } from '../src/index.js'
import { bytes, codes, hex } from './helpers.js'

describe('containers', () => {
  test('empty set, vector and table', () => {
    expect(hex(t.set(t.string()).encode(new Set()))).toBe('90')
    expect(hex(t.vector(t.string()).encode([]))).toBe('90')
    expect(hex(t.table(t.string(), t.count()).encode(new Map()))).toBe('80')
    expect(t.set(t.string()).decode(bytes('90'))).toEqual(new Set())
    expect(t.table(t.string(), t.count()).decode(bytes('80'))).toEqual(new Map())
  })

  test('large containers use 16- and 32-bit headers', () => {
    const many = Array.from({ length: 70_000 }, (_, i) => BigInt(i))
    const V = t.vector(t.count())
    expect(hex(V.encode(many.slice(0, 16))).slice(0, 6)).toBe('dc0010')
    expect(hex(V.encode(many)).slice(0, 10)).toBe('dd00011170')
    expect(V.decode(V.encode(many))).toEqual(many)
    const M = t.table(t.count(), t.bool())
    const map = new Map(many.slice(0, 20).map((k) => [k, true]))
    expect(hex(M.encode(map)).slice(0, 6)).toBe('de0014')
    expect(M.decode(M.encode(map))).toEqual(map)
  })

  test('composite table keys: records as keys, compared by value', () => {
    const Key = t.record({ h: t.addr(), p: t.port() })
    const M = t.table(Key, t.vector(t.string()))
    const m = new Map([
      [{ h: '10.0.0.1', p: { port: 80, proto: 'tcp' as const } }, ['a']],
      [{ h: '10.0.0.1', p: { port: 80, proto: 'udp' as const } }, ['b', 'c']],
      [{ h: '2001:db8::1', p: { port: 80, proto: 'tcp' as const } }, []],
    ])
    expect(M.decode(M.encode(m))).toEqual(m)
    const dup = M.encode(new Map([[{ h: '10.0.0.1', p: { port: 80, proto: 'tcp' as const } }, ['a']]]))
    // Forge a map of two equal keys: the decoder refuses it.
    const forged = new Uint8Array([0x82, ...dup.subarray(1), ...dup.subarray(1)])
    expect(() => M.decode(forged)).toThrow(/duplicate table key/)
  })

  test('sets of ports and sets of sets', () => {
    const S = t.set(t.port())
    const s = new Set([
      { port: 1, proto: 'tcp' as const },
      { port: 1, proto: 'udp' as const },
    ])
    expect(S.decode(S.encode(s))).toEqual(s)
    const SS = t.set(t.set(t.count()))
    const ss = new Set([new Set([1n, 2n]), new Set<bigint>()])
    expect(SS.decode(SS.encode(ss))).toEqual(ss)
    expect(() => SS.encode(new Set([new Set([1n, 2n]), new Set([2n, 1n])]))).toThrow(/equal by value/)
    expect(() => t.set(t.string()).decode(bytes('92a161a161'))).toThrow(/duplicate set element/)
  })

  test('a defaulted element or key: undefined and the default are one value, not two', () => {
    // They were two entries to validate and encode, and the bytes then failed to decode.
    const S = t.set(t.count().default(1n))
    expect(codes(S, new Set([undefined, 1n]))).toEqual([['[1]', 'duplicate']])
    expect(() => S.encode(new Set([undefined, 1n]))).toThrow(/equal by value/)
    expect(S.decode(S.encode(new Set([undefined, 2n])))).toEqual(new Set([1n, 2n]))
    const M = t.table(t.string().default('x'), t.count())
    const m = new Map<string | undefined, bigint>([
      [undefined, 1n],
      ['x', 2n],
    ])
    expect(codes(M, m)).toEqual([['{key #1}', 'duplicate']])
    expect(() => M.encode(m)).toThrow(/equal by value/)
    expect(M.decode(M.encode(new Map([[undefined, 1n]])))).toEqual(new Map([['x', 1n]]))
    expect(fromJson(S, toJson(S, new Set([undefined, 2n])))).toEqual(new Set([1n, 2n]))
  })

  test('forged lengths are checked before allocating', () => {
    expect(() => t.vector(t.count()).decode(bytes('ddffffffff00'))).toThrow(DecodeError)
    expect(() => t.table(t.count(), t.count()).decode(bytes('dfffffffff0000'))).toThrow(DecodeError)
    expect(() => t.string().decode(bytes('dbffffffff61'))).toThrow(DecodeError)
    expect(() => t.addr().decode(bytes('c6ffffffff00'))).toThrow(DecodeError)
    // An unknown trailing record field with forged nesting is skipped without recursion.
    const R = t.record({ a: t.bool() })
    const deep = new Uint8Array([0x92, 0xc3, ...new Array(100_000).fill(0x91), 0xc0])
    expect(R.decode(deep)).toEqual({ a: true })
    expect(() => R.decode(new Uint8Array([0x92, 0xc3, ...new Array(100).fill(0x91)]))).toThrow(DecodeError)
    expect(() => R.decode(bytes('92c3c1'))).toThrow(DecodeError)
  })

  test('records: fields in order, defaults filled, wrong kinds refused', () => {
    const R = t.record({ a: t.count(), b: t.string().optional(), c: t.vector(t.count()).default([1n]) })
    expect(hex(R.encode({ a: 1n }))).toBe('9301c09101')
    const one = R.decode(R.encode({ a: 1n }))
    const two = R.decode(R.encode({ a: 1n }))
    expect(one).toEqual({ a: 1n, c: [1n] })
    // Each decoded default is a fresh copy.
    one.c.push(2n)
    expect(two.c).toEqual([1n])
    expect(R.decode(bytes('9101'))).toEqual({ a: 1n, c: [1n] })
    expect(() => R.decode(bytes('81a16101'))).toThrow(DecodeError)
    expect(() => R.decode(bytes('90'))).toThrow(/required field "a"/)
  })

  test('records are plain objects: a Date, a Promise or a class instance is refused, not stored as {}', () => {
    const R = t.record({ a: t.string().optional() })
    class Thing {
      a = 'x'
    }
    for (const value of [new Date(), Promise.resolve({ a: 'x' }), new Thing(), new Map(), []]) {
      expect(R.validate(value).map((issue) => issue.code)).toEqual(['type'])
      expect(() => R.encode(value as never)).toThrow(ValidationError)
    }
    expect(R.decode(R.encode(Object.assign(Object.create(null), { a: 'x' })))).toEqual({ a: 'x' })
    expect(R.decode(R.encode({}))).toEqual({})
  })

  test('records with more than 15 fields', () => {
    const fields = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, t.count().optional()]))
    const R = t.record(fields)
    const value = { f0: 1n, f17: 2n }
    const enc = R.encode(value)
    expect(hex(enc).slice(0, 6)).toBe('dc0012')
    expect(R.decode(enc)).toEqual(value)
  })

  test('encode is re-entrant (a getter that encodes)', () => {
    const S = t.record({ a: t.string() })
    const inner = S.encode({ a: 'inner' })
    const v = {
      get a() {
        return S.decode(S.encode({ a: 'x' })).a + inner.length
      },
    }
    expect(S.decode(S.encode(v))).toEqual({ a: 'x7' })
  })
})
