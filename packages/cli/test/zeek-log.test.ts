/**
 * Reading Zeek logs into rows of a store's record schema: the TSV reader and Zeek's JSON log
 * lines, with the real conn-sample.log and altered copies of it.
 */
import { readFileSync } from 'node:fs'
import { ValidationError } from '@concord/schema'
import { describe, expect, test } from 'vitest'
import { zeekData } from '../../../test-support/zeek-data.js'
import { RecordBuilder, ZeekTsvReader, zeekJsonRow } from '../src/zeek-log.js'
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
