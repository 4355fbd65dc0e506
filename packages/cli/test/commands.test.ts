/**
 * Every command, end to end in this process: `concord serve` on the in-memory transport and
 * persistence, and the node commands against it through the same adapter registry.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { createHub, createNode, memoryPersistence, memoryTransport } from '@concord/core'
import { t } from '@concord/schema'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { zeekData } from '../../../test-support/zeek-data.js'
import { soon } from '../../core/test/soon.js'
import { connRecord } from './support/conn.js'
import { Cli, type Invocation, Workspace } from './support/harness.js'

const CONFIG = `
hub:
  listen: memory://commands
transport: memory
persistence: memory
types:
  conn_id: "record { orig_h: addr; orig_p: port; resp_h: addr; resp_p: port }"
stores:
  counters: count
  names:
    schema: set[string]
  hosts: table[addr] of count
  sessions:
    schema: string
    expiry: 5m
  conn:
    schema: |
      ${connRecord('conn_id', '      ')}
  misc:
    schema:
      a: count
      b: vector of string
  flows: 'record { uid: string; counts: vector of count &optional }'
topics:
  chat: string
  alerts:
    schema: 'record { host: addr; score: double }'
`

const CONN_LOG = zeekData('conn-sample.log')

let ws: Workspace
let cli: Cli
let hub: Invocation
let config: string

beforeAll(async () => {
  ws = await Workspace.create()
  config = await ws.file('concord.yaml', CONFIG)
  cli = new Cli(ws.dir)
  hub = await cli.background(['serve'], /ready/)
})

afterAll(async () => {
  hub?.stop()
  expect(await hub.code).toBe(0)
  expect(hub.stdout.lines.slice(-2)).toEqual(['stopping…', 'stopped'])
  await ws.cleanup()
})

describe('serve', () => {
  test('prints where it listens and each store with its entry count', () => {
    const lines = hub.stdout.lines
    expect(lines[0]).toBe('listening on memory://commands (memory)')
    expect(lines[1]).toBe('data: in memory (lost when the hub stops)')
    expect(lines).toContain('store counters: 0 entries')
    expect(lines).toContain('store sessions: 0 entries, expiry 5m')
    expect(lines).toContain('topics: chat, alerts')
  })
})

describe('put, get, rm, keys', () => {
  test('put then get prints the human form', async () => {
    const put = await cli.run(['put', 'counters', 'hits', '41'])
    expect(put.code).toBe(0)
    // A short confirmation, not the value back (noisy for a big one).
    expect(put.stdout).toMatch(/^put hits in counters \(seq \d+\)\n$/)
    expect(await cli.run(['get', 'counters', 'hits'])).toMatchObject({ code: 0, stdout: '41\n' })
  })

  test('S2.3 get reads one key from the hub: no snapshot, not even of the keys starting with it', async () => {
    const transport = memoryTransport()
    const own = await createHub({
      transport,
      listen: 'memory://get-one',
      persistence: memoryPersistence(),
      stores: { counters: { schema: t.count() } },
    })
    try {
      const node = await createNode({ transport, hub: own.address })
      const writer = await node.writer('counters', { schema: t.count() })
      for (const key of ['1', '10', '11', '100']) await writer.put(key, BigInt(key.length))
      await node.close()
      const direct = new Cli(ws.dir, { transport })
      const hubArgs = ['--hub', own.address]
      expect(await direct.run(['get', 'counters', '1', ...hubArgs])).toMatchObject({ code: 0, stdout: '1\n' })
      expect(await direct.run(['get', 'counters', '2', ...hubArgs])).toMatchObject({ code: 3 })
      expect(own.metrics.snapshots).toBe(0)
      expect(own.metrics.reads).toBe(2)
    } finally {
      await own.close()
    }
  })

  test('--json prints Zeek JSON and reads it back', async () => {
    await cli.run([
      'put',
      'misc',
      'r',
      '--json',
      '{"@data-type":"vector","data":[{"@data-type":"count","data":7},{"@data-type":"vector","data":[{"@data-type":"string","data":"x"}]}]}',
    ])
    const human = await cli.run(['get', 'misc', 'r'])
    expect(human.stdout).toBe('[a=7, b=[x]]\n')
    const json = await cli.run(['get', 'misc', 'r', '--json'])
    expect(JSON.parse(json.stdout)).toEqual({
      '@data-type': 'vector',
      data: [
        { '@data-type': 'count', data: 7 },
        { '@data-type': 'vector', data: [{ '@data-type': 'string', data: 'x' }] },
      ],
    })
  })

  test('sets in human form', async () => {
    expect((await cli.run(['put', 'names', 'team', '{alice, bob, "carol d"}'])).code).toBe(0)
    expect((await cli.run(['get', 'names', 'team'])).stdout).toBe('{alice, bob, "carol d"}\n')
  })

  test('a record without --json is a usage error saying what to do', async () => {
    const r = await cli.run(['put', 'misc', 'x', '{a=1}'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      'concord: ERR_USAGE: bad VALUE: a record has no human form: give it as Zeek JSON (with --json)\n',
    )
  })

  test('a value that does not parse is a usage error', async () => {
    const r = await cli.run(['put', 'counters', 'hits', '-3'])
    expect(r).toMatchObject({ code: 2, stdout: '' })
    expect(r.stderr).toBe('concord: ERR_USAGE: bad VALUE: expected a count (an integer >= 0), found "-3"\n')
  })

  test('get of an absent key exits 3', async () => {
    const r = await cli.run(['get', 'counters', 'nope'])
    expect(r).toMatchObject({ code: 3, stdout: '' })
    expect(r.stderr).toBe("concord: ERR_NOT_FOUND: no key 'nope' in store 'counters'\n")
  })

  test('a store not in the config is a usage error naming the stores', async () => {
    const r = await cli.run(['get', 'counter', 'x'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("store 'counter' is not in the config")
    expect(r.stderr).toContain('stores: counters, names, hosts, sessions, conn, misc')
  })

  test('rm removes and prints the seq; removing an absent key is no error', async () => {
    await cli.run(['put', 'counters', 'tmp', '1'])
    const first = await cli.run(['rm', 'counters', 'tmp'])
    expect(first).toMatchObject({ code: 0, stderr: '' })
    expect(first.stdout).toMatch(/^removed tmp \(seq \d+\)\n$/)
    expect((await cli.run(['get', 'counters', 'tmp'])).code).toBe(3)
    const again = await cli.run(['rm', 'counters', 'tmp', '--json'])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/^\{"seq":\d+\}\n$/)
  })

  test('keys lists sorted keys, with --prefix', async () => {
    for (const key of ['k/b', 'k/a', 'j/c']) await cli.run(['put', 'sessions', key, 'v'])
    expect((await cli.run(['keys', 'sessions'])).lines).toEqual(['j/c', 'k/a', 'k/b'])
    expect((await cli.run(['keys', 'sessions', '--prefix', 'k/'])).lines).toEqual(['k/a', 'k/b'])
    expect((await cli.run(['keys', 'sessions', '--prefix', 'k/', '--json'])).lines).toEqual([
      '{"key":"k/a"}',
      '{"key":"k/b"}',
    ])
  })
})

describe('update', () => {
  test('increment runs on the hub and prints the seq of the write', async () => {
    const put = await cli.run(['put', 'counters', 'n', '1', '--json'])
    const seq = (JSON.parse(put.stdout) as { seq: number }).seq
    expect((await cli.run(['update', 'counters', 'n', '2', '--op', 'increment'])).stdout).toBe(
      `increment n (seq ${seq + 1})\n`,
    )
    expect((await cli.run(['update', 'counters', 'n', '1', '--op', 'increment', '--json'])).stdout).toBe(
      `{"seq":${seq + 2}}\n`,
    )
    expect((await cli.run(['get', 'counters', 'n'])).stdout).toBe('4\n')
  })

  test('insertInto a table takes KEY=VALUE; removeFrom a set takes an element', async () => {
    expect((await cli.run(['update', 'hosts', 'h', '10.0.0.1=5', '--op', 'insertInto'])).stdout).toMatch(
      /^insertInto h \(seq \d+\)\n$/,
    )
    expect((await cli.run(['get', 'hosts', 'h'])).stdout).toBe('{[10.0.0.1] = 5}\n')
    await cli.run(['put', 'names', 's', '{a, b}'])
    expect((await cli.run(['update', 'names', 's', 'a', '--op', 'removeFrom'])).code).toBe(0)
    expect((await cli.run(['get', 'names', 's'])).stdout).toBe('{b}\n')
  })

  test('putIfAbsent says whether it inserted', async () => {
    expect((await cli.run(['update', 'counters', 'once', '1', '--op', 'putIfAbsent'])).stdout).toBe(
      'once = 1 (inserted)\n',
    )
    expect((await cli.run(['update', 'counters', 'once', '2', '--op', 'putIfAbsent'])).stdout).toBe(
      'once was already there, unchanged\n',
    )
    expect((await cli.run(['update', 'counters', 'once', '2', '--op', 'putIfAbsent', '--json'])).stdout).toBe(
      '{"inserted":false}\n',
    )
    expect((await cli.run(['get', 'counters', 'once'])).stdout).toBe('1\n')
  })

  test('a negative DELTA for a count is a usage error that names the op that subtracts', async () => {
    const before = (await cli.run(['get', 'counters', 'n'])).stdout
    const down = await cli.run(['update', 'counters', 'n', '-1', '--op', 'increment'])
    expect(down.code).toBe(2)
    expect(down.stderr).toBe(
      'concord: ERR_USAGE: bad DELTA: a count\'s delta is never negative, found "-1": use --op decrement 1\n',
    )
    const up = await cli.run(['update', 'counters', 'n', '-2', '--op', 'decrement'])
    expect(up.stderr).toBe(
      'concord: ERR_USAGE: bad DELTA: a count\'s delta is never negative, found "-2": use --op increment 2\n',
    )
    expect((await cli.run(['get', 'counters', 'n'])).stdout).toBe(before)
  })

  test('an op that does not fit the store is a usage error', async () => {
    const r = await cli.run(['update', 'counters', 'x', 'a', '--op', 'push'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe("concord: ERR_USAGE: --op push does not apply to store 'counters' of type count\n")
  })
})

describe('watch', () => {
  test('streams put, remove and clear lines until Ctrl-C', async () => {
    const watch = await cli.background(['watch', 'sessions', '--prefix', 'w/'], /watching/, 'stderr')
    await cli.run(['put', 'sessions', 'w/1', 'hello'])
    await cli.run(['put', 'sessions', 'x/ignored', 'no'])
    await cli.run(['rm', 'sessions', 'w/1'])
    await soon(() => expect(watch.stdout.lines).toEqual(['put w/1 = hello', 'remove w/1']))
    watch.stop()
    expect(await watch.code).toBe(0)
  })

  test('--json streams one object per change', async () => {
    const watch = await cli.background(['watch', 'counters', '--json'], /watching/, 'stderr')
    await cli.run(['put', 'counters', 'watched', '5'])
    await soon(() => expect(watch.stdout.lines).toHaveLength(1))
    const change = JSON.parse(watch.stdout.lines[0]!)
    expect(change).toMatchObject({ kind: 'put', key: 'watched', value: { '@data-type': 'count', data: 5 } })
    expect(change.seq).toBeGreaterThan(0)
    watch.stop()
    expect(await watch.code).toBe(0)
  })

  test('says how many keys it starts with, one key as one', async () => {
    await cli.run(['put', 'sessions', 'one/1', 'x'])
    const one = await cli.background(['watch', 'sessions', '--prefix', 'one/'], /watching/, 'stderr')
    expect(one.stderr.text).toBe("watching sessions (prefix 'one/'): 1 key; Ctrl-C to stop\n")
    one.stop()
    expect(await one.code).toBe(0)
    const none = await cli.background(['watch', 'sessions', '--prefix', 'none/'], /watching/, 'stderr')
    expect(none.stderr.text).toBe("watching sessions (prefix 'none/'): 0 keys; Ctrl-C to stop\n")
    none.stop()
    expect(await none.code).toBe(0)
  })

  test('shows expiry', async () => {
    const watch = await cli.background(['watch', 'sessions', '--prefix', 'e/'], /watching/, 'stderr')
    await cli.run(['put', 'sessions', 'e/1', 'short', '--expiry', '50ms'])
    await soon(() => expect(watch.stdout.lines).toEqual(['put e/1 = short', 'expire e/1']))
    watch.stop()
    await watch.code
  })
})

describe('pub and sub', () => {
  test('sub prints events that pub sends, typed by the topic schema', async () => {
    const sub = await cli.background(['sub', 'alerts'], /subscribed/, 'stderr')
    const pub = await cli.run([
      'pub',
      'alerts/high',
      '--json',
      '{"@data-type":"vector","data":[{"@data-type":"address","data":"10.0.0.9"},{"@data-type":"real","data":0.97}]}',
    ])
    expect(pub.code).toBe(0)
    await cli.run(['pub', 'chat/room', 'not for this subscriber'])
    await soon(() => expect(sub.stdout.lines).toEqual(['alerts/high: [host=10.0.0.9, score=0.97]']))
    sub.stop()
    expect(await sub.code).toBe(0)
  })

  test('sub --json prints the payload as Zeek JSON', async () => {
    const sub = await cli.background(['sub', 'chat', '--json'], /subscribed/, 'stderr')
    await cli.run(['pub', 'chat/room', 'hi there'])
    await soon(() =>
      expect(sub.stdout.lines).toEqual([
        '{"topic":"chat/room","payload":{"@data-type":"string","data":"hi there"}}',
      ]),
    )
    sub.stop()
    await sub.code
  })

  test('a topic without a payload schema carries the text', async () => {
    const sub = await cli.background(['sub', 'untyped'], /subscribed/, 'stderr')
    const json = await cli.background(['sub', 'untyped', '--json'], /subscribed/, 'stderr')
    const pub = await cli.run(['pub', 'untyped/x', 'hi there'])
    expect(pub).toMatchObject({ code: 0, stdout: '', stderr: 'published to untyped/x\n' })

    await soon(() => expect(sub.stdout.lines).toEqual(['untyped/x: hi there']))
    await soon(() => expect(json.stdout.lines).toEqual(['{"topic":"untyped/x","payload":"hi there"}']))
    sub.stop()
    json.stop()
    expect(await sub.code).toBe(0)
    expect(await json.code).toBe(0)
    // --json: one JSON line on stdout of what the publish came to, as put --json prints its seq.
    expect(await cli.run(['pub', 'untyped/x', 'hi there', '--json'])).toMatchObject({
      code: 0,
      stdout: '{"published":true,"topic":"untyped/x"}\n',
      stderr: '',
    })
    expect(await cli.run(['pub', 'untyped/x', 'hi', '--group', 'workers', '--json'])).toMatchObject({
      code: 0,
      stdout: '{"published":true,"topic":"untyped/x","group":"workers"}\n',
    })
  })

  test('a payload that fails the topic schema is refused before sending', async () => {
    const r = await cli.run(['pub', 'alerts/x', 'hello'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('a record has no human form')
  })
})

describe('import and export', () => {
  test('the real conn-sample.log imports by uid and exports the same count', async () => {
    const imported = await cli.run(['import', 'conn', CONN_LOG, '--key', 'uid'])
    expect(imported.stderr).toMatch(/^imported 10 of 10 rows into conn in \d+\.\ds \(.*\), 0 errors\n$/)
    expect(imported.code).toBe(0)

    const human = await cli.run(['get', 'conn', 'C8Tful1TvM3Zf5x8fl'])
    expect(human.stdout).toBe(
      '[ts=2018-03-24T17:15:21.255387Z, uid=C8Tful1TvM3Zf5x8fl, id=[orig_h=10.164.94.120, orig_p=39681/tcp, resp_h=10.47.3.155, resp_p=3389/tcp], proto=tcp, duration=4.266ms, orig_bytes=97, resp_bytes=19, conn_state=RSTR, missed_bytes=0, history=ShADTdtr, orig_pkts=10, orig_ip_bytes=730, resp_pkts=6, resp_ip_bytes=342]\n',
    )

    const file = join(ws.dir, 'conn.jsonl')
    const exported = await cli.run(['export', 'conn', file, '--json'])
    expect(exported).toMatchObject({ code: 0, stderr: `exported 10 entries from conn to ${file}\n` })
    const lines = (await readFile(file, 'utf8')).trim().split('\n')
    expect(lines).toHaveLength(10)
    const logLines = (await readFile(CONN_LOG, 'utf8'))
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
    expect(lines).toHaveLength(logLines.length)

    // What export writes, import reads back exactly.
    await cli.run(['import', 'conn', file])
    const again = await cli.run(['export', 'conn', '--json'])
    expect(again.stdout.trim().split('\n')).toEqual(lines)
  })

  test("Zeek's JSON log lines give the same records as its TSV log", async () => {
    const line = JSON.stringify({
      ts: 1521911721.255387,
      uid: 'C8Tful1TvM3Zf5x8fl',
      'id.orig_h': '10.164.94.120',
      'id.orig_p': 39681,
      'id.resp_h': '10.47.3.155',
      'id.resp_p': 3389,
      proto: 'tcp',
      duration: 0.004266,
      orig_bytes: 97,
      resp_bytes: 19,
      conn_state: 'RSTR',
      missed_bytes: 0,
      history: 'ShADTdtr',
      orig_pkts: 10,
      orig_ip_bytes: 730,
      resp_pkts: 6,
      resp_ip_bytes: 342,
    })
    const before = (await cli.run(['get', 'conn', 'C8Tful1TvM3Zf5x8fl', '--json'])).stdout
    await cli.run(['rm', 'conn', 'C8Tful1TvM3Zf5x8fl'])
    const file = await ws.file('conn.json.log', `${line}\n`)
    expect((await cli.run(['import', 'conn', file, '--key', 'uid'])).code).toBe(0)
    expect((await cli.run(['get', 'conn', 'C8Tful1TvM3Zf5x8fl', '--json'])).stdout).toBe(before)

    // A count past 2^53 is read exactly, not as JSON.parse rounds it.
    const big = line.replace('"orig_bytes":97', '"orig_bytes":9007199254740993')
    expect(big).not.toBe(line)
    const bigFile = await ws.file('conn-big.json.log', `${big}\n`)
    expect((await cli.run(['import', 'conn', bigFile, '--key', 'uid'])).code).toBe(0)
    expect((await cli.run(['get', 'conn', 'C8Tful1TvM3Zf5x8fl'])).stdout).toContain(
      'orig_bytes=9007199254740993,',
    )
  })

  test('counts past 2^53 in an array of a JSON log line are read exactly, or refused', async () => {
    // JSON.parse rounds them, and only single values were read again from the text.
    const lines = [
      '{"uid":"F1","counts":[1, 9007199254740993 ,18446744073709551615]}',
      '{"uid":"F2","counts":[9007199254740993,"x"]}',
    ]
    const file = await ws.file('flows.json.log', `${lines.join('\n')}\n`)
    const r = await cli.run(['import', 'flows', file, '--key', 'uid'])
    expect(r.stderr).toContain(
      "line 2: field 'counts': 9007199254740992 is past 2^53 and cannot be read exactly",
    )
    expect(r.stderr).toMatch(/imported 1 of 2 rows into flows/)
    expect((await cli.run(['get', 'flows', 'F1'])).stdout).toBe(
      '[uid=F1, counts=[1, 9007199254740993, 18446744073709551615]]\n',
    )
  })

  test('a gzip-compressed log is decompressed as it is read; a truncated one stops with the rows before it', async () => {
    // These were read as key<TAB>value lines: "--key does not apply to key<TAB>value input".
    const log = await readFile(CONN_LOG)
    const gz = gzipSync(log)
    const file = await ws.file('conn.log.gz', '')
    await writeFile(file, gz)
    const r = await cli.run(['import', 'conn', file, '--key', 'uid'])
    expect(r.stderr).toMatch(/^imported 10 of 10 rows into conn .*, 0 errors$/m)
    expect(r.code).toBe(0)

    // All but the last 200 bytes of a log with 100 rows: some rows, then a read error.
    const rows = log
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
    const header = log
      .toString('utf8')
      .split('\n')
      .filter((l) => l.startsWith('#'))
    const long = [...header, ...Array.from({ length: 10 }, () => rows).flat()].join('\n')
    const truncated = gzipSync(Buffer.from(long)).subarray(0, -200)
    await writeFile(file, truncated)
    const cut = await cli.run(['import', 'conn', file, '--key', 'uid'])
    expect(cut.code).toBe(1)
    expect(cut.stderr).toMatch(/^imported (\d+) of \1 rows into conn .*, 0 errors$/m)
    expect(cut.stderr).toMatch(
      /\nline \d+: the input could not be read: unexpected end of file; stopped there \(the rows before it were imported\)\n$/,
    )
  })

  test('gzip on stdin is refused with what to do; a byte order mark before a Zeek header is ignored', async () => {
    const log = await readFile(CONN_LOG)
    const r = await cli.run(['import', 'conn', '-', '--key', 'uid'], {
      stdin: Readable.from([gzipSync(log)]),
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      'concord: ERR_USAGE: the input is gzip-compressed: give the file by name (it is decompressed as it is read), or decompress it first (zcat FILE | concord import STORE -)\n',
    )
    const bom = await ws.file('bom.log', `\ufeff${log.toString('utf8')}`)
    const imported = await cli.run(['import', 'conn', bom, '--key', 'uid'])
    expect(imported.stderr).toMatch(/^imported 10 of 10 rows into conn .*, 0 errors$/m)
  })

  test('a folder as FILE is a usage error saying why it cannot be read', async () => {
    const r = await cli.run(['import', 'counters', ws.dir])
    expect(r).toMatchObject({
      code: 2,
      stderr:
        'concord: ERR_USAGE: the input could not be read: EISDIR: illegal operation on a directory, read\n',
    })
  })

  test('Ctrl-C ends an import that waits for more input (tail -f … | concord import), with its summary', async () => {
    const stdin = new PassThrough()
    stdin.write('waiting\t1\n')
    const invocation = cli.start(['import', 'counters', '-'], { stdin, progressEvery: 10 })
    await soon(() => expect(invocation.stderr.text).toMatch(/counters: 1 rows/))
    invocation.stop()
    expect(await invocation.code).toBe(130)
    expect(invocation.stderr.text).toMatch(/imported 1 of 1 rows into counters/)
    expect((await cli.run(['get', 'counters', 'waiting'])).stdout).toBe('1\n')
  })

  test('FILE - reads stdin', async () => {
    const r = await cli.run(['import', 'counters', '-'], { stdin: Readable.from(['from-stdin\t7\n']) })
    expect(r.code).toBe(0)
    expect((await cli.run(['get', 'counters', 'from-stdin'])).stdout).toBe('7\n')
  })

  test('a missing file is a usage error', async () => {
    const r = await cli.run(['import', 'counters', 'nope.tsv'])
    expect(r).toMatchObject({ code: 2, stderr: 'concord: ERR_USAGE: cannot read nope.tsv: no such file\n' })
  })

  test('without --key, rows are keyed by line number', async () => {
    const r = await cli.run(['import', 'conn', CONN_LOG])
    expect(r.code).toBe(0)
    // The header takes 8 lines; the first row is line 9.
    expect((await cli.run(['get', 'conn', '9', '--json'])).code).toBe(0)
  })

  test('key<TAB>value lines; bad rows are counted and shown with their line', async () => {
    const file = await ws.file('counts.tsv', 'a\t1\nb\t2\nc\tnot-a-number\nd\t4\n')
    const r = await cli.run(['import', 'counters', file])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('line 3: expected a count (an integer >= 0), found "not-a-number"')
    expect(r.stderr).toMatch(/imported 3 of 4 rows into counters .* 1 error$/m)
    expect((await cli.run(['get', 'counters', 'd'])).stdout).toBe('4\n')
  })

  test('a log that does not fit the store stops at once with the reasons', async () => {
    const r = await cli.run(['import', 'misc', CONN_LOG])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("column 'ts' is not a field of store 'misc'")
    expect(r.stderr).toContain("store 'misc' needs field 'a', which the log has no column for")
  })

  test('a later header that no longer fits stops there, keeps the rows before it and says so (exit 1)', async () => {
    const log = await readFile(CONN_LOG, 'utf8')
    // The same log again, renamed rows, under a header with a column the store lacks.
    const second = log
      .replaceAll('\tC', '\tE')
      .replace(/^#fields\t(.*)$/m, '#fields\t$1\tbogus')
      .replace(/^#types\t(.*)$/m, '#types\t$1\tstring')
      .replace(/^([^#].*)$/gm, '$1\tx')
    const file = await ws.file('two-parts.log', `${log}${second}`)
    const r = await cli.run(['import', 'conn', file, '--key', 'uid'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/imported 10 of 10 rows into conn/)
    expect(r.stderr).toMatch(
      /line \d+: [\s\S]*'bogus'[\s\S]*; stopped there \(the rows before it were imported\)/,
    )
    expect((await cli.run(['get', 'conn', 'C8Tful1TvM3Zf5x8fl'])).code).toBe(0)
  })

  test('export in human form is key<TAB>value, with the count on stderr', async () => {
    const r = await cli.run(['export', 'names'])
    expect(r.lines).toEqual(['s\t{b}', 'team\t{alice, bob, "carol d"}'])
    expect(r.stderr).toBe('exported 2 entries from names\n')
  })

  test('progress is reported while importing', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => `p${i}\t${i}`).join('\n')
    const file = await ws.file('many.tsv', `${rows}\n`)
    const r = await cli.run(['import', 'counters', file, '--in-flight', '50'], { progressEvery: 1 })
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/^counters: \d+ rows, .*, 0 errors$/m)
    expect(r.stderr).toContain('imported 2000 of 2000 rows into counters')
  })
})

describe('failures', () => {
  test('no hub at the address: ERR_UNAVAILABLE naming it, exit 1', async () => {
    const r = await cli.run(['get', 'counters', 'hits', '--hub', 'memory://nowhere', '--timeout', '200ms'])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      "concord: ERR_UNAVAILABLE: reading 'hits' of store 'counters': no link to the hub at memory://nowhere within 200ms (is 'concord serve' running there?)\n",
    )
  })

  test("a store whose type differs from the hub's: ERR_SCHEMA_MISMATCH naming the config key to fix, exit 1", async () => {
    const other = await ws.file(
      'other.yaml',
      'hub:\n  listen: memory://commands\ntransport: memory\nstores:\n  counters: int\n',
    )
    for (const argv of [
      ['get', 'counters', 'hits'],
      ['put', 'counters', 'hits', '1'],
    ]) {
      const r = await cli.run([...argv, '--config', other])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(
        /^concord: ERR_SCHEMA_MISMATCH: store 'counters': the master's schema \(cs1:\w+, count\) and the (reader|writer)'s \(cs1:\w+\) differ: /,
      )
      expect(r.stderr).toContain(
        `: stores.counters in ${other} is int here, and must be the type the hub's config gives the store\n`,
      )
    }
  })

  test('--config pointing nowhere is a config error', async () => {
    const r = await cli.run(['get', 'counters', 'x', '--config', 'missing.yaml'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      `concord: ERR_CONFIG: invalid config:\n  ${join(ws.dir, 'missing.yaml')}: cannot read the config file: no such file\n`,
    )
  })

  test('config is found through --config from another folder', async () => {
    const elsewhere = new Cli('/', { adapters: cli.adapters })
    expect((await elsewhere.run(['get', 'counters', 'hits', '--config', config])).stdout).toBe('41\n')
  })
})
