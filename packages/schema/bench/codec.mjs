// Concord's typed codec against raw msgpackr and JSON, in one run.
//
//   npm run bench -w @concord/schema      (after `npm run build -w @concord/schema`)
//
// What each contender is given (the same record):
// - concord: the typed value (bigint counts and nanosecond times, canonical address strings,
//   { port, proto } objects, a Set), encoded with the schema's compiled codec.
// - msgpackr: msgpackr's default pack/unpack (useRecords: false) of the plain object a Zeek
//   JSON log line would give: numbers where msgpackr would use numbers (counts, ports, time
//   and duration as float seconds), strings for addresses and protocols, an array for the set.
// - JSON: JSON.stringify/JSON.parse of that same plain object.
//
// Each case is warmed up, then timed in 7 rounds of about 200 ms, interleaved across the
// contenders; the median is reported.
import { mkdirSync, writeFileSync } from 'node:fs'
import { pack, unpack } from 'msgpackr'
import { t } from '../dist/index.js'

const Conn = t.record({
  ts: t.time(),
  uid: t.string(),
  id: t.record({ orig_h: t.addr(), orig_p: t.port(), resp_h: t.addr(), resp_p: t.port() }),
  proto: t.enum(['tcp', 'udp', 'icmp', 'unknown_transport']),
  service: t.string().optional(),
  duration: t.interval().optional(),
  orig_bytes: t.count().optional(),
  resp_bytes: t.count().optional(),
  conn_state: t.string().optional(),
  local_orig: t.bool().optional(),
  local_resp: t.bool().optional(),
  missed_bytes: t.count().optional(),
  history: t.string().optional(),
  orig_pkts: t.count().optional(),
  orig_ip_bytes: t.count().optional(),
  resp_pkts: t.count().optional(),
  resp_ip_bytes: t.count().optional(),
  tunnel_parents: t.set(t.string()).optional(),
})

const conn = {
  ts: 1521911721255387000n,
  uid: 'C8Tful1TvM3Zf5x8fl',
  id: {
    orig_h: '10.164.94.120',
    orig_p: { port: 39681, proto: 'tcp' },
    resp_h: '10.47.3.155',
    resp_p: { port: 3389, proto: 'tcp' },
  },
  proto: 'tcp',
  service: 'rdp',
  duration: 4266000n,
  orig_bytes: 97n,
  resp_bytes: 19n,
  conn_state: 'RSTR',
  local_orig: true,
  local_resp: false,
  missed_bytes: 0n,
  history: 'ShADTdtr',
  orig_pkts: 10n,
  orig_ip_bytes: 730n,
  resp_pkts: 6n,
  resp_ip_bytes: 342n,
  tunnel_parents: new Set(['CHhAvVGS1DHFjwGM9']),
}

const connPlain = {
  ts: 1521911721.255387,
  uid: 'C8Tful1TvM3Zf5x8fl',
  'id.orig_h': '10.164.94.120',
  'id.orig_p': 39681,
  'id.resp_h': '10.47.3.155',
  'id.resp_p': 3389,
  proto: 'tcp',
  service: 'rdp',
  duration: 0.004266,
  orig_bytes: 97,
  resp_bytes: 19,
  conn_state: 'RSTR',
  local_orig: true,
  local_resp: false,
  missed_bytes: 0,
  history: 'ShADTdtr',
  orig_pkts: 10,
  orig_ip_bytes: 730,
  resp_pkts: 6,
  resp_ip_bytes: 342,
  tunnel_parents: ['CHhAvVGS1DHFjwGM9'],
}

const Small = t.record({ key: t.string(), count: t.count(), seen: t.time(), ok: t.bool() })
const small = { key: 'user:1842', count: 17n, seen: 1521911721255387000n, ok: true }
const smallPlain = { key: 'user:1842', count: 17, seen: 1521911721.255387, ok: true }

let sink = 0

/** Iterations of `fn` that take about 200 ms (this also warms it up). */
function calibrate(fn) {
  let n = 1000
  for (;;) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) fn()
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (ms > 50) return Math.max(1000, Math.round((n * 200) / ms))
    n *= 4
  }
}

/**
 * Median ops/s of each function over 7 rounds. Rounds are interleaved across the contenders,
 * so a noisy neighbour or a GC pause weighs on all of them alike.
 */
function measure(fns) {
  const iterations = fns.map(calibrate)
  const rates = fns.map(() => [])
  for (let round = 0; round < 7; round++) {
    fns.forEach((fn, k) => {
      const n = iterations[k]
      const start = process.hrtime.bigint()
      for (let i = 0; i < n; i++) fn()
      rates[k].push(n / (Number(process.hrtime.bigint() - start) / 1e9))
    })
  }
  return rates.map((r) => r.sort((a, b) => a - b)[3])
}

function cases(name, schema, typed, plain) {
  const bytes = schema.encode(typed)
  const packed = pack(plain)
  const json = JSON.stringify(plain)
  const run = {
    concord: {
      roundtrip: () => {
        sink += schema.decode(schema.encode(typed)) === null ? 1 : 0
      },
      encode: () => {
        sink += schema.encode(typed).length
      },
      decode: () => {
        sink += schema.decode(bytes) === null ? 1 : 0
      },
      bytes: bytes.length,
    },
    msgpackr: {
      roundtrip: () => {
        sink += unpack(pack(plain)) === null ? 1 : 0
      },
      encode: () => {
        sink += pack(plain).length
      },
      decode: () => {
        sink += unpack(packed) === null ? 1 : 0
      },
      bytes: packed.length,
    },
    json: {
      roundtrip: () => {
        sink += JSON.parse(JSON.stringify(plain)) === null ? 1 : 0
      },
      encode: () => {
        sink += JSON.stringify(plain).length
      },
      decode: () => {
        sink += JSON.parse(json) === null ? 1 : 0
      },
      bytes: Buffer.byteLength(json),
    },
  }
  const who = Object.keys(run)
  const out = Object.fromEntries(who.map((w) => [w, { bytes: run[w].bytes }]))
  for (const op of ['roundtrip', 'encode', 'decode']) {
    const rates = measure(who.map((w) => run[w][op]))
    who.forEach((w, k) => {
      out[w][`${op}Ops`] = rates[k]
    })
  }
  for (const w of who) out[w].roundtripVsMsgpackr = out[w].roundtripOps / out.msgpackr.roundtripOps
  console.log(`\n${name}`)
  console.log('              bytes  encode+decode/s  vs msgpackr     encode/s     decode/s')
  for (const [w, r] of Object.entries(out)) {
    console.log(
      `${w.padEnd(10)} ${String(r.bytes).padStart(8)} ${fmt(r.roundtripOps).padStart(16)} ${r.roundtripVsMsgpackr
        .toFixed(2)
        .padStart(11)}x ${fmt(r.encodeOps).padStart(12)} ${fmt(r.decodeOps).padStart(12)}`,
    )
  }
  return out
}

function fmt(n) {
  return Math.round(n).toLocaleString('en-US')
}

const results = {
  node: process.version,
  date: new Date().toISOString(),
  method: 'median of 7 rounds of ~200 ms after warm-up, rounds interleaved across contenders; ops/s',
  conn: cases('conn.log record (18 fields, nested id record, set)', Conn, conn, connPlain),
  small: cases('small record (4 fields)', Small, small, smallPlain),
}
const dir = new URL('../../../bench/results/', import.meta.url)
mkdirSync(dir, { recursive: true })
writeFileSync(new URL('schema-codec.json', dir), `${JSON.stringify(results, null, 2)}\n`)
console.log(`\nwrote bench/results/schema-codec.json (checksum ${sink})`)
