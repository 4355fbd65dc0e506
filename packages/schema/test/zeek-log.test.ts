/**
 * The real conn.log sample, parsed into the conn record schema and round-tripped.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { zeekData } from '../../../test-support/zeek-data.js'
import { decode, encode, fromJson, type Infer, time, toJson, validate } from '../src/index.js'
import { Conn, parseZeekTsv } from './zeek.js'

const text = readFileSync(zeekData('conn-sample.log'), 'utf8')
const rows = parseZeekTsv(text) as Infer<typeof Conn>[]

describe('conn-sample.log', () => {
  test('every row is a valid conn record', () => {
    expect(rows.length).toBeGreaterThan(5)
    for (const row of rows) expect(validate(Conn, row)).toEqual([])
  })

  test('the first row has the exact values of the log', () => {
    const first = rows[0]!
    expect(first).toEqual({
      ts: 1521911721255387000n,
      uid: 'C8Tful1TvM3Zf5x8fl',
      id: {
        orig_h: '10.164.94.120',
        orig_p: { port: 39681, proto: 'tcp' },
        resp_h: '10.47.3.155',
        resp_p: { port: 3389, proto: 'tcp' },
      },
      proto: 'tcp',
      duration: 4266000n,
      orig_bytes: 97n,
      resp_bytes: 19n,
      conn_state: 'RSTR',
      missed_bytes: 0n,
      history: 'ShADTdtr',
      orig_pkts: 10n,
      orig_ip_bytes: 730n,
      resp_pkts: 6n,
      resp_ip_bytes: 342n,
    })
    // Times are exact: the log's text comes back digit for digit.
    expect(time.format(first.ts)).toBe('1521911721.255387')
  })

  test('every row round-trips through encode/decode', () => {
    for (const row of rows) expect(decode(Conn, encode(Conn, row))).toEqual(row)
  })

  test('every row round-trips through toJson/fromJson', () => {
    for (const row of rows) {
      const json = toJson(Conn, row)
      expect(fromJson(Conn, json)).toEqual(row)
      expect(fromJson(Conn, JSON.parse(json))).toEqual(row)
    }
  })

  test('the binary form is compact', () => {
    const total = rows.reduce((n, row) => n + encode(Conn, row).length, 0)
    const tsv = rows.reduce((n, row) => n + toJson(Conn, row).length, 0)
    expect(total / rows.length).toBeLessThan(110)
    expect(total).toBeLessThan(tsv / 5)
  })
})
