/**
 * The exact-integer JSON parser.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { JsonSyntaxError, parseJson } from '../src/json-parse.js'

describe('parseJson', () => {
  test('agrees with JSON.parse on ordinary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v)
        // Integers beyond 2^53 are bigints by design; as numbers they equal JSON.parse's.
        const asNumbers = (x: unknown): unknown =>
          JSON.parse(JSON.stringify(x, (_, y) => (typeof y === 'bigint' ? Number(y) : y)))
        expect(asNumbers(parseJson(text))).toEqual(JSON.parse(text))
        expect(asNumbers(parseJson(JSON.stringify(v, null, 2)))).toEqual(JSON.parse(text))
      }),
      { numRuns: 300 },
    )
  })

  test('keeps big integers exact and -0 negative', () => {
    expect(parseJson('18446744073709551615')).toBe(18446744073709551615n)
    expect(parseJson('-9223372036854775808')).toBe(-9223372036854775808n)
    expect(parseJson('9007199254740991')).toBe(9007199254740991)
    expect(parseJson('123456789012345678901234567890.5')).toBe(1.2345678901234568e29)
    expect(Object.is(parseJson('-0'), -0)).toBe(true)
  })

  test('strings, escapes and __proto__ keys', () => {
    expect(parseJson('"a\\u00e9\\ud83d\\ude00\\n\\"\\/"')).toBe('aé😀\n"/')
    const o = parseJson('{"__proto__":{"x":1}}') as Record<string, unknown>
    expect(Object.getPrototypeOf(o)).toBe(null)
    expect(Object.getOwnPropertyDescriptor(o, '__proto__')?.value).toEqual({ x: 1 })
  })

  test('errors', () => {
    for (const bad of [
      '',
      ' ',
      '{',
      '[1,]',
      '{"a":1,}',
      '01',
      '1.',
      '.5',
      '"\\x"',
      '"\n"',
      'tru',
      '[1] 2',
      '{"a" 1}',
      '"abc',
    ]) {
      expect(() => parseJson(bad)).toThrow(JsonSyntaxError)
    }
  })

  test('deep nesting does not use the stack', () => {
    const depth = 500_000
    let v = parseJson(`${'['.repeat(depth)}${']'.repeat(depth)}`)
    let n = 0
    while (Array.isArray(v) && v.length > 0) {
      v = v[0]!
      n++
    }
    expect(n).toBe(depth - 1)
  })
})
