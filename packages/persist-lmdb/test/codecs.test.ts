import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeDeadline, decodeEntry, encodeDeadline, encodeEntry } from '../src/entry-codec.js'
import {
  decodeShortKey,
  encodeKey,
  isLongKey,
  keyAfter,
  prefixRange,
  SHORT_KEY_MAX,
} from '../src/key-codec.js'
import { storeFiles } from '../src/store-files.js'

/** Well-formed strings, sometimes longer than a stored key keeps. */
const keyArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc
    .tuple(fc.string({ maxLength: 3 }), fc.integer({ min: 1000, max: 1100 }))
    .map(([s, n]) => 'é'.repeat(n / 2) + s),
)
const compareBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b))
/** Code point order, which UTF-8 byte order follows. */
const compareCodePoints = (a: string, b: string) => {
  const x = [...a].map((c) => c.codePointAt(0)!)
  const y = [...b].map((c) => c.codePointAt(0)!)
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return x.length - y.length
}

describe('key codec', () => {
  it('is injective, and short keys round-trip', () => {
    fc.assert(
      fc.property(keyArb, keyArb, (a, b) => {
        const ea = encodeKey(a)
        const eb = encodeKey(b)
        expect(ea.bytes.equals(eb.bytes)).toBe(a === b)
        if (!isLongKey(ea.bytes)) expect(decodeShortKey(ea.bytes)).toBe(a)
        else expect(ea.full?.toString('utf8')).toBe(a)
      }),
    )
  })

  it('keeps code point order between short keys', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const order = Math.sign(compareBytes(encodeKey(a).bytes, encodeKey(b).bytes))
        expect(order).toBe(Math.sign(compareCodePoints(a, b)))
      }),
    )
  })

  it('puts every key extending a prefix inside the prefix range, and no other', () => {
    fc.assert(
      fc.property(keyArb, keyArb, (prefix, key) => {
        const { start, end, exact } = prefixRange(prefix)
        const stored = encodeKey(key).bytes
        const inside = compareBytes(stored, start) >= 0 && compareBytes(stored, end) < 0
        if (key.startsWith(prefix)) expect(inside).toBe(true)
        else if (exact) expect(inside).toBe(false)
      }),
    )
    expect(prefixRange('x'.repeat(SHORT_KEY_MAX + 1)).exact).toBe(false)
  })

  it('keyAfter is the next stored key', () => {
    const k = encodeKey('ab').bytes
    expect(compareBytes(keyAfter(k), k)).toBe(1)
    expect(compareBytes(keyAfter(k), encodeKey('ab\u0000').bytes)).toBe(0)
  })

  it('refuses unpaired surrogates', () => {
    expect(() => encodeKey('a\uD800')).toThrow(TypeError)
    expect(() => encodeKey(5 as never)).toThrow(TypeError)
  })
})

describe('entry codec', () => {
  it('round-trips value, seq, deadline and full key; values are plain Uint8Arrays', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: undefined }),
        fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
        (value, seq, deadline, fullKey) => {
          const full = fullKey === undefined ? undefined : Buffer.from(fullKey)
          const raw = encodeEntry(value, seq, deadline, full)
          const decoded = decodeEntry(raw)
          expect(decoded.entry).toEqual({ value, seq, deadline })
          expect(Object.getPrototypeOf(decoded.entry.value)).toBe(Uint8Array.prototype)
          expect(decoded.key).toBe(full?.toString('utf8'))
          if (deadline !== undefined) {
            expect(decodeDeadline(encodeDeadline(deadline, full))).toEqual({ deadline, key: decoded.key })
          }
        },
      ),
    )
  })

  it('throws RangeError on malformed records', () => {
    expect(() => decodeEntry(Buffer.alloc(0))).toThrow(RangeError)
    expect(() => decodeEntry(Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(RangeError)
    expect(() => decodeEntry(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]))).toThrow(RangeError)
    expect(() => decodeDeadline(Buffer.alloc(3))).toThrow(RangeError)
  })
})

describe('store file names', () => {
  it('are injective and safe, also on case-insensitive file systems', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
        const fa = storeFiles('/d', a).data
        const fb = storeFiles('/d', b).data
        expect(fa.toLowerCase() === fb.toLowerCase()).toBe(a === b)
        expect(fa.slice(3)).toMatch(/^[a-z0-9_%A-F~-]+\.mdb$/)
      }),
    )
    expect(storeFiles('/d', 'kv').data).toBe('/d/kv.mdb')
    expect(storeFiles('/d', 'x'.repeat(500)).data.length).toBeLessThan(140)
  })
})
