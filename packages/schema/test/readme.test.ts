/**
 * The README's examples, so they compile and run.
 */
import { expect, test } from 'vitest'
import {
  addr,
  compatible,
  decode,
  encode,
  fromJson,
  type Infer,
  type InferInput,
  interval,
  t,
  time,
  toJson,
  validate,
} from '../src/index.js'

test('minimal example', () => {
  const fields = {
    ts: t.time(),
    uid: t.string(),
    id: t.record({ orig_h: t.addr(), orig_p: t.port(), resp_h: t.addr(), resp_p: t.port() }),
    proto: t.enum(['tcp', 'udp', 'icmp']),
    service: t.string().optional(),
    duration: t.interval().optional(),
    missed_bytes: t.count().default(0n),
    tunnel_parents: t.set(t.string()).optional(),
  }
  const Conn = t.record(fields)
  type Conn = Infer<typeof Conn> // what decode returns: missed_bytes always present
  type ConnInput = InferInput<typeof Conn> // what encode takes: missed_bytes may be left out

  const input: ConnInput = {
    ts: time.parse('1521911721.255387'),
    uid: 'C8Tful1TvM3Zf5x8fl',
    id: {
      orig_h: addr.canonical('10.164.94.120'),
      orig_p: { port: 39681, proto: 'tcp' },
      resp_h: '10.47.3.155',
      resp_p: { port: 3389, proto: 'tcp' },
    },
    proto: 'tcp',
    duration: interval.parse('0.004266'),
  }
  const bytes = encode(Conn, input) // Uint8Array, 58 bytes
  const conn: Conn = decode(Conn, bytes) // { ...input, missed_bytes: 0n }
  const json = toJson(Conn, conn) // Zeek/Broker JSON v1 text
  expect(fromJson(Conn, json)).toEqual(conn)
  expect(validate(Conn, { ...conn, uid: 42 })).toEqual([
    { path: 'uid', code: 'type', message: 'expected a string, got the number 42' },
  ])

  expect(bytes.length).toBe(58)
  expect(conn).toEqual({ ...input, missed_bytes: 0n })

  // Evolution: appending optional or defaulted fields keeps fingerprints compatible.
  const ConnV2 = t.record({ ...fields, vlan: t.int().optional() })
  expect(compatible(Conn.fingerprint, ConnV2.fingerprint)).toBe(true)
})
