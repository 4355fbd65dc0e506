/**
 * The report of `concord conformance`: the tests' results grouped by the SPEC rules their
 * titles start with (`S4.3 expire and remove are distinct mutations`), as text or JSON.
 *
 * @module
 */
import type { EnvInfo, SuiteKind } from './runtime.js'

/** The result of one test. */
export interface TestRecord {
  readonly suite: SuiteKind
  /** The describe blocks between the suite and the test (`store suite`, `S3 writing`). */
  readonly path: readonly string[]
  /** The test's title, rule ids included. */
  readonly title: string
  /** The rule ids the title starts with (`S2.7`, `S9.1`). */
  readonly rules: readonly string[]
  readonly state: 'passed' | 'failed' | 'skipped'
  /** Milliseconds. */
  readonly duration: number
  /** The failure messages (first one first). */
  readonly errors: readonly string[]
}

/** One rule: how many of the tests that prove it passed and failed. */
export interface RuleSummary {
  readonly rule: string
  readonly passed: number
  readonly failed: number
  readonly skipped: number
  readonly tests: readonly {
    readonly suite: SuiteKind
    readonly title: string
    readonly state: TestRecord['state']
  }[]
}

/** One side of the pairing: the user's module, or the built-in in-memory adapter. */
export interface AdapterInfo {
  /** The package name or the path given; `memory` for the built-in adapter. */
  readonly label: string
  /** The module file (absent for the built-in adapter). */
  readonly module?: string
  /** What was called in it: `tcpTransport()`, `default.env()`. */
  readonly calls?: string
  /** `capabilities.name` of what the module made. */
  readonly name?: string
  /** A transport's first listen address: the module's `address`, else `tcp://127.0.0.1:0`. */
  readonly address?: string
  /** True when that address is `tcp://127.0.0.1:0`, the default for a module that exports none. */
  readonly defaultAddress?: boolean
}

/** The whole report; `--json` prints it as is. */
export interface ConformanceReport {
  /** True when every test passed and nothing failed outside a test. */
  readonly ok: boolean
  readonly transport: AdapterInfo
  readonly persistence: AdapterInfo
  readonly suites: readonly SuiteKind[]
  /** The optional environment members offered: tests that need a missing one are not registered. */
  readonly offered: EnvInfo['has']
  /** Every rule some test names, in SPEC order. */
  readonly rules: readonly RuleSummary[]
  readonly tests: readonly TestRecord[]
  /** Failures outside any test: a module that does not load, a suite that cannot be collected, unhandled errors. */
  readonly errors: readonly string[]
  readonly totals: {
    readonly tests: number
    readonly passed: number
    readonly failed: number
    readonly skipped: number
    /** Milliseconds, the whole run. */
    readonly duration: number
  }
}

const RULES = /^(?:S\d+(?:\.\d+)*\s+)+/

/** The rule ids a test title starts with. */
export function rulesOf(title: string): string[] {
  const head = RULES.exec(title)
  return head === null ? [] : head[0].trim().split(/\s+/)
}

/** Orders rule ids as the SPEC does: S2.1 < S2.10 < S10.1. */
export function compareRules(a: string, b: string): number {
  const pa = a.slice(1).split('.').map(Number)
  const pb = b.slice(1).split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1)
    if (d !== 0) return d
  }
  return 0
}

/** Groups the tests by rule; a test that names several rules counts for each. */
export function summarizeRules(tests: readonly TestRecord[]): RuleSummary[] {
  const byRule = new Map<string, TestRecord[]>()
  for (const test of tests) {
    for (const rule of test.rules.length === 0 ? ['(no rule)'] : test.rules) {
      const list = byRule.get(rule) ?? []
      list.push(test)
      byRule.set(rule, list)
    }
  }
  return [...byRule.keys()]
    .sort((a, b) => (a.startsWith('(') ? 1 : b.startsWith('(') ? -1 : compareRules(a, b)))
    .map((rule) => {
      const list = byRule.get(rule)!
      return {
        rule,
        passed: list.filter((t) => t.state === 'passed').length,
        failed: list.filter((t) => t.state === 'failed').length,
        skipped: list.filter((t) => t.state === 'skipped').length,
        tests: list.map((t) => ({ suite: t.suite, title: t.title, state: t.state })),
      }
    })
}

/** Which tests an optional member turns on, for the "not offered" line. */
const NEEDS: Readonly<Record<keyof EnvInfo['has'], string>> = {
  transportFor: 'S8 access control, identities',
  faults: 'S6.2 silence, S6.3 resume and convergence under loss, S6.5 slow clones, S7.6 slow subscribers',
  crash: 'S6.4 crash and restart',
  failCommits: 'S3.3 persistence failure',
  failReads: 'S9.2 failed reads, S4.3 their expiry retried',
  corrupt: 'S9.2 corrupt data',
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

function adapterLine(side: string, adapter: AdapterInfo): string {
  if (adapter.module === undefined) return `${side}: the in-memory ${side} of @concord/core`
  const call = adapter.calls === undefined ? '' : `${adapter.calls} from `
  const listen =
    adapter.address === undefined
      ? ''
      : `, listening on ${adapter.address}${adapter.defaultAddress === true ? " (the default: export 'address' from the module for another)" : ''}`
  return `${side}: ${call}${adapter.label}${adapter.name === undefined ? '' : ` (${adapter.name})`}${listen}`
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`
}

/** The report as text lines; with `verbose`, every test under its rules. */
export function formatReport(report: ConformanceReport, verbose: boolean): string[] {
  const lines = [
    adapterLine('transport', report.transport),
    adapterLine('persistence', report.persistence),
    `suites: ${report.suites.join(', ')}`,
  ]
  const missing = (Object.keys(NEEDS) as (keyof EnvInfo['has'])[]).filter((k) => !report.offered[k])
  const relevant = missing.filter((k) =>
    k === 'transportFor' || k === 'faults'
      ? report.transport.module !== undefined
      : report.persistence.module !== undefined,
  )
  if (relevant.length > 0 && report.totals.tests > 0) {
    lines.push(
      'not offered (their tests are not registered; export { env() } to offer them):',
      ...relevant.map((k) => `  ${k}: ${NEEDS[k]}`),
    )
  }
  lines.push('')
  const width = Math.max(5, ...report.rules.map((r) => r.rule.length))
  for (const rule of report.rules) {
    const counts = [
      `${rule.passed} passed`,
      ...(rule.failed > 0 ? [`${rule.failed} failed`] : []),
      ...(rule.skipped > 0 ? [`${rule.skipped} skipped`] : []),
    ].join(', ')
    lines.push(`${rule.rule.padEnd(width)}  ${rule.failed > 0 ? 'FAIL' : 'ok  '}  ${counts}`)
    for (const test of rule.tests) {
      if (verbose || test.state === 'failed') {
        lines.push(`${' '.repeat(width)}    ${mark(test.state)} ${test.suite}: ${test.title}`)
      }
    }
  }
  const failed = report.tests.filter((t) => t.state === 'failed')
  if (failed.length > 0) {
    lines.push('', 'failures:')
    for (const test of failed) {
      lines.push(`  ✗ ${[...(test.path.length > 0 ? test.path : [test.suite]), test.title].join(' › ')}`)
      for (const error of test.errors.slice(0, 1)) lines.push(...indent(error, '      '))
    }
  }
  if (report.errors.length > 0) {
    lines.push('', 'errors outside the tests:')
    for (const error of report.errors) lines.push(...indent(error, '  '))
  }
  const { tests, passed, skipped, duration } = report.totals
  const failedRules = report.rules.filter((r) => r.failed > 0).map((r) => r.rule)
  lines.push(
    '',
    [
      `${plural(tests, 'test')}: ${passed} passed`,
      `${report.totals.failed} failed${failedRules.length === 0 ? '' : ` (${failedRules.join(', ')})`}`,
      ...(skipped > 0 ? [`${skipped} skipped`] : []),
      ...(report.errors.length > 0 ? [plural(report.errors.length, 'error')] : []),
    ].join(', ') +
      `; ${plural(report.rules.filter((r) => !r.rule.startsWith('(')).length, 'rule')} in ${seconds(duration)}: ${report.ok ? 'conformant' : 'NOT conformant'}`,
  )
  return lines
}

function mark(state: TestRecord['state']): string {
  return state === 'passed' ? '✓' : state === 'failed' ? '✗' : '-'
}

/** The first lines of `text`, indented. */
function indent(text: string, prefix: string, max = 8): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  const shown = lines.slice(0, max).map((l) => `${prefix}${l}`)
  if (lines.length > max) shown.push(`${prefix}…`)
  return shown
}
