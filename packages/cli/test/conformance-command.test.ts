/**
 * `concord conformance` end to end, in this process: the suites run in a vitest of their own
 * against the TCP example (its TypeScript source, which that vitest compiles) and against a
 * deliberately broken copy of it. The suites and core load from their built `dist` there, as
 * for an installed CLI: `npm test` builds them first (turbo.json, `@concord/cli#test`).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type ConformanceReport, formatReport } from '../src/conformance/report.js'
import { resolveTarget } from '../src/conformance/target.js'
import { Cli, Workspace } from './support/harness.js'

const TCP_SOURCE = fileURLToPath(new URL('../../../examples/transport-tcp/src/index.ts', import.meta.url))
const PERSISTENCE_FIXTURE = fileURLToPath(new URL('./fixtures/memory-persistence.mjs', import.meta.url))

/** Rules the TCP example must show passing tests for (no S8 access control: it offers no transportFor). */
const EXPECTED_RULES = [
  ...['S2.1', 'S2.2', 'S2.3', 'S2.4', 'S2.5', 'S2.6', 'S2.7'],
  ...['S3.1', 'S3.2', 'S3.3', 'S3.4', 'S3.5', 'S3.6', 'S3.7'],
  ...['S4.1', 'S4.2', 'S4.3', 'S4.4', 'S4.5', 'S5.1', 'S5.2'],
  ...['S6.1', 'S6.2', 'S6.3', 'S6.4', 'S7.1', 'S7.2', 'S7.3', 'S7.4', 'S7.5', 'S7.6'],
  ...['S8.1', 'S8.2', 'S9.1', 'S9.2', 'S10.1'],
]

let ws: Workspace
let cli: Cli

beforeAll(async () => {
  ws = await Workspace.create()
  cli = new Cli(ws.dir)
})

afterAll(async () => {
  await ws.cleanup()
})

describe('concord conformance', () => {
  test('the TCP example passes the transport, store and events suites; the report goes rule by rule', async () => {
    const { code, stdout, stderr } = await cli.run(['conformance', '--transport', TCP_SOURCE, '--json'])
    const report = JSON.parse(stdout) as ConformanceReport
    expect(report.errors).toEqual([])
    expect(code, stderr).toBe(0)
    expect(report.ok).toBe(true)
    expect(report.suites).toEqual(['transport', 'store', 'events'])
    expect(report.transport).toEqual({
      label: TCP_SOURCE,
      module: TCP_SOURCE,
      calls: 'tcpTransport()',
      name: 'tcp',
      address: 'tcp://127.0.0.1:0',
      defaultAddress: true,
    })
    expect(report.persistence).toEqual({ label: 'memory' })
    expect(report.offered).toEqual({
      transportFor: false,
      faults: false,
      crash: true,
      failCommits: true,
      failReads: true,
      corrupt: true,
    })
    const rules = report.rules.map((r) => r.rule)
    expect(rules).toEqual(expect.arrayContaining(EXPECTED_RULES))
    expect(rules[0]).toBe('S2.1')
    expect(rules.at(-1)).toBe('S10.1')
    for (const rule of report.rules) {
      expect(rule.failed, rule.rule).toBe(0)
      expect(rule.passed, rule.rule).toBeGreaterThan(0)
    }
    expect(report.totals.failed).toBe(0)
    expect(report.totals.passed).toBe(report.totals.tests)
    expect(report.totals.tests).toBeGreaterThan(100)
    expect(new Set(report.tests.map((t) => t.suite))).toEqual(new Set(['transport', 'store', 'events']))

    const text = formatReport(report, false)
    expect(text).toContain(
      `transport: tcpTransport() from ${TCP_SOURCE} (tcp), listening on tcp://127.0.0.1:0 (the default: export 'address' from the module for another)`,
    )
    expect(text).toContain('persistence: the in-memory persistence of @concord/core')
    expect(text.find((l) => l.startsWith('S2.1 '))).toMatch(/^S2\.1\s+ok\s+\d+ passed$/)
    expect(text.find((l) => l.startsWith('S10.1 '))).toMatch(/^S10\.1\s+ok\s+\d+ passed$/)
    expect(text.some((l) => l.startsWith('  transportFor: S8 access control'))).toBe(true)
    expect(text.at(-1)).toMatch(/^\d+ tests: \d+ passed, 0 failed; \d+ rules in [\d.]+s: conformant$/)
  }, 60_000)

  test('a transport that never asks the hub to authorize a subscription fails S8.2, exit code 1', async () => {
    const broken = await ws.file(
      'broken-transport.mjs',
      [
        `import { tcpTransport } from ${JSON.stringify(pathToFileURL(TCP_SOURCE).href)}`,
        '',
        '// Grants every subscription without asking the hub.',
        'export function createTransport() {',
        '  const inner = tcpTransport()',
        '  return {',
        '    capabilities: inner.capabilities,',
        '    listen: (address, handlers, options) =>',
        '      inner.listen(',
        '        address,',
        '        {',
        '          peerJoined: (peer) => handlers.peerJoined(peer),',
        '          peerLeft: (peer, reason) => handlers.peerLeft(peer, reason),',
        '          frame: (peer, frame) => handlers.frame(peer, frame),',
        '          authorizeSubscription: () => true,',
        '          refused: (peer, error) => handlers.refused(peer, error),',
        '        },',
        '        options,',
        '      ),',
        '    connect: (address, handlers, options) => inner.connect(address, handlers, options),',
        '  }',
        '}',
        '',
        "export const address = () => 'tcp://127.0.0.1:0'",
        '',
      ].join('\n'),
    )
    const { code, lines } = await cli.run(['conformance', '--transport', broken])
    expect(code).toBe(1)
    expect(lines).toContain(
      `transport: createTransport() from ${broken} (tcp), listening on tcp://127.0.0.1:0 (the default: export 'address' from the module for another)`,
    )
    expect(lines.find((l) => l.startsWith('S8.2 '))).toMatch(/^S8\.2\s+FAIL\s+\d+ passed, 1 failed$/)
    // Under its rule, then with its error among the failures.
    const under = lines.findIndex((l) => l.startsWith('S8.2 '))
    expect(lines[under + 1]).toMatch(
      /^\s+✗ transport: S8\.2 a subscription the hub refuses rejects with ForbiddenError and receives nothing$/,
    )
    expect(lines).toContain('failures:')
    const failure = lines.findIndex((l) =>
      l.startsWith('  ✗ transport suite › S8.2 a subscription the hub refuses'),
    )
    expect(failure).toBeGreaterThan(lines.indexOf('failures:'))
    expect(lines[failure + 1]).toBe(
      '      AssertionError: expected undefined to be an instance of ForbiddenError',
    )
    expect(lines.find((l) => l.startsWith('S2.1 '))).toMatch(/^S2\.1\s+ok\s+/)
    expect(lines.at(-1)).toMatch(
      /^\d+ tests: \d+ passed, 1 failed \(S8\.2\); \d+ rules in [\d.]+s: NOT conformant$/,
    )
  }, 60_000)

  test("the report's first line names the listen address, and says when it is the default a module with another address form must replace", async () => {
    // A transport of its own address form that forgot to export `address`: every test fails
    // on the default tcp://127.0.0.1:0, and the header says where that address came from.
    const local = await ws.file(
      'local-transport.mjs',
      [
        `import { tcpTransport } from ${JSON.stringify(pathToFileURL(TCP_SOURCE).href)}`,
        '',
        'export function localTransport() {',
        '  const inner = tcpTransport()',
        '  const check = (address) => {',
        "    if (!address.startsWith('local://')) throw new TypeError('not a local:// address: ' + address)",
        "    return address.replace('local://', 'tcp://')",
        '  }',
        '  return {',
        "    capabilities: { ...inner.capabilities, name: 'local' },",
        '    listen: async (address, handlers, options) => inner.listen(check(address), handlers, options),',
        '    connect: async (address, handlers, options) => inner.connect(check(address), handlers, options),',
        '  }',
        '}',
        '',
      ].join('\n'),
    )
    const failing = await cli.run(['conformance', '--transport', local, '--json'])
    expect(failing.code).toBe(1)
    const report = JSON.parse(failing.stdout) as ConformanceReport
    expect(report.transport).toMatchObject({ address: 'tcp://127.0.0.1:0', defaultAddress: true })
    expect(formatReport(report, false)[0]).toBe(
      `transport: localTransport() from ${local} (local), listening on tcp://127.0.0.1:0 (the default: export 'address' from the module for another)`,
    )
    expect(report.tests.find((t) => t.state === 'failed')?.errors.join('\n')).toContain(
      'not a local:// address: tcp://127.0.0.1:0',
    )
  }, 60_000)

  test('a persistence given as { env() } runs the persistence and store suites over the in-memory transport', async () => {
    const { code, stdout } = await cli.run(['conformance', '--persistence', PERSISTENCE_FIXTURE, '--json'])
    const report = JSON.parse(stdout) as ConformanceReport
    expect(report.errors).toEqual([])
    expect(code).toBe(0)
    expect(report.suites).toEqual(['persistence', 'store'])
    expect(report.transport).toEqual({ label: 'memory' })
    expect(report.persistence).toMatchObject({ calls: 'persistence.env()', name: 'memory' })
    expect(report.offered).toMatchObject({ transportFor: true, faults: true, crash: true, failCommits: true })
    expect(new Set(report.tests.map((t) => t.suite))).toEqual(new Set(['persistence', 'store']))
    expect(report.rules.find((r) => r.rule === 'S6.4')?.passed).toBeGreaterThan(0)
    expect(report.totals.failed).toBe(0)
  }, 60_000)

  test('a module without a factory is a usage error naming its exports (exit code 2)', async () => {
    const file = await ws.file('no-factory.mjs', 'export const version = 1\nexport const helper = () => 1\n')
    const { code, stderr, stdout } = await cli.run(['conformance', '--transport', file])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toContain(
      `concord: ERR_USAGE: ${file} has no transport factory: export one as default, 'transport' or 'createTransport' (its exports: helper, version)`,
    )
  }, 30_000)

  test('a factory returning something else is a usage error too', async () => {
    const file = await ws.file('bad-env.mjs', 'export default { env: () => ({ address: () => "x" }) }\n')
    const { code, stderr } = await cli.run(['conformance', '--transport', file])
    expect(code).toBe(2)
    expect(stderr).toContain(`${file}: default.env() returned an object without a Transport in 'transport'`)
  }, 30_000)

  test('usage errors before anything runs', async () => {
    const none = await cli.run(['conformance'])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('give --transport MODULE, --persistence MODULE or both')

    const missing = await cli.run(['conformance', '--transport', './nope.js'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain(`--transport: no such file or folder: ${join(ws.dir, 'nope.js')}`)

    const unknown = await cli.run(['conformance', '--persistence', 'no-such-package'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('no such file, folder or installed package: no-such-package')
  })
})

describe('module targets', () => {
  test('a package folder loads what Node would import: the built default export, never concord-source', async () => {
    const dir = join(ws.dir, 'pkg')
    await mkdir(join(dir, 'dist'), { recursive: true })
    await mkdir(join(dir, 'src'), { recursive: true })
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({
        name: '@me/transport',
        type: 'module',
        exports: {
          '.': { 'concord-source': './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' },
        },
      }),
    )
    await writeFile(join(dir, 'src', 'index.ts'), '')
    expect(() => resolveTarget('./pkg', ws.dir, 'transport')).toThrow(
      /--transport \.\/pkg: @me\/transport loads \.\/dist\/index\.js, which does not exist: build the package first/,
    )
    await writeFile(join(dir, 'dist', 'index.js'), '')
    expect(resolveTarget('./pkg', ws.dir, 'transport')).toEqual({
      file: join(dir, 'dist', 'index.js'),
      label: '@me/transport',
    })
    expect(resolveTarget('./pkg#myTransport', ws.dir, 'transport')).toEqual({
      file: join(dir, 'dist', 'index.js'),
      label: '@me/transport',
      exportName: 'myTransport',
    })
  })

  test('conditional exports follow node, import, default in key order; main is the fallback', async () => {
    const dir = join(ws.dir, 'node_modules', 'plain')
    await mkdir(join(dir, 'lib'), { recursive: true })
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'plain', main: './lib/main.js' }))
    await writeFile(join(dir, 'lib', 'main.js'), '')
    expect(resolveTarget('plain', join(ws.dir, 'pkg'), 'persistence')).toEqual({
      file: join(dir, 'lib', 'main.js'),
      label: 'plain',
    })
    const nested = join(ws.dir, 'node_modules', 'nested')
    await mkdir(join(nested, 'esm'), { recursive: true })
    await writeFile(
      join(nested, 'package.json'),
      JSON.stringify({
        name: 'nested',
        exports: {
          require: './cjs/index.cjs',
          node: { import: './esm/index.js', default: './cjs/index.cjs' },
        },
      }),
    )
    await writeFile(join(nested, 'esm', 'index.js'), '')
    expect(resolveTarget('nested', ws.dir, 'transport').file).toBe(join(nested, 'esm', 'index.js'))
  })
})
