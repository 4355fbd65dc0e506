#!/usr/bin/env node
/**
 * Which tests prove which rule of docs/SPEC.md.
 *
 * Collects every rule id of the spec (`- S2.1 …`), then every test title in the test files
 * (`it('S2.1 S3.4 …')`, `test("S4.2 …")`) under packages/* /test, conformance/src,
 * conformance/test and examples/* /test, and prints each rule with the tests whose title
 * starts with its id. Exits 1 when a rule has no test, or a title names a rule the spec does
 * not have. Plain Node, no dependencies: `node scripts/spec-coverage.mjs`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const RULE = /S\d+\.\d+/g
const TEST_FILE = /\.(?:[cm]?[jt]sx?)$/

/** Rule ids in spec order, each with its first words for the report. */
function rules() {
  const spec = readFileSync(join(root, 'docs', 'SPEC.md'), 'utf8')
  const out = new Map()
  for (const line of spec.split('\n')) {
    const match = /^\s*-\s+(S\d+\.\d+)\s+(.*)$/.exec(line)
    if (match && !out.has(match[1])) out.set(match[1], match[2].replace(/`/g, '').slice(0, 70))
  }
  return out
}

/** The directories to scan, relative to the root. */
function testDirs() {
  const dirs = ['conformance/src', 'conformance/test']
  for (const parent of ['packages', 'examples']) {
    let children = []
    try {
      children = readdirSync(join(root, parent))
    } catch {
      continue
    }
    for (const child of children.sort()) dirs.push(`${parent}/${child}/test`)
  }
  return dirs.filter((dir) => {
    try {
      return statSync(join(root, dir)).isDirectory()
    } catch {
      return false
    }
  })
}

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* files(path)
    else if (TEST_FILE.test(entry.name) && !entry.name.endsWith('.d.ts')) yield path
  }
}

/**
 * Test titles of a source file: the first argument of `it(…)`/`test(…)` (and `.only`/`.each`
 * forms, not `.skip`/`.todo`) when it is a string literal.
 */
function titles(source) {
  const out = []
  const call = /\b(?:it|test)((?:\.\w+)*)\s*\(\s*(['"`])((?:\\.|(?!\2)[^\\])*)\2/g
  for (let match = call.exec(source); match !== null; match = call.exec(source)) {
    const modifiers = match[1]
    if (/\.(?:skip|todo)\b/.test(modifiers)) continue
    out.push(match[3].replace(/\\(.)/g, '$1'))
  }
  return out
}

const spec = rules()
const proving = new Map([...spec.keys()].map((id) => [id, []]))
const unknown = []
let scanned = 0
for (const dir of testDirs()) {
  for (const file of files(join(root, dir))) {
    scanned++
    for (const title of titles(readFileSync(file, 'utf8'))) {
      const head = /^((?:S\d+\.\d+[\s,]+)+)/.exec(`${title} `)
      if (head === null) continue
      for (const id of head[1].match(RULE) ?? []) {
        const where = `${relative(root, file)}: ${title}`
        if (proving.has(id)) proving.get(id).push(where)
        else unknown.push(`${id} in ${where}`)
      }
    }
  }
}

let missing = 0
for (const [id, summary] of spec) {
  const tests = proving.get(id)
  const mark = tests.length === 0 ? 'MISSING' : `${tests.length} test${tests.length === 1 ? '' : 's'}`
  console.log(`${id.padEnd(6)} ${mark.padEnd(9)} ${summary}`)
  for (const test of tests) console.log(`         - ${test}`)
  if (tests.length === 0) missing++
}
console.log('')
console.log(
  `${spec.size} rules, ${spec.size - missing} covered, ${missing} without a test; ${scanned} files scanned.`,
)
if (unknown.length > 0) {
  console.log('')
  console.log('Titles naming rules that docs/SPEC.md does not have:')
  for (const line of unknown) console.log(`  ${line}`)
}
if (spec.size === 0) console.log('No rule ids found in docs/SPEC.md.')
process.exitCode = missing > 0 || unknown.length > 0 || spec.size === 0 ? 1 : 0
