import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { sqlitePersistence } from '../src/index.js'
import { prefixEnd } from '../src/key-range.js'
import { contents, opts, put, tempDir } from './helpers.js'

/** SQLite's BINARY collation: the bytes of the UTF-8 encoding. */
const utf8Compare = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

/** Strings of any code points, drawn from a few that sit at the edges of UTF-8's ranges. */
const edgy = fc.string({
  unit: fc.constantFrom(
    'a',
    'b',
    '\u0000',
    '\u007f',
    '\u0080',
    '\u07ff',
    '\u0800',
    '\ud7ff',
    '\ue000',
    '\uffff',
    '\u{10000}',
    '\u{10ffff}',
  ),
  maxLength: 5,
})
const any = fc.oneof(edgy, fc.string({ unit: 'binary', maxLength: 6 }))

describe('prefixEnd', () => {
  it('is undefined for the empty prefix and prefixes of U+10FFFF only', () => {
    expect(prefixEnd('')).toBeUndefined()
    expect(prefixEnd('\u{10ffff}\u{10ffff}')).toBeUndefined()
    expect(prefixEnd('a')).toBe('b')
    expect(prefixEnd('a/')).toBe('a0')
    expect(prefixEnd('a\u{10ffff}')).toBe('b')
    expect(prefixEnd('a\ud7ff')).toBe('a\ue000')
    expect(prefixEnd('a\uffff')).toBe('a\u{10000}')
    // A lone surrogate reaches SQLite as U+FFFD.
    expect(prefixEnd('a\ud800')).toBe('a\ufffe')
  })

  it('bounds exactly the strings that start with the prefix, in UTF-8 byte order', () => {
    fc.assert(
      fc.property(any, any, fc.boolean(), (prefix, rest, extend) => {
        const candidate = extend ? prefix + rest : rest
        const end = prefixEnd(prefix)
        const inRange =
          utf8Compare(candidate, prefix) >= 0 && (end === undefined || utf8Compare(candidate, end) < 0)
        expect(inRange).toBe(candidate.startsWith(prefix))
      }),
      { numRuns: 2_000 },
    )
  })

  it('snapshot(prefix) over a real file returns exactly the keys with that prefix', async () => {
    const backend = await sqlitePersistence({ path: tempDir() }).open('s', opts())
    let seq = 0
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(any, { maxLength: 12 }), any, async (keys, prefix) => {
        await backend.commit([{ kind: 'clear', seq: ++seq }, ...keys.map((key) => put(key, 'v', ++seq))])
        const found = Object.keys(contents(backend, prefix))
        const expected = keys.filter((key) => key.startsWith(prefix)).sort(utf8Compare)
        expect(found).toEqual(expected)
      }),
      { numRuns: 150 },
    )
    await backend.close()
  })
})
