/**
 * `key<TAB>value` lines (README "Key<TAB>value lines"): the escapes `export` writes, what
 * `import` reads back, and that such a line is never taken for another format.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { sniffFormat } from '../src/commands/transfer-commands.js'
import { formatKvLine, parseKvLine } from '../src/kv-line.js'
import { textArb } from './support/values.js'

describe('formatKvLine', () => {
  test.each([
    ['k', 'v', 'k\tv'],
    ['a\tb', 'c\td', 'a\\x09b\tc\\x09d'],
    ['line', 'one\ntwo\r\nthree', 'line\tone\\x0atwo\\x0d\\x0athree'],
    ['back\\slash', 'C:\\temp\\x41', 'back\\\\slash\tC:\\\\temp\\\\x41'],
    ['nul', '\u0000\u001b[31m\u007f', 'nul\t\\x00\\x1b[31m\\x7f'],
    ['#fields', 'x', '\\x23fields\tx'],
    ['{"key":"k"}', 'x', '\\x7b"key":"k"}\tx'],
    ['  {', 'x', '\\x20 {\tx'],
    ['a#{ ', ' #{', 'a#{ \t #{'],
    ['', '', '\t'],
    ['é ü 中 😀', 'é ü 中 😀', 'é ü 中 😀\té ü 中 😀'],
  ])('%j = %j → %j', (key, value, line) => {
    expect(formatKvLine(key, value)).toBe(line)
    expect(parseKvLine(line)).toEqual({ key, value })
  })
})

describe('parseKvLine', () => {
  test('a backslash that starts no escape stands for itself', () => {
    expect(parseKvLine('C:\\temp\\new\t\\x4\\xZZ\\')).toEqual({ key: 'C:\\temp\\new', value: '\\x4\\xZZ\\' })
  })

  test('the first TAB splits; a line without one is an error', () => {
    expect(parseKvLine('k\tv\tw')).toEqual({ key: 'k', value: 'v\tw' })
    expect(() => parseKvLine('no tab')).toThrow('expected key<TAB>value')
  })
})

test('a property: any key and value make one line, read as key<TAB>value, that gives them back', () => {
  fc.assert(
    fc.property(textArb, textArb, (key, value) => {
      const line = formatKvLine(key, value)
      expect(line).not.toMatch(/[\n\r]/)
      expect(line.split('\t')).toHaveLength(2)
      expect(sniffFormat(line)).toBe('kv')
      expect(parseKvLine(line)).toEqual({ key, value })
    }),
    { numRuns: 2000 },
  )
})
