/**
 * fast-check arbitraries for the types whose human form reads back (every simple type, and
 * sets and vectors of them), with the keys and strings that are hard to write on a line.
 */
import { type AnySchemaType, addr, subnet, toJson } from '@concord/schema'
import fc from 'fast-check'
import { parseZeekType } from '../../src/zeek-types.js'

/** Texts that broke or could break a `key<TAB>value` line, or import's guess of the format. */
export const TRICKY_TEXTS = [
  '',
  ' ',
  '  {',
  '#',
  '#fields\tts',
  '{',
  '{"key":"k","value":1}',
  '{"@data-type":"count","data":1}',
  '{"@data-type":"string","data":"x"}',
  '\t',
  'a\tb',
  'a\nb',
  '\r',
  'a\r\nb',
  '\\',
  '\\\\',
  '\\x09',
  'C:\\temp',
  '\u0000\u001f\u007f',
  '\u00a0{',
  '\u2028',
  '-',
  '(empty)',
  ' padded ',
] as const

/** Any text: tricky ones, ASCII with control characters, any code point. */
export const textArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...TRICKY_TEXTS),
  fc.string({ unit: 'binary-ascii', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
)

const I64 = fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n)
const ip = fc.oneof(fc.ipV4(), fc.ipV6())

/** The simple types, by Zeek type, with values of each. */
export const SCALARS: Readonly<Record<string, fc.Arbitrary<unknown>>> = {
  bool: fc.boolean(),
  int: I64,
  count: fc.bigInt(0n, 2n ** 64n - 1n),
  double: fc.oneof(fc.constantFrom(-0, 0, 5e-324, 1e21), fc.double({ noNaN: true, noDefaultInfinity: true })),
  string: textArb,
  time: I64,
  interval: I64,
  port: fc.record({
    port: fc.integer({ min: 0, max: 65535 }),
    proto: fc.constantFrom('tcp', 'udp', 'icmp', 'unknown'),
  }),
  addr: ip.map((a) => addr.canonical(a)),
  subnet: fc
    .tuple(ip, fc.nat(128))
    .map(([a, bits]) => subnet.canonical(`${a}/${a.includes(':') ? bits : bits % 33}`)),
  'enum { tcp, Notice::Port_Scan }': fc.constantFrom('tcp', 'Notice::Port_Scan'),
}

/** Every Zeek type whose human form reads back: the simple ones, and sets and vectors of them. */
export const HUMAN_TYPES: readonly string[] = Object.keys(SCALARS).flatMap((type) => [
  type,
  `set[${type}]`,
  `vector of ${type}`,
])

/** Values of `type`, one of {@link HUMAN_TYPES}. */
export function humanValueArb(type: string): fc.Arbitrary<unknown> {
  const list = /^(set\[(.*)\]|vector of (.*))$/.exec(type)
  if (list === null) return SCALARS[type]!
  const element = list[2] ?? list[3]!
  const items = SCALARS[element]!
  if (list[3] !== undefined) return fc.array(items, { maxLength: 4 })
  const schema: AnySchemaType = parseZeekType(element)
  // Distinct values, also for a Set (which holds -0 and 0 as one).
  return fc
    .uniqueArray(items, { maxLength: 4, selector: (x) => toJson(schema, x as never) })
    .filter((xs) => new Set(xs).size === xs.length)
    .map((xs) => new Set(xs))
}
