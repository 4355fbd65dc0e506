/**
 * The Zeek type parser: every type, nesting, attributes, named types, and errors that say
 * what was expected where.
 */
import { t } from '@concord/schema'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { TypeSyntaxError } from '../src/errors.js'
import { formatZeekType, parseZeekType } from '../src/zeek-types.js'

/** The canonical description of a parsed type (equal descriptions: equal schemas). */
const parsed = (text: string) => parseZeekType(text).describe()

function failure(text: string): TypeSyntaxError {
  try {
    parseZeekType(text)
  } catch (error) {
    expect(error).toBeInstanceOf(TypeSyntaxError)
    return error as TypeSyntaxError
  }
  throw new Error(`'${text}' parsed`)
}

describe('types', () => {
  test.each([
    ['bool', t.bool()],
    ['int', t.int()],
    ['count', t.count()],
    ['double', t.double()],
    ['string', t.string()],
    ['time', t.time()],
    ['interval', t.interval()],
    ['port', t.port()],
    ['addr', t.addr()],
    ['subnet', t.subnet()],
  ])('%s', (text, schema) => {
    expect(parsed(text)).toBe(schema.describe())
  })

  test('containers', () => {
    expect(parsed('set[string]')).toBe(t.set(t.string()).describe())
    expect(parsed('vector of count')).toBe(t.vector(t.count()).describe())
    expect(parsed('table[addr] of count')).toBe(t.table(t.addr(), t.count()).describe())
    expect(parsed('enum { tcp, udp, icmp }')).toBe(t.enum(['tcp', 'udp', 'icmp']).describe())
    expect(parsed('enum { Conn::LOG, Notice::LOG, }')).toBe(t.enum(['Conn::LOG', 'Notice::LOG']).describe())
  })

  test("records nest, with &optional, &default and Zeek's &log", () => {
    const text = `record {
      ts: time &log;
      uid: string;
      id: record { orig_h: addr; orig_p: port; resp_h: addr; resp_p: port };
      service: string &optional;   # absent for most connections
      missed_bytes: count &default=0 &log;
      tags: set[string] &default={a, "b c"};
      note: string &default="-"
    }`
    const expected = t.record({
      ts: t.time(),
      uid: t.string(),
      id: t.record({ orig_h: t.addr(), orig_p: t.port(), resp_h: t.addr(), resp_p: t.port() }),
      service: t.string().optional(),
      missed_bytes: t.count().default(0n),
      tags: t.set(t.string()).default(new Set(['a', 'b c'])),
      note: t.string().default('-'),
    })
    expect(parsed(text)).toBe(expected.describe())
  })

  test('deep nesting', () => {
    const text = 'table[record { a: addr; p: port }] of vector of set[enum { x, y }]'
    const expected = t.table(t.record({ a: t.addr(), p: t.port() }), t.vector(t.set(t.enum(['x', 'y']))))
    expect(parsed(text)).toBe(expected.describe())
  })

  test('named types resolve through the option', () => {
    const connId = t.record({ orig_h: t.addr(), resp_h: t.addr() })
    const schema = parseZeekType('record { id: conn_id; ids: set[conn_id] }', {
      resolve: (name) => (name === 'conn_id' ? connId : undefined),
    })
    expect(schema.describe()).toBe(t.record({ id: connId, ids: t.set(connId) }).describe())
  })

  test('formatZeekType writes what parseZeekType reads', () => {
    const texts = [
      'count',
      'set[string]',
      'vector of count',
      'table[addr] of count',
      'enum { tcp, udp, icmp }',
      'record { ts: time; uid: string; id: record { orig_h: addr; orig_p: port }; service: string &optional }',
      'record { n: count &default=3; d: interval &default=1.5s; p: port &default=80/tcp; s: string &default="x y" }',
    ]
    for (const text of texts) {
      const schema = parseZeekType(text)
      expect(parseZeekType(formatZeekType(schema)).describe()).toBe(schema.describe())
    }
    expect(formatZeekType(parseZeekType('record{a:count&optional;b:set[addr]}'))).toBe(
      'record { a: count &optional; b: set[addr] }',
    )
  })

  test('any nesting of types round-trips through formatZeekType', () => {
    const scalar = fc.constantFrom(
      'bool',
      'int',
      'count',
      'double',
      'string',
      'time',
      'interval',
      'port',
      'addr',
      'subnet',
    )
    const type = fc.letrec<{ type: string }>((tie) => ({
      type: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        scalar,
        tie('type').map((e) => `set[${e}]`),
        tie('type').map((e) => `vector of ${e}`),
        fc.tuple(tie('type'), tie('type')).map(([k, v]) => `table[${k}] of ${v}`),
        fc
          .array(fc.tuple(tie('type'), fc.boolean()), { minLength: 1, maxLength: 4 })
          .map(
            (fields) =>
              `record { ${fields.map(([f, opt], i) => `f${i}: ${f}${opt ? ' &optional' : ''}`).join('; ')} }`,
          ),
      ),
    })).type
    fc.assert(
      fc.property(type, (text) => {
        const schema = parseZeekType(text)
        expect(parseZeekType(formatZeekType(schema)).describe()).toBe(schema.describe())
      }),
      { numRuns: 200 },
    )
  })
})

describe('errors say what was expected, at which line and column', () => {
  test.each([
    ['record { ts: time uid: string }', "expected ';' after field 'ts', found 'uid'", 1, 19],
    [
      'set[addr, port]',
      'a set with several index types is not supported: use set[record { … }] as a composite index',
      1,
      9,
    ],
    ['cont', "unknown type 'cont' (did you mean 'count'?)", 1, 1],
    ['record {\n  a: count;\n  b: strng;\n}', "unknown type 'strng' (did you mean 'string'?)", 3, 6],
    ['vector count', "expected 'of' after 'vector' (write 'vector of T'), found 'count'", 1, 8],
    ['table[addr] count', "expected 'of' after 'table[…]' (write 'table[K] of V'), found 'count'", 1, 13],
    ['set[string', "expected ']' to close set[…], found the end of the type", 1, 11],
    ['enum { a, a }', "enum name 'a' appears twice", 1, 11],
    ['enum { }', "expected an enum name, found '}'", 1, 8],
    ['record { a: count; a: string }', "field 'a' appears twice", 1, 20],
    ['count &optional', "attributes like '&optional' belong to record fields, not to a whole type", 1, 7],
    ['record { a: count &optional &default=1 }', "field 'a' already has &optional", 1, 29],
    [
      'record { a: count &default=x }',
      'bad &default for field \'a\': expected a count (an integer >= 0), found "x"',
      1,
      28,
    ],
    [
      'record { a: count &redef }',
      'attribute &redef is not supported here (supported: &optional, &default=…, &log)',
      1,
      19,
    ],
    ['pattern', "the Zeek type 'pattern' cannot be stored by Concord", 1, 1],
    ['', 'expected a type, found nothing', 1, 1],
    ['count count', "unexpected 'count' after the type", 1, 7],
    ['set[string] $', 'unexpected character "$"', 1, 13],
    ['record { 1a: count }', 'unexpected character "1"', 1, 10],
  ])('%j', (text, reason, line, column) => {
    const error = failure(text)
    expect(error.code).toBe('ERR_TYPE_SYNTAX')
    expect(error.reason).toBe(reason)
    expect([error.line, error.column]).toEqual([line, column])
    expect(error.message).toBe(`${reason} (line ${line}, column ${column})`)
  })

  test('a type name the resolver does not know lists the names it does', () => {
    const error = failure('record { id: nope }')
    expect(error.reason).toBe(
      "unknown type 'nope'; expected one of bool, int, count, double, string, time, interval, port, addr, subnet, enum, set, vector, table, record",
    )
    try {
      parseZeekType('conn_i', { resolve: () => undefined, names: ['conn_id'] })
    } catch (e) {
      expect((e as TypeSyntaxError).reason).toBe("unknown type 'conn_i' (did you mean 'conn_id'?)")
    }
  })
})
