/**
 * `concord export` in human form, then `concord import` of what it wrote, gives back every
 * entry exactly, for every type whose human form reads back (README "Key<TAB>value lines").
 * The real commands against a real hub (the in-memory transport, in this process): a store
 * is loaded from `{"key":…,"value":…}` lines (exact), exported in human form, imported into
 * a second store of the same type, and both are exported with --json to compare.
 */
import { join } from 'node:path'
import type { AnySchemaType } from '@concord/schema'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { entryJson } from '../src/commands/store-commands.js'
import { parseZeekType } from '../src/zeek-types.js'
import { Cli, Workspace } from './support/harness.js'
import { HUMAN_TYPES, humanValueArb, textArb } from './support/values.js'

/** A store name for a type: `set[addr]` → `set-addr-`, and its copy `set-addr-.back`. */
const storeOf = (type: string) => type.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-/, '')
const RECORD = 'record { a: count; b: string }'

let ws: Workspace
let cli: Cli
let hubs = 0

beforeAll(async () => {
  ws = await Workspace.create()
  const stores = [...HUMAN_TYPES, RECORD]
    .map((type) => `  ${storeOf(type)}: '${type}'\n  ${storeOf(type)}.back: '${type}'\n`)
    .join('')
  await ws.file('concord.yaml', `transport: memory\npersistence: memory\nstores:\n${stores}`)
  cli = new Cli(ws.dir)
})

afterAll(async () => {
  await ws.cleanup()
})

type Entries = ReadonlyArray<readonly [string, unknown]>

/** What `export --json` writes for `entries`: one line each, sorted by key. */
function jsonLines(schema: AnySchemaType, entries: Entries): string {
  return [...entries]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${entryJson(schema, key, value)}\n`)
    .join('')
}

/**
 * Loads `entries` into the store of `type` on a fresh hub, exports it in human form, imports
 * that into the store's copy; resolves to the human form and what the copy holds (--json).
 */
async function roundTrip(type: string, entries: Entries): Promise<{ plain: string; back: string }> {
  const schema = parseZeekType(type)
  const store = storeOf(type)
  const address = `memory://round-trip-${++hubs}`
  const hub = await cli.background(['serve', '--listen', address], /ready/)
  const at = ['--hub', address]
  try {
    const given = await ws.file('given.jsonl', jsonLines(schema, entries))
    expect(await cli.run(['import', store, given, ...at])).toMatchObject({ code: 0 })
    expect((await cli.run(['export', store, '--json', ...at])).stdout).toBe(jsonLines(schema, entries))
    const plain = join(ws.dir, 'plain.tsv')
    expect((await cli.run(['export', store, plain, ...at])).code).toBe(0)
    const imported = await cli.run(['import', `${store}.back`, plain, ...at])
    expect(imported.stderr).toMatch(
      new RegExp(
        `^imported ${entries.length} of ${entries.length} rows into ${store}\\.back .*, 0 errors\\n$`,
      ),
    )
    expect(imported.code).toBe(0)
    const back = await cli.run(['export', `${store}.back`, '--json', ...at])
    const exported = await cli.run(['export', store, ...at])
    return { plain: exported.stdout, back: back.stdout }
  } finally {
    hub.stop()
    await hub.code
  }
}

describe('export in human form, then import, gives back every entry', () => {
  test.each<[string, string, Entries, string]>([
    [
      'a string that looks like Zeek JSON stays a string',
      'string',
      [
        ['a', '{"@data-type":"count","data":1}'],
        ['b', '{"@data-type":"string","data":"x"}'],
      ],
      'a\t{"@data-type":"count","data":1}\nb\t{"@data-type":"string","data":"x"}\n',
    ],
    [
      'tabs, newlines, CRs and backslashes in keys and values are escaped',
      'string',
      [
        ['a\tb', 'c\td'],
        ['line\nbreak', 'one\ntwo\r\nthree'],
        ['path', 'C:\\temp\\x41'],
      ],
      'a\\x09b\tc\\x09d\nline\\x0abreak\tone\\x0atwo\\x0d\\x0athree\npath\tC:\\\\temp\\\\x41\n',
    ],
    [
      'a set whose first element needs quotes',
      'set[string]',
      [['team', new Set(['b c', 'a'])]],
      'team\t{"b c", a}\n',
    ],
    [
      'a vector of strings with commas, quotes and control characters',
      'vector of string',
      [['v', ['a, b', '"q"', '\t', '', ' x ']]],
      'v\t["a, b", "\\\\"q\\\\"", "\\\\t", "", " x "]\n',
    ],
    ['a first key like a Zeek header', 'count', [['#fields', 1n]], '\\x23fields\t1\n'],
    ['a first key like JSON', 'count', [['{"key":"k","value":1}', 2n]], '\\x7b"key":"k","value":1}\t2\n'],
    ['a first key of spaces and {', 'set[count]', [['  {', new Set([3n])]], '\\x20 {\t{3}\n'],
    ['the empty key and the empty string', 'string', [['', '']], '\t\n'],
    ['the empty key with a set', 'set[string]', [['', new Set(['a'])]], '\t{a}\n'],
    ['negative zero', 'double', [['z', -0]], 'z\t-0\n'],
  ])('%s', async (_what, type, entries, plain) => {
    const result = await roundTrip(type, entries)
    expect(result.plain).toBe(plain)
    expect(result.back).toBe(jsonLines(parseZeekType(type), entries))
  })

  test(`a property: any entries of ${HUMAN_TYPES.length} types (simple, and sets and vectors of them)`, async () => {
    const cases = fc.constantFrom(...HUMAN_TYPES).chain((type) =>
      fc.tuple(
        fc.constant(type),
        fc.uniqueArray(fc.tuple(textArb, humanValueArb(type)), {
          minLength: 1,
          maxLength: 5,
          selector: ([key]) => key,
        }),
      ),
    )
    await fc.assert(
      fc.asyncProperty(cases, async ([type, entries]) => {
        const { back } = await roundTrip(type, entries)
        expect(back).toBe(jsonLines(parseZeekType(type), entries))
      }),
      { numRuns: 60 },
    )
  }, 120_000)
})

test('a record has no human form to read back: import says to export with --json', async () => {
  const address = `memory://round-trip-${++hubs}`
  const hub = await cli.background(['serve', '--listen', address], /ready/)
  const at = ['--hub', address]
  const value =
    '{"@data-type":"vector","data":[{"@data-type":"count","data":7},{"@data-type":"string","data":"x"}]}'
  try {
    const store = storeOf(RECORD)
    expect((await cli.run(['put', store, 'r', '--json', value, ...at])).code).toBe(0)
    const plain = join(ws.dir, 'record.tsv')
    await cli.run(['export', store, plain, ...at])
    const refused = await cli.run(['import', `${store}.back`, plain, ...at])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(
      new RegExp(
        `^line 1: the values of store '${store}\\.back' have no human form to read back: export them with --json \\(or write each value as Zeek JSON\\)\n`,
      ),
    )
    // As Zeek JSON, escaped like any field, the value is read.
    const json = await ws.file('record-json.tsv', `r\t${value}\n`)
    expect((await cli.run(['import', `${store}.back`, json, ...at])).code).toBe(0)
    expect((await cli.run(['get', `${store}.back`, 'r', '--json', ...at])).stdout).toBe(`${value}\n`)
  } finally {
    hub.stop()
    await hub.code
  }
})
