/**
 * The config file: a good one in full, and each kind of mistake with the message it gets
 * (key, what was expected, what was found, line).
 */
import { readFile } from 'node:fs/promises'
import { t } from '@concord/schema'
import { describe, expect, test } from 'vitest'
import { type ConcordConfig, loadConfig, parseConfig } from '../src/config.js'
import { ConfigError } from '../src/errors.js'
import { Cli, Workspace } from './support/harness.js'

const DIR = '/srv/concord'
const FILE = '/srv/concord/concord.yaml'

function parse(text: string, env: Record<string, string> = {}): ConcordConfig {
  return parseConfig(text, { file: FILE, dir: DIR }, { env })
}

/** The problems of a config that does not load, as `line: path: message` strings. */
function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    parse(text, env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).problems.map(
      (p) => `${p.line ?? '?'}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`,
    )
  }
  throw new Error('the config loaded')
}

const GOOD = `
hub:
  listen: tcp://0.0.0.0:7420
  address: tcp://hub.example:7420
  heartbeat: 2s
  stats: 1m
transport:
  kind: zmq
  curve:
    server:
      publicKey: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
      secretKey: \${HUB_SECRET}
    clients:
      alice: "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
persistence:
  kind: sqlite
  path: ./data
  durability: relaxed
node:
  identity: alice
  groups: [workers]
  timeout: 5s
  stats: 10s
types:
  conn_id: 'record { orig_h: addr; orig_p: port; resp_h: addr; resp_p: port }'
stores:
  counters: count
  conn:
    schema: |
      record {
        ts: time; uid: string; id: conn_id;
        service: string &optional;
      }
    expiry: 1h
    expiryTolerance: 50ms
    maxValueSize: 65536
  hosts:
    schema:
      addr: addr
      seen: set[port]
      where: { city: string, asn: count &optional }
    persistence: { kind: lmdb, path: /var/lib/concord/hosts }
topics:
  zeek/notice: 'record { note: string; msg: string }'
  chat:
    schema: string
access:
  - identities: [alice]
    allow: [read, write]
    stores: [counters, conn]
  - identities: ['*']
    allow: [subscribe]
    topics: [zeek/]
`

describe('a good config', () => {
  test('loads in full', () => {
    const config = parse(GOOD, { HUB_SECRET: 'JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6' })
    expect(config).toMatchObject({
      file: FILE,
      dir: DIR,
      listen: 'tcp://0.0.0.0:7420',
      address: 'tcp://hub.example:7420',
      heartbeat: '2s',
      hubStats: 60_000,
      transport: {
        kind: 'zmq',
        options: {
          curve: {
            server: {
              publicKey: 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7',
              secretKey: 'JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6',
            },
            clients: { alice: 'Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID' },
          },
        },
      },
      persistence: { kind: 'sqlite', options: { path: '/srv/concord/data', durability: 'relaxed' } },
      node: { identity: 'alice', groups: ['workers'], timeout: 5000, stats: 10_000 },
      access: [
        { identities: ['alice'], allow: ['read', 'write'], stores: ['counters', 'conn'] },
        { identities: ['*'], allow: ['subscribe'], topics: ['zeek/'] },
      ],
    })
    const connId = t.record({ orig_h: t.addr(), orig_p: t.port(), resp_h: t.addr(), resp_p: t.port() })
    expect(config.stores.conn).toMatchObject({ expiry: '1h', expiryTolerance: '50ms', maxValueSize: 65536 })
    expect(config.stores.conn?.schema.describe()).toBe(
      t.record({ ts: t.time(), uid: t.string(), id: connId, service: t.string().optional() }).describe(),
    )
    expect(config.stores.counters?.schema.describe()).toBe('count')
    expect(config.stores.hosts?.schema.describe()).toBe(
      t
        .record({
          addr: t.addr(),
          seen: t.set(t.port()),
          where: t.record({ city: t.string(), asn: t.count().optional() }),
        })
        .describe(),
    )
    expect(config.stores.hosts?.type).toBe(
      'record { addr: addr; seen: set[port]; where: record { city: string; asn: count &optional } }',
    )
    expect(config.stores.hosts?.persistence).toEqual({
      kind: 'lmdb',
      options: { path: '/var/lib/concord/hosts', durability: 'sync' },
    })
    expect(Object.keys(config.topics)).toEqual(['zeek/notice', 'chat'])
  })

  test('an empty file is the embedded default: ZeroMQ on loopback, SQLite in ./concord-data', () => {
    expect(parse('')).toEqual({
      file: FILE,
      dir: DIR,
      listen: 'tcp://127.0.0.1:7420',
      address: 'tcp://127.0.0.1:7420',
      transport: { kind: 'zmq', options: {} },
      persistence: { kind: 'sqlite', options: { path: '/srv/concord/concord-data', durability: 'sync' } },
      node: { groups: [], timeout: 10_000 },
      types: {},
      stores: {},
      topics: {},
    })
  })

  test('no file at all: the defaults, relative to the current folder', async () => {
    const config = await loadConfig(undefined, { cwd: '/nowhere', env: {} })
    expect(config).toMatchObject({
      file: undefined,
      persistence: { options: { path: '/nowhere/concord-data' } },
    })
  })

  test('every YAML example in the README loads', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)
    expect(blocks.length).toBeGreaterThan(0)
    const env = {
      HUB_SECRET: 'JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6',
      NODE_SECRET: 'JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6',
    }
    for (const block of blocks) expect(() => parse(block, env)).not.toThrow()
  })
})

describe('mistakes', () => {
  test('unknown keys, with a suggestion', () => {
    expect(problems('store:\n  a: count\n')).toEqual(["1: store: unknown key (did you mean 'stores'?)"])
    expect(problems('stores:\n  a:\n    schema: count\n    expirey: 5m\n')).toEqual([
      "4: stores.a.expirey: unknown key (did you mean 'expiry'?)",
    ])
    expect(problems('colour: blue\n')).toEqual([
      '1: colour: unknown key; expected one of hub, transport, persistence, node, types, stores, topics, access',
    ])
  })

  test('durations need a unit', () => {
    expect(problems('stores:\n  a:\n    schema: count\n    expiry: 300\n')).toEqual([
      '4: stores.a.expiry: expected a duration with a unit like 250ms, 30s, 5m, 1h or 1d (a bare number is ambiguous), found the number 300',
    ])
    expect(problems('hub:\n  heartbeat: 5 minutes\n')).toEqual([
      '2: hub.heartbeat: expected a duration like 250ms, 30s, 5m, 1h or 1d, found "5 minutes"',
    ])
    // Timer durations stay within what a timer can wait (longer ones fire after 1 ms).
    expect(problems('hub:\n  heartbeat: 30d\n')).toEqual([
      '2: hub.heartbeat: expected a duration from 10ms to 24d, found "30d"',
    ])
    expect(problems('hub:\n  heartbeat: 0s\n')).toEqual([
      '2: hub.heartbeat: expected a duration from 10ms to 24d, found "0s"',
    ])
    expect(problems('node:\n  timeout: 30d\n')).toEqual([
      '2: node.timeout: expected a duration from 1ms to 24d, found "30d"',
    ])
    expect(problems('hub:\n  stats: 10\nnode:\n  stats: 5ms\n')).toEqual([
      '2: hub.stats: expected a duration with a unit like 250ms, 30s, 5m, 1h or 1d (a bare number is ambiguous), found the number 10',
      '4: node.stats: expected a duration from 10ms to 24d, found "5ms"',
    ])
  })

  test('a bad Zeek type points at its line in the file, with a caret', () => {
    const text =
      'stores:\n  conn:\n    schema: |\n      record {\n        ts: time\n        uid: string\n      }\n'
    expect(problems(text)).toEqual([
      "6: stores.conn.schema: expected ';' after field 'ts', found 'uid':\n      uid: string\n      ^",
    ])
    expect(problems('stores:\n  a: set[strng]\n')).toEqual([
      "2: stores.a: unknown type 'strng' (did you mean 'string'?):\n      set[strng]\n          ^",
    ])
  })

  test('a record field written as a map entry is checked on its own line', () => {
    expect(problems('stores:\n  a:\n    schema:\n      x: count\n      y: cout &optional\n')).toEqual([
      "5: stores.a.schema.y: unknown type 'cout' (did you mean 'count'?):\n      cout &optional\n      ^",
    ])
  })

  test("a type with ': ' in a plain YAML value gets a hint", () => {
    expect(problems('stores:\n  a: record { x: count }\n')).toEqual([
      "2: not valid YAML: Nested mappings are not allowed in compact mappings (a Zeek type with ': ' in it must be quoted, written as a block ('schema: |' then the type on the next lines), or given as a map of fields)",
    ])
  })

  test('YAML syntax errors have their line', () => {
    expect(problems('stores:\n  a: count\n  a: string\n')).toEqual([
      '3: not valid YAML: Map keys must be unique',
    ])
  })

  test('adapter kinds and their options', () => {
    expect(problems('transport: zmqq\n')).toEqual([
      '1: transport: expected a kind (zmq, redis, memory), found "zmqq" (did you mean \'zmq\'?)',
    ])
    expect(problems('persistence:\n  kind: sqlite\n  durabilty: sync\n')).toEqual([
      "3: persistence.durabilty: unknown option (did you mean 'durability'?)",
    ])
    expect(problems('persistence:\n  kind: sqlite\n  durability: fast\n')).toEqual([
      '3: persistence.durability: expected one of sync, relaxed, found "fast"',
    ])
    expect(problems('persistence:\n  kind: memory\n  path: x\n')).toEqual([
      '3: persistence.path: unknown option; expected no options for kind memory',
    ])
    expect(problems('stores:\n  a:\n    schema: count\n    persistence: { path: x }\n')).toEqual([
      '4: stores.a.persistence: expected kind: one of sqlite, lmdb, memory',
    ])
  })

  test('CURVE keys are checked, and secret ones never shown', () => {
    const text = `transport:\n  kind: zmq\n  curve:\n    publicKey: short\n    secretKey: \${SECRET}\n`
    expect(problems(text, { SECRET: 'not-a-key' })).toEqual([
      '4: transport.curve.publicKey: expected a 40-character Z85 CURVE key (make pairs with \'concord keygen\'), found "short"',
      "5: transport.curve.secretKey: expected a 40-character Z85 CURVE key (make pairs with 'concord keygen'), found a value of 9 characters (not shown)",
    ])
  })

  test('a CURVE key that holds a $-brace name by chance is a key, not an environment variable', () => {
    // Z85 has $, { and }: about one generated key in 20 000 holds a ${name}. Expanding it made
    // 'concord serve' fail with "environment variable f is not set".
    const key = `abc\${f}defghijklmnopqrstuvwxyz012345678A`
    const client = `x\${HOME}yz.-:+=^!/*?&<>()[]{}@%$#0123456`
    const text = `transport:\n  kind: zmq\n  curve:\n    server:\n      publicKey: "${key}"\n      secretKey: \${SECRET}\n    clients:\n      alice: "${client}"\n`
    const config = parse(text, { SECRET: 'JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6', HOME: '/root' })
    expect(config.transport.options).toMatchObject({
      curve: {
        server: { publicKey: key, secretKey: 'JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6' },
        clients: { alice: client },
      },
    })
  })

  test('environment variables must be set', () => {
    expect(problems(`transport:\n  kind: redis\n  password: \${REDIS_PASSWORD}\n`)).toEqual([
      '3: transport.password: environment variable REDIS_PASSWORD is not set',
    ])
  })

  test('stores need a schema and a valid name', () => {
    expect(problems('stores:\n  a:\n    expiry: 5m\n')).toEqual([
      '2: stores.a: a store needs a schema (a Zeek type like count or record { … })',
    ])
    expect(problems('stores:\n  -bad: count\n')).toEqual([
      '2: stores."-bad": a store name is 1-200 of A-Z a-z 0-9 . _ : / -, starting with a letter or digit',
    ])
    expect(problems('stores:\n  a: 42\n')).toEqual([
      '2: stores.a: expected a Zeek type like count, set[addr] or record { … }, or a map of fields, found the number 42',
    ])
  })

  test('named types: self-referring, redefining a Zeek type', () => {
    expect(
      problems("types:\n  a: 'record { b: b }'\n  b: set[a]\n  count: string\nstores:\n  s: a\n"),
    ).toEqual([
      "4: types.count: 'count' is a Zeek type and cannot be redefined",
      "2: types.a: type 'a' refers to itself (a -> b -> a)",
      "6: stores.s: uses type 'a', which has problems (see above)",
    ])
  })

  test('access rules', () => {
    const text = `stores:\n  counters: count\naccess:\n  - identities: [alice]\n    allow: [read, wrte]\n    stores: [countres]\n  - identities: [bob]\n    allow: [publish]\n    stores: [counters]\n  - allow: [read]\n    stores: ['*']\n`
    expect(problems(text)).toEqual([
      '5: access[0].allow[1]: expected one of read, write, publish, subscribe, found "wrte" (did you mean \'write\'?)',
      '6: access[0].stores[0]: no store named "countres" in stores (did you mean \'counters\'?)',
      "7: access[1]: publish applies to topics, but the rule names no topics (add topics: [''] for every topic, or a list of prefixes)",
      "10: access[2]: a rule needs identities (a list of names, '*' for anyone)",
    ])
  })

  test('an access rule without stores or topics says how to name them all', () => {
    const text = `stores:\n  counters: count\naccess:\n  - identities: [manager]\n    allow: [read, write, publish, subscribe]\n`
    expect(problems(text)).toEqual([
      "4: access[0]: read and write apply to stores, but the rule names no stores (add stores: ['*'] for every store, or a list of names)",
      "4: access[0]: publish and subscribe apply to topics, but the rule names no topics (add topics: [''] for every topic, or a list of prefixes)",
    ])
  })

  test('every problem of a file is reported at once', () => {
    const all = problems(
      'hub:\n  heartbeat: soon\nstores:\n  a: cont\n  b:\n    schema: count\n    expiry: never\n',
    )
    expect(all).toHaveLength(3)
  })
})

describe('through the command line', () => {
  test('exit code 2 and one block on stderr: file:line: key: message', async () => {
    const ws = await Workspace.create()
    try {
      await ws.file('concord.yaml', 'stores:\n  a:\n    schema: count\n    expiry: 300\n  b: sett[string]\n')
      const cli = new Cli(ws.dir)
      const r = await cli.run(['serve'])
      expect(r.code).toBe(2)
      const file = `${ws.dir}/concord.yaml`
      expect(r.stderr).toBe(
        `concord: ERR_CONFIG: invalid config (2 problems):\n  ${file}:4: stores.a.expiry: expected a duration with a unit like 250ms, 30s, 5m, 1h or 1d (a bare number is ambiguous), found the number 300\n  ${file}:5: stores.b: unknown type 'sett' (did you mean 'set'?):\n      sett[string]\n      ^\n`,
      )
    } finally {
      await ws.cleanup()
    }
  })
})
