/**
 * Reading Zeek logs into rows of a store's record schema: the TSV reader and Zeek's JSON log
 * lines, with the real conn-sample.log and altered copies of it.
 */
import { readFileSync } from 'node:fs'
import { decode, encode, t, ValidationError } from '@concord/schema'
import { describe, expect, expectTypeOf, test } from 'vitest'
import { zeekData } from '../../../test-support/zeek-data.js'
// The conn.log record a program builds with `t` (as the schema README shows), and that package's test reader.
import { Conn as ProgramConn, parseZeekTsv } from '../../schema/test/zeek.js'
import { UsageError } from '../src/errors.js'
import { RecordBuilder, readZeekTsv, ZeekTsvReader, zeekJsonRow } from '../src/zeek-log.js'
import { parseZeekType } from '../src/zeek-types.js'
import { connRecord } from './support/conn.js'

const Conn = parseZeekType(connRecord())

const LOG = readFileSync(zeekData('conn-sample.log'), 'utf8').split('\n')

/** The rows of `lines` (a TSV log), with the message of each line that fails in its place. */
function readTsv(lines: readonly string[]): Array<Record<string, unknown> | string> {
  const reader = new ZeekTsvReader(new RecordBuilder(Conn, 'conn'))
  const out: Array<Record<string, unknown> | string> = []
  for (const line of lines) {
    if (line === '' || reader.headerLine(line)) continue
    try {
      out.push(reader.row(line))
    } catch (error) {
      out.push((error as Error).message)
    }
  }
  return out
}

describe('Zeek TSV logs', () => {
  test('the real conn-sample.log gives 10 valid rows', () => {
    const rows = readTsv(LOG)
    expect(rows).toHaveLength(10)
    for (const row of rows) expect(Conn.validate(row)).toEqual([])
  })

  test('altered copies: other separators, no #types, a truncated last line, escapes', () => {
    const real = readTsv(LOG)
    const withSeparator = (sep: string, escaped: string) =>
      LOG.map((line) =>
        line.startsWith('#separator') ? `#separator ${escaped}` : line.replaceAll('\t', sep),
      )
    expect(readTsv(withSeparator(' ', '\\x20'))).toEqual(real)
    expect(readTsv(withSeparator('|', '|'))).toEqual(real)
    expect(readTsv(LOG.filter((line) => !line.startsWith('#types')))).toEqual(real)
    const truncated = readTsv([...LOG.slice(0, -2), LOG.at(-2)!.slice(0, 40)])
    expect(truncated.slice(0, 9)).toEqual(real.slice(0, 9))
    expect(truncated[9]).toBe('invalid value: (root): 3 cells, but the header has 21 fields')
    // \x2d is a literal "-" (not unset), \x09 a tab, \\ a backslash.
    const escaped = readTsv([
      ...LOG.slice(0, 8),
      LOG[8]!.replace('ShADTdtr', 'a\\x09b\\\\').replace('C8Tful1TvM3Zf5x8fl', '\\x2d'),
    ])
    expect(escaped[0]).toMatchObject({ uid: '-', history: 'a\tb\\' })
  })

  test('a column named twice in #fields is refused with the rest of the header problems', () => {
    // The second one silently overwrote the first in every row.
    const lines = LOG.map((line) =>
      line.startsWith('#fields') ? `${line}\tuid` : line.startsWith('#types') ? `${line}\tstring` : line,
    )
    const reader = new ZeekTsvReader(new RecordBuilder(Conn, 'conn'))
    for (const line of lines) if (line.startsWith('#')) reader.headerLine(line)
    expect(() => reader.prepare()).toThrow(UsageError)
    expect(() => reader.prepare()).toThrow("column 'uid' appears twice in #fields")
  })
})

describe("Zeek's JSON log lines", () => {
  const builder = new RecordBuilder(Conn, 'conn')
  const line = {
    ts: 1521911721.255387,
    uid: 'C8Tful1TvM3Zf5x8fl',
    'id.orig_h': '10.164.94.120',
    'id.orig_p': 39681,
    'id.resp_h': '10.47.3.155',
    'id.resp_p': 3389,
    proto: 'tcp',
  }

  test('give the row the TSV log gives', () => {
    const tsv = readTsv(LOG)[0] as Record<string, unknown>
    expect(zeekJsonRow(builder, { ...line, tunnel_parents: ['a', 'b'] })).toEqual({
      ts: tsv.ts,
      uid: tsv.uid,
      id: tsv.id,
      proto: tsv.proto,
      tunnel_parents: new Set(['a', 'b']),
    })
  })

  test('times and intervals given as numbers are read from their digits exactly, tiny ones too', () => {
    // String(1e-7) is "1e-7", which the decimal-seconds reader refused.
    const row = zeekJsonRow(builder, { ...line, duration: 1e-7 })
    expect(row).toMatchObject({ ts: 1521911721255387000n, duration: 100n })
    expect(zeekJsonRow(builder, { ...line, duration: 2.5e-5 }).duration).toBe(25_000n)
    expect(() => zeekJsonRow(builder, { ...line, duration: 1e-10 })).toThrow(
      'duration: interval.s: 0.0000000001 is finer than a nanosecond',
    )
  })

  test.each([
    ['an object for a string', { uid: { x: 1 } }, 'uid: expected a value of type string, got an object'],
    ['an array for a string', { uid: ['a', 'b'] }, 'uid: expected a value of type string, got an array'],
    [
      'an object in a set',
      { tunnel_parents: [{ x: 1 }] },
      'tunnel_parents: expected a value of type string, got an object',
    ],
    [
      'null in a set',
      { tunnel_parents: ['a', null] },
      'tunnel_parents: expected a value of type string, got null',
    ],
    ['an array for a count', { orig_bytes: [1] }, 'orig_bytes: expected a value of type count, got an array'],
  ])('%s is refused, not stored as its String()', (_, fields, message) => {
    // These were stored as "[object Object]", "a,b" and "null".
    let thrown: unknown
    try {
      zeekJsonRow(builder, { ...line, ...fields })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(ValidationError)
    expect((thrown as ValidationError).issues.map((i) => `${i.path}: ${i.message}`)).toEqual([message])
  })
})

describe('readZeekTsv, for programs', () => {
  const collect = async <T>(rows: AsyncIterable<T>): Promise<T[]> => {
    const out: T[] = []
    for await (const row of rows) out.push(row)
    return out
  }

  test('reads the real conn-sample.log into typed values, each with its line number', async () => {
    const rows = await collect(readZeekTsv(ProgramConn, LOG))
    expect(rows.map((r) => r.line)).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17, 18])
    expect(rows.every((r) => r.error === undefined)).toBe(true)
    // The values the schema package's own test reader gives, field for field, defaults filled in.
    expect(rows.map((r) => r.value)).toEqual(
      parseZeekTsv(LOG.join('\n')).map((row) => decode(ProgramConn, encode(ProgramConn, row as never))),
    )
    const first = rows[0]!.value!
    expect(first.ts).toBe(1521911721255387000n)
    expect(first.id.orig_p).toEqual({ port: 39681, proto: 'tcp' })
    expect(first.missed_bytes).toBe(0n)
    expectTypeOf(first.id.orig_p.port).toEqualTypeOf<number>()
    expectTypeOf(first.missed_bytes).toEqualTypeOf<bigint>()
  })

  test('a bad row is yielded with its error and line, and reading goes on', async () => {
    const lines = [...LOG]
    expect(lines[8]).toContain('\t39681\t')
    lines[8] = lines[8]!.replace('\t39681\t', '\t99999\t')
    const rows = await collect(readZeekTsv(ProgramConn, lines))
    expect(rows).toHaveLength(10)
    expect(rows[0]!.line).toBe(9)
    expect(rows[0]!.error).toBeInstanceOf(ValidationError)
    expect(rows[0]!.error!.message).toContain('id.orig_p')
    expect(rows.slice(1).every((r) => r.value !== undefined)).toBe(true)
  })

  test('a header that does not fit the schema throws UsageError before any row, naming the schema', async () => {
    const Narrow = t.record({ uid: t.string(), ts: t.time() })
    const rows = readZeekTsv(Narrow, LOG, { name: 'conns' })
    const error = await rows.next().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(UsageError)
    expect((error as Error).message).toContain("column 'id.orig_h' is not a field of store 'conns'")
  })
})
