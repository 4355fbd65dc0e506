/**
 * The command line itself: help, argument errors, exit codes, one-line error messages.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { Cli, type Invocation, Workspace } from './support/harness.js'

let ws: Workspace
let cli: Cli
let hub: Invocation

beforeAll(async () => {
  ws = await Workspace.create()
  await ws.file(
    'concord.yaml',
    `hub:\n  listen: memory://cli\ntransport: memory\npersistence: memory\nnode:\n  identity: alice\nstores:\n  n: int\n  d: interval\n  guarded: string\naccess:\n  - identities: [alice]\n    allow: [read, write]\n    stores: ['*']\n  - identities: [bob]\n    allow: [read]\n    stores: [guarded]\n`,
  )
  cli = new Cli(ws.dir)
  hub = await cli.background(['serve'], /ready/)
})

afterAll(async () => {
  hub?.stop()
  await hub?.code
  await ws.cleanup()
})

describe('help', () => {
  test('--help lists every command', async () => {
    const r = await cli.run(['--help'])
    expect(r.code).toBe(0)
    for (const name of [
      'serve',
      'get',
      'put',
      'rm',
      'keys',
      'watch',
      'pub',
      'sub',
      'import',
      'export',
      'demo',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'))
    }
    expect(r.stdout).toContain(
      'exit codes: 0 ok, 1 failed, 2 bad usage or config, 3 not found, 130 interrupted',
    )
  })

  test('no command: the help on stderr, exit 2', async () => {
    const r = await cli.run([])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('usage: concord COMMAND')
  })

  test('help COMMAND and COMMAND --help', async () => {
    const a = await cli.run(['help', 'import'])
    const b = await cli.run(['import', '--help'])
    expect(a.stdout).toBe(b.stdout)
    expect(a.stdout).toMatch(/^usage: concord import STORE FILE/)
    expect(a.stdout).toContain('--in-flight N')
  })

  test('--version', async () => {
    expect(await cli.run(['--version'])).toMatchObject({ code: 0, stdout: '0.1.0\n' })
  })
})

describe('usage errors exit 2 with one line', () => {
  test.each([
    [
      ['frobnicate'],
      "concord: ERR_USAGE: unknown command 'frobnicate'; commands: serve, get, put, rm, update, keys, watch, pub, sub, import, export, keygen, demo, conformance",
    ],
    [
      ['wat'],
      "concord: ERR_USAGE: unknown command 'wat' (did you mean 'watch'?); commands: serve, get, put, rm, update, keys, watch, pub, sub, import, export, keygen, demo, conformance",
    ],
    [['get', 'n'], 'concord: ERR_USAGE: missing arguments: usage: concord get STORE KEY [--json]'],
    [['get', 'n', 'a', 'b'], 'concord: ERR_USAGE: too many arguments: usage: concord get STORE KEY [--json]'],
    [
      ['get', 'n', 'a', '--prefix', 'x'],
      "concord: ERR_USAGE: Unknown option '--prefix' (see 'concord help get')",
    ],
    [
      ['get', 'n', 'a', '--timeout', '5'],
      'concord: ERR_USAGE: --timeout takes a duration like 5s or 1m, got "5"',
    ],
    [
      ['get', 'n', 'a', '--timeout', '100d'],
      'concord: ERR_USAGE: --timeout takes a duration from 1ms to 24d, got "100d"',
    ],
    [
      ['put', 'n', 'k', '1', '--expiry', '5'],
      'concord: ERR_USAGE: --expiry takes a duration like 30s, 5m, 1h; got "5" (a bare number is ambiguous)',
    ],
    [
      ['import', 'n', 'f', '--in-flight', '0'],
      'concord: ERR_USAGE: --in-flight takes a positive integer, got "0"',
    ],
    [
      ['update', 'n', 'k', '1'],
      'concord: ERR_USAGE: update needs --op (increment, decrement, append, insertInto, removeFrom, push, pop, putIfAbsent)',
    ],
    [
      ['put', 'n', 'k', '1', '--expiry', 'later'],
      'concord: ERR_USAGE: --expiry takes a duration like 30s, 5m, 1h; got "later"',
    ],
    [
      ['conformance'],
      'concord: ERR_USAGE: give --transport MODULE, --persistence MODULE or both (see concord help conformance)',
    ],
  ])('%j', async (argv, message) => {
    const r = await cli.run(argv)
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: `${message}\n` })
  })
})

describe('values the adapters refuse are usage or config errors, exit 2', () => {
  const ZMQ = 'transport: zmq\npersistence: memory\nstores:\n  s: string\n'
  const REFUSED = "not a ZeroMQ address this transport serves (tcp://host:port, ipc://path): 'nonsense'"
  const REMOTE =
    'refusing to listen on tcp://0.0.0.0:7420 without CURVE keys: only loopback and ipc:// are allowed (pass curve keys, or allowRemote: true)'
  const sqlite = (pragmas: string) =>
    `hub:\n  listen: tcp://127.0.0.1:0\npersistence:\n  kind: sqlite\n  path: data\n  pragmas: ${pragmas}\nstores:\n  s: string\n`

  test.each([
    ['serve --listen', ZMQ, ['serve', '--listen', 'nonsense'], `ERR_USAGE: --listen nonsense: ${REFUSED}`],
    [
      'serve --listen, not loopback without CURVE',
      ZMQ,
      ['serve', '--listen', 'tcp://0.0.0.0:7420'],
      `ERR_USAGE: --listen tcp://0.0.0.0:7420: ${REMOTE}`,
    ],
    [
      'hub.listen',
      `hub:\n  listen: nonsense\n${ZMQ}`,
      ['serve'],
      `ERR_CONFIG: invalid config:\n  {file}: hub.listen: ${REFUSED}`,
    ],
    [
      'hub.listen, not loopback without CURVE',
      `hub:\n  listen: tcp://0.0.0.0:7420\n${ZMQ}`,
      ['serve'],
      `ERR_CONFIG: invalid config:\n  {file}: hub.listen: ${REMOTE}`,
    ],
    [
      'a pragma persist-sqlite sets itself',
      sqlite('{ journal_mode: DELETE }'),
      ['serve'],
      'ERR_CONFIG: invalid config:\n  {file}: persistence: pragma journal_mode is set by @concord/persist-sqlite (see durability)',
    ],
    [
      "a store's own persistence with a pragma name SQLite cannot have",
      `stores:\n  s:\n    schema: string\n    persistence: { kind: sqlite, path: s, pragmas: { "x; drop": 1 } }\nhub:\n  listen: tcp://127.0.0.1:0\npersistence: memory\n`,
      ['serve'],
      'ERR_CONFIG: invalid config:\n  {file}: stores.s.persistence: invalid pragma name "x; drop"',
    ],
    ['get --hub', ZMQ, ['get', 's', 'k', '--hub', 'nonsense'], `ERR_USAGE: --hub nonsense: ${REFUSED}`],
    [
      'hub.address',
      `hub:\n  address: nonsense\n${ZMQ}`,
      ['get', 's', 'k'],
      `ERR_CONFIG: invalid config:\n  {file}: hub.address: ${REFUSED}`,
    ],
  ])('%s', async (_what, config, argv, message) => {
    const here = await Workspace.create()
    try {
      const file = await here.file('concord.yaml', config)
      const r = await new Cli(here.dir).run(argv)
      expect(r).toMatchObject({
        code: 2,
        stdout: '',
        stderr: `concord: ${message.replace('{file}', file)}\n`,
      })
    } finally {
      await here.cleanup()
    }
  })
})

describe('arguments', () => {
  test('negative numbers are values, not options', async () => {
    expect((await cli.run(['put', 'n', 'k', '-5'])).stdout).toMatch(/^put k in n /)
    expect((await cli.run(['put', 'd', 'k', '-1.5s'])).stdout).toMatch(/^put k in d /)
    expect((await cli.run(['update', 'n', 'k', '-2', '--op', 'increment'])).stdout).toMatch(
      /^increment k \(seq \d+\)\n$/,
    )
    expect((await cli.run(['get', 'n', 'k'])).stdout).toBe('-7\n')
  })

  test('global options may come before the command', async () => {
    expect((await cli.run(['--config', 'concord.yaml', '--json', 'get', 'n', 'k'])).stdout).toBe(
      '{"@data-type":"integer","data":-7}\n',
    )
  })

  test('--debug adds the stack trace', async () => {
    const r = await cli.run(['get', 'nope', 'k', '--debug'])
    expect(r.code).toBe(2)
    expect(r.stderr.split('\n')[0]).toBe(
      "concord: ERR_USAGE: store 'nope' is not in the config (" +
        `${ws.dir}/concord.yaml); stores: n, d, guarded`,
    )
    expect(r.stderr).toMatch(/\n\s+at /)
    expect((await cli.run(['get', 'nope', 'k'])).stderr).not.toMatch(/\n\s+at /)
  })
})

describe('access rules from the config', () => {
  test('an identity may do what a rule grants, and is refused the rest with ERR_FORBIDDEN', async () => {
    expect((await cli.run(['put', 'guarded', 'k', 'v', '--identity', 'alice'])).code).toBe(0)
    expect((await cli.run(['get', 'guarded', 'k', '--identity', 'bob'])).stdout).toBe('v\n')
    const write = await cli.run(['put', 'guarded', 'k', 'w', '--identity', 'bob'])
    expect(write.code).toBe(1)
    expect(write.stderr).toMatch(/^concord: ERR_FORBIDDEN: /)
    const read = await cli.run(['get', 'n', 'k', '--identity', 'bob'])
    expect(read.code).toBe(1)
    expect(read.stderr).toMatch(/^concord: ERR_FORBIDDEN: /)
  })

  test('an import the hub refuses stops at the first refusal', async () => {
    const rows = Array.from({ length: 500 }, (_, i) => `k${i}\tv`).join('\n')
    const file = await ws.file('rows.tsv', `${rows}\n`)
    const r = await cli.run(['import', 'guarded', file, '--identity', 'bob'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^concord: ERR_FORBIDDEN: .*\n$/)
  })
})
