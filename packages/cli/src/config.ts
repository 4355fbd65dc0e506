/**
 * The config file (`concord.yaml`): loading and validation. Every problem is reported with
 * the key's path, what was expected, what was found and the line; validation goes on after
 * the first problem so one run lists them all. The format is documented in the README.
 *
 * @module
 */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { AccessRule, Action } from '@concord/core'
import { toMillis } from '@concord/core'
import type { AnySchemaType } from '@concord/schema'
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type Scalar,
  type YAMLMap,
} from 'yaml'
import {
  type AdapterOptions,
  type AdapterRegistry,
  DEFAULT_PERSISTENCE,
  DEFAULT_TRANSPORT,
  defaultAdapters,
  type OptionSpec,
  type OptionsSpec,
} from './adapters.js'
import { ConfigError, type ConfigProblem, TypeSyntaxError } from './errors.js'
import { closest, formatZeekType, parseZeekType } from './zeek-types.js'

/** What a timer takes: Node runs a longer delay after 1 ms. 2^31 - 1 ms is about 24.8 days. */
export const timerRange = { max: 2 ** 31 - 1, maxText: '24d' } as const

/** The shortest period of stats lines (`--stats`, `hub.stats`, `node.stats`), in ms. */
export const STATS_MIN_MS = 10

/** A duration written as a bare number, which the config and the options refuse as ambiguous. */
export function isBareNumber(text: string): boolean {
  return /^\d+(\.\d+)?$/.test(text.trim())
}

/** An adapter a config chose: its kind and its checked options. */
export interface AdapterChoice {
  readonly kind: string
  readonly options: AdapterOptions
}

/** A store as the config defines it. */
export interface StoreDefinition {
  readonly schema: AnySchemaType
  /** The schema in Zeek's syntax. */
  readonly type: string
  readonly expiry?: string
  readonly expiryTolerance?: string
  readonly maxValueSize?: number
  /** A persistence of its own, instead of the hub's. */
  readonly persistence?: AdapterChoice
}

/** A topic prefix with a payload schema. */
export interface TopicDefinition {
  readonly schema: AnySchemaType
  /** The schema in Zeek's syntax. */
  readonly type: string
}

/** A checked config: everything `serve` and the node commands need. */
export interface ConcordConfig {
  /** The file it came from (absolute), or undefined for the built-in defaults. */
  readonly file: string | undefined
  /** Relative paths in the file are relative to this folder. */
  readonly dir: string
  /** Where `serve` listens. */
  readonly listen: string
  /** Where node commands connect (`--hub` overrides it). */
  readonly address: string
  readonly heartbeat?: string
  /** The period of `serve --stats` lines in ms (`hub.stats`); undefined: none. */
  readonly hubStats?: number
  readonly transport: AdapterChoice
  readonly persistence: AdapterChoice
  readonly node: {
    readonly identity?: string
    readonly groups: readonly string[]
    /** How long a command waits for the hub, in ms. */
    readonly timeout: number
    /** The period of the stats lines of `watch` and `sub` in ms (`node.stats`); undefined: none. */
    readonly stats?: number
  }
  readonly types: Readonly<Record<string, AnySchemaType>>
  readonly stores: Readonly<Record<string, StoreDefinition>>
  readonly topics: Readonly<Record<string, TopicDefinition>>
  /** Access rules; undefined: everyone may do everything. */
  readonly access?: readonly AccessRule[]
}

/** Options of {@link parseConfig} and {@link loadConfig}. */
export interface ConfigOptions {
  /** Environment for `${VAR}` references. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The adapter kinds a config may name. Default {@link defaultAdapters}. */
  readonly adapters?: AdapterRegistry
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/
const TYPE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const ACTIONS: readonly Action[] = ['read', 'write', 'publish', 'subscribe']
const BUILTIN_TYPES = new Set([
  'bool',
  'int',
  'count',
  'double',
  'string',
  'time',
  'interval',
  'port',
  'addr',
  'subnet',
  'enum',
  'set',
  'vector',
  'table',
  'record',
])

/** The name of the config file looked for in the current folder. */
export const DEFAULT_CONFIG_FILE = 'concord.yaml'

type Found = Node | null | undefined

class Checker {
  readonly problems: ConfigProblem[] = []

  constructor(
    readonly lines: LineCounter,
    readonly env: Readonly<Record<string, string | undefined>>,
  ) {}

  line(node: Found): number | undefined {
    const at = node?.range?.[0]
    return at === undefined ? undefined : this.lines.linePos(at).line
  }

  add(path: string, node: Found, message: string, line = this.line(node)): void {
    this.problems.push(line === undefined ? { path, message } : { path, message, line })
  }

  expected(path: string, node: Found, what: string): undefined {
    this.add(path, node, `expected ${what}, found ${found(node)}`)
    return undefined
  }

  /** The entries of a map with string keys, or undefined after a problem. */
  map(path: string, node: Found, what = 'a map'): Array<[string, Scalar, Found]> | undefined {
    if (!isMap(node)) return this.expected(path, node, what)
    const out: Array<[string, Scalar, Found]> = []
    for (const pair of (node as YAMLMap).items) {
      const key = pair.key as Found
      if (!isScalar(key) || (typeof key.value !== 'string' && typeof key.value !== 'number')) {
        this.add(path, key, `keys must be names, found ${found(key)}`)
        continue
      }
      out.push([String(key.value), key, pair.value as Found])
    }
    return out
  }

  /** Reports keys not in `allowed` (with a "did you mean"); returns the entries by key. */
  fields(
    path: string,
    entries: Array<[string, Scalar, Found]>,
    allowed: readonly string[],
  ): Map<string, [Scalar, Found]> {
    const byKey = new Map<string, [Scalar, Found]>()
    for (const [name, key, value] of entries) {
      if (!allowed.includes(name)) {
        const guess = closest(name, allowed)
        const list = allowed.length === 0 ? 'no keys here' : `one of ${allowed.join(', ')}`
        this.add(
          join(path, name),
          key,
          `unknown key${guess === undefined ? `; expected ${list}` : ` (did you mean '${guess}'?)`}`,
        )
        continue
      }
      byKey.set(name, [key, value])
    }
    return byKey
  }

  string(path: string, node: Found, what = 'a string'): string | undefined {
    if (!isScalar(node) || typeof node.value !== 'string') {
      if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean')) {
        // YAML reads `8080` as a number; a string option takes its text.
        return String(node.value)
      }
      return this.expected(path, node, what)
    }
    return this.expand(path, node, node.value)
  }

  expand(path: string, node: Found, text: string): string | undefined {
    let ok = true
    const out = text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const value = this.env[name]
      if (value === undefined) {
        this.add(path, node, `environment variable ${name} is not set`)
        ok = false
        return ''
      }
      return value
    })
    return ok ? out : undefined
  }

  /** A duration text; for a timer (`timerMin` given, in ms), from `timerMin` to {@link timerRange}. */
  duration(path: string, node: Found, timerMin?: number): string | undefined {
    if (isScalar(node) && typeof node.value === 'number') {
      return this.expected(
        path,
        node,
        `a duration with a unit like 250ms, 30s, 5m, 1h or 1d (a bare number is ambiguous)`,
      )
    }
    const text = this.string(path, node, 'a duration like 250ms, 30s, 5m, 1h or 1d')
    if (text === undefined) return undefined
    let ms: number
    try {
      ms = toMillis(text)
      if (isBareNumber(text)) throw new RangeError('no unit')
    } catch {
      return this.expected(path, node, 'a duration like 250ms, 30s, 5m, 1h or 1d')
    }
    if (timerMin !== undefined && (ms < timerMin || ms > timerRange.max)) {
      return this.expected(path, node, `a duration from ${timerMin}ms to ${timerRange.maxText}`)
    }
    return text
  }

  /** The period of stats lines (`hub.stats`, `node.stats`), in ms: a timer's duration from {@link STATS_MIN_MS}. */
  period(path: string, node: Found): number | undefined {
    const d = this.duration(path, node, STATS_MIN_MS)
    return d === undefined ? undefined : toMillis(d)
  }

  integer(path: string, node: Found, min?: number, max?: number): number | undefined {
    const v = isScalar(node) ? node.value : undefined
    const range =
      min !== undefined && max !== undefined
        ? ` in ${min}..${max}`
        : min !== undefined
          ? ` >= ${min}`
          : max !== undefined
            ? ` <= ${max}`
            : ''
    if (typeof v !== 'number' || !Number.isSafeInteger(v))
      return this.expected(path, node, `an integer${range}`)
    if ((min !== undefined && v < min) || (max !== undefined && v > max)) {
      return this.expected(path, node, `an integer${range}`)
    }
    return v
  }

  boolean(path: string, node: Found): boolean | undefined {
    if (isScalar(node) && typeof node.value === 'boolean') return node.value
    return this.expected(path, node, 'true or false')
  }

  oneOf<T extends string>(path: string, node: Found, values: readonly T[], what?: string): T | undefined {
    const text = isScalar(node) && typeof node.value === 'string' ? node.value : undefined
    if (text !== undefined && (values as readonly string[]).includes(text)) return text as T
    const guess = text === undefined ? undefined : closest(text, values)
    const expectation = what ?? `one of ${values.join(', ')}`
    if (guess !== undefined) {
      this.add(path, node, `expected ${expectation}, found ${found(node)} (did you mean '${guess}'?)`)
      return undefined
    }
    return this.expected(path, node, expectation)
  }

  /** A list of strings; a single string is taken as a list of one. */
  strings(path: string, node: Found, what = 'a list of strings'): string[] | undefined {
    if (isScalar(node) && typeof node.value === 'string') {
      const one = this.expand(path, node, node.value)
      return one === undefined ? undefined : [one]
    }
    if (!isSeq(node)) return this.expected(path, node, what)
    const out: string[] = []
    let ok = true
    node.items.forEach((item, i) => {
      const s = this.string(`${path}[${i}]`, item as Found)
      if (s === undefined) ok = false
      else out.push(s)
    })
    return ok ? out : undefined
  }
}

function join(path: string, key: string): string {
  const part = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key)
  return path === '' ? part : `${path}.${part}`
}

/** "a map", "a list", "the number 300", "\"5 minutes\"", "nothing". */
function found(node: Found): string {
  if (node === null || node === undefined) return 'nothing'
  if (isMap(node)) return 'a map'
  if (isSeq(node)) return 'a list'
  if (isScalar(node)) {
    const v = node.value
    if (v === null) return 'nothing'
    if (typeof v === 'string') return JSON.stringify(v)
    if (typeof v === 'number') return `the number ${v}`
    if (typeof v === 'boolean') return String(v)
    return String(v)
  }
  return 'an alias'
}

/** The file line of line `typeLine` (1-based) of a type string written at `node`. */
function typeLine(checker: Checker, node: Found, error: TypeSyntaxError): number | undefined {
  const start = checker.line(node)
  if (start === undefined) return undefined
  const block = isScalar(node) && (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED')
  return block ? start + error.line : start + error.line - 1
}

/** "reason" plus the line of the type with a caret under the problem. */
function typeMessage(text: string, error: TypeSyntaxError): string {
  const line = text.split('\n')[error.line - 1] ?? ''
  const indent = line.length - line.trimStart().length
  const shown = line.trim()
  const caret = ' '.repeat(Math.max(0, error.column - 1 - indent))
  return `${error.reason}:\n      ${shown}\n      ${caret}^`
}

/** A named type that failed; `silent` when the failure was already reported (a cycle). */
class BrokenType extends Error {
  constructor(
    name: string,
    readonly silent = false,
  ) {
    super(name)
  }
}

/**
 * Checks a config file's text. Throws {@link ConfigError} listing every problem.
 * `file` names the file in messages; relative paths resolve against `dir`.
 */
export function parseConfig(
  text: string,
  where: { readonly file?: string; readonly dir: string },
  options: ConfigOptions = {},
): ConcordConfig {
  const adapters = options.adapters ?? defaultAdapters()
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true })
  const c = new Checker(lines, options.env ?? process.env)
  const file = where.file
  if (doc.errors.length > 0) {
    const seen = new Set<number | undefined>()
    const problems: ConfigProblem[] = []
    for (const e of doc.errors) {
      const line = e.linePos?.[0]?.line
      // YAML reports one mistake at several places of a line: the first says it.
      if (seen.has(line)) continue
      seen.add(line)
      const hint =
        e.code === 'BLOCK_AS_IMPLICIT_KEY'
          ? " (a Zeek type with ': ' in it must be quoted, written as a block ('schema: |' then the type on the next lines), or given as a map of fields)"
          : ''
      const message = `not valid YAML: ${e.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '')}${hint}`
      problems.push(line === undefined ? { path: '', message } : { path: '', message, line })
    }
    throw new ConfigError(file, problems)
  }
  const root = doc.contents as Found
  const empty = root === null || root === undefined || (isScalar(root) && root.value === null)
  const top = empty ? new Map<string, [Scalar, Found]>() : topLevel(c, root)

  // transport and persistence
  const transport = adapterChoice(
    c,
    'transport',
    top.get('transport')?.[1],
    adapters.transports,
    DEFAULT_TRANSPORT,
    where.dir,
  )
  const persistence = adapterChoice(
    c,
    'persistence',
    top.get('persistence')?.[1],
    adapters.persistences,
    DEFAULT_PERSISTENCE,
    where.dir,
  )

  // hub
  let listen: string | undefined
  let address: string | undefined
  let heartbeat: string | undefined
  let hubStats: number | undefined
  const hubNode = top.get('hub')?.[1]
  if (hubNode !== undefined && !isNull(hubNode)) {
    const entries = c.map('hub', hubNode)
    if (entries !== undefined) {
      const hub = c.fields('hub', entries, ['listen', 'address', 'heartbeat', 'stats'])
      if (hub.has('listen'))
        listen = c.string('hub.listen', hub.get('listen')![1], 'an address like tcp://127.0.0.1:7420')
      if (hub.has('address'))
        address = c.string('hub.address', hub.get('address')![1], 'an address like tcp://10.0.0.5:7420')
      if (hub.has('heartbeat')) heartbeat = c.duration('hub.heartbeat', hub.get('heartbeat')![1], 10)
      if (hub.has('stats')) hubStats = c.period('hub.stats', hub.get('stats')![1])
    }
  }
  const defaultAddress = adapters.transports[transport?.kind ?? DEFAULT_TRANSPORT]?.defaultAddress ?? ''
  listen ??= defaultAddress
  address ??= listen

  // node
  let identity: string | undefined
  let groups: string[] = []
  let timeout = 10_000
  let nodeStats: number | undefined
  const nodeNode = top.get('node')?.[1]
  if (nodeNode !== undefined && !isNull(nodeNode)) {
    const entries = c.map('node', nodeNode)
    if (entries !== undefined) {
      const node = c.fields('node', entries, ['identity', 'groups', 'timeout', 'stats'])
      if (node.has('identity')) identity = c.string('node.identity', node.get('identity')![1])
      if (node.has('groups')) {
        const g = node.get('groups')![1]
        groups = c.strings('node.groups', g, 'a list of group names') ?? []
        for (const name of groups) {
          if (!NAME.test(name))
            c.add(
              'node.groups',
              g,
              `invalid group name ${JSON.stringify(name)}: use 1-200 of A-Z a-z 0-9 . _ : / -`,
            )
        }
      }
      if (node.has('timeout')) {
        const d = c.duration('node.timeout', node.get('timeout')![1], 1)
        if (d !== undefined) timeout = toMillis(d)
      }
      if (node.has('stats')) nodeStats = c.period('node.stats', node.get('stats')![1])
    }
  }

  // types, resolved lazily so they may refer to each other in any order
  const typeNodes = new Map<string, Found>()
  const typeNames: string[] = []
  const typesNode = top.get('types')?.[1]
  if (typesNode !== undefined && !isNull(typesNode)) {
    for (const [name, key, value] of c.map('types', typesNode, 'a map of type names to Zeek types') ?? []) {
      if (!TYPE_NAME.test(name)) {
        c.add(join('types', name), key, 'a type name is a letter or _ followed by letters, digits or _')
      } else if (BUILTIN_TYPES.has(name)) {
        c.add(join('types', name), key, `'${name}' is a Zeek type and cannot be redefined`)
      } else {
        typeNodes.set(name, value)
        typeNames.push(name)
      }
    }
  }
  const types: Record<string, AnySchemaType> = {}
  const broken = new Set<string>()
  const inCycle = new Set<string>()
  const resolving: string[] = []
  const resolveType = (name: string): AnySchemaType | undefined => {
    if (Object.hasOwn(types, name)) return types[name]
    if (broken.has(name)) throw new BrokenType(name)
    if (!typeNodes.has(name)) return undefined
    const path = join('types', name)
    const node = typeNodes.get(name)
    if (resolving.includes(name)) {
      const cycle = resolving.slice(resolving.indexOf(name))
      c.add(path, node, `type '${name}' refers to itself (${[...cycle, name].join(' -> ')})`)
      for (const member of cycle) inCycle.add(member)
      throw new BrokenType(name, true)
    }
    resolving.push(name)
    try {
      const schema = typeOf(c, path, node, resolveType, typeNames)
      if (schema === undefined) {
        broken.add(name)
        throw new BrokenType(name, inCycle.has(name))
      }
      types[name] = schema
      return schema
    } finally {
      resolving.pop()
    }
  }
  for (const name of typeNames) {
    try {
      resolveType(name)
    } catch (error) {
      if (!(error instanceof BrokenType)) throw error
    }
  }

  // stores
  const stores: Record<string, StoreDefinition> = {}
  const storesNode = top.get('stores')?.[1]
  if (storesNode !== undefined && !isNull(storesNode)) {
    for (const [name, key, value] of c.map('stores', storesNode, 'a map of store names to stores') ?? []) {
      const path = join('stores', name)
      if (!NAME.test(name)) {
        c.add(path, key, 'a store name is 1-200 of A-Z a-z 0-9 . _ : / -, starting with a letter or digit')
        continue
      }
      const store = storeOf(c, path, key, value, resolveType, typeNames, adapters, where.dir)
      if (store !== undefined) stores[name] = store
    }
  }

  // topics
  const topics: Record<string, TopicDefinition> = {}
  const topicsNode = top.get('topics')?.[1]
  if (topicsNode !== undefined && !isNull(topicsNode)) {
    for (const [prefix, key, value] of c.map('topics', topicsNode, 'a map of topic prefixes to topics') ??
      []) {
      const path = join('topics', prefix)
      let typeNode: Found = value
      if (isMap(value)) {
        const fields = c.fields(path, c.map(path, value) ?? [], ['schema'])
        typeNode = fields.get('schema')?.[1]
        if (!fields.has('schema')) {
          c.add(path, key, 'a topic needs a schema (a Zeek type)')
          continue
        }
      }
      const schema = typeOf(c, isMap(value) ? `${path}.schema` : path, typeNode, resolveType, typeNames)
      if (schema !== undefined) topics[prefix] = { schema, type: formatZeekType(schema) }
    }
  }

  // access
  let access: AccessRule[] | undefined
  const accessNode = top.get('access')?.[1]
  if (accessNode !== undefined && !isNull(accessNode)) {
    access = accessOf(c, accessNode, stores)
  }

  if (c.problems.length > 0) throw new ConfigError(file, c.problems)
  return {
    file,
    dir: where.dir,
    listen,
    address,
    ...(heartbeat === undefined ? {} : { heartbeat }),
    ...(hubStats === undefined ? {} : { hubStats }),
    transport: transport!,
    persistence: persistence!,
    node: {
      ...(identity === undefined ? {} : { identity }),
      groups,
      timeout,
      ...(nodeStats === undefined ? {} : { stats: nodeStats }),
    },
    types,
    stores,
    topics,
    ...(access === undefined ? {} : { access }),
  }
}

function isNull(node: Found): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null)
}

function topLevel(c: Checker, root: Found): Map<string, [Scalar, Found]> {
  const entries = c.map('', root, 'a map at the top of the file (hub, transport, persistence, stores, …)')
  return c.fields('', entries ?? [], [
    'hub',
    'transport',
    'persistence',
    'node',
    'types',
    'stores',
    'topics',
    'access',
  ])
}

function typeOf(
  c: Checker,
  path: string,
  node: Found,
  resolveType: (name: string) => AnySchemaType | undefined,
  names: readonly string[],
): AnySchemaType | undefined {
  if (isMap(node)) return recordOf(c, path, node, resolveType, names)
  if (!isScalar(node) || typeof node.value !== 'string') {
    return c.expected(path, node, 'a Zeek type like count, set[addr] or record { … }, or a map of fields')
  }
  const text = node.value
  try {
    return parseZeekType(text, { resolve: resolveType, names })
  } catch (error) {
    if (error instanceof BrokenType) {
      if (!error.silent) c.add(path, node, `uses type '${error.message}', which has problems (see above)`)
      return undefined
    }
    if (error instanceof TypeSyntaxError) {
      c.add(path, node, typeMessage(text, error), typeLine(c, node, error))
      return undefined
    }
    throw error
  }
}

/**
 * A record written as a YAML map of fields (`ts: time`, `service: string &optional`), each
 * field a Zeek type, or a map again for a nested record.
 */
function recordOf(
  c: Checker,
  path: string,
  node: YAMLMap,
  resolveType: (name: string) => AnySchemaType | undefined,
  names: readonly string[],
): AnySchemaType | undefined {
  const fields: string[] = []
  const resolved = new Map<string, AnySchemaType>()
  let ok = true
  for (const [name, key, value] of c.map(path, node) ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      c.add(join(path, name), key, 'a field name is a letter or _ followed by letters, digits or _')
      ok = false
      continue
    }
    // Attributes stay with the field's type text; a nested map is a nested record.
    if (isMap(value)) {
      const inner = recordOf(c, join(path, name), value, resolveType, names)
      if (inner === undefined) ok = false
      else {
        const alias = `__field_${resolved.size}`
        resolved.set(alias, inner)
        fields.push(`${name}: ${alias}`)
      }
      continue
    }
    if (!isScalar(value) || typeof value.value !== 'string') {
      c.expected(join(path, name), value, 'a Zeek type like count or string &optional')
      ok = false
      continue
    }
    try {
      parseZeekType(`record { ${name}: ${value.value} }`, { resolve: resolveType, names })
    } catch (error) {
      if (error instanceof BrokenType) {
        if (!error.silent) {
          c.add(join(path, name), value, `uses type '${error.message}', which has problems (see above)`)
        }
      } else if (error instanceof TypeSyntaxError) {
        const shift = `record { ${name}: `.length
        const inner = new TypeSyntaxError(value.value, Math.max(0, error.offset - shift), error.reason)
        c.add(join(path, name), value, typeMessage(value.value, inner), typeLine(c, value, inner))
      } else throw error
      ok = false
      continue
    }
    fields.push(`${name}: ${value.value}`)
  }
  if (!ok) return undefined
  const text = `record { ${fields.join(';\n')} }`
  return parseZeekType(text, { resolve: (n) => resolved.get(n) ?? resolveType(n), names })
}

function storeOf(
  c: Checker,
  path: string,
  key: Scalar,
  node: Found,
  resolveType: (name: string) => AnySchemaType | undefined,
  names: readonly string[],
  adapters: AdapterRegistry,
  dir: string,
): StoreDefinition | undefined {
  if (isScalar(node)) {
    const schema = typeOf(c, path, node, resolveType, names)
    return schema === undefined ? undefined : { schema, type: formatZeekType(schema) }
  }
  const entries = c.map(path, node, 'a Zeek type, or a map with schema, expiry, …')
  if (entries === undefined) return undefined
  const f = c.fields(path, entries, ['schema', 'expiry', 'expiryTolerance', 'maxValueSize', 'persistence'])
  if (!f.has('schema')) {
    c.add(path, key, 'a store needs a schema (a Zeek type like count or record { … })')
    return undefined
  }
  const typeNode = f.get('schema')![1]
  const schema = typeOf(c, `${path}.schema`, typeNode, resolveType, names)
  const expiry = f.has('expiry') ? c.duration(`${path}.expiry`, f.get('expiry')![1]) : undefined
  const expiryTolerance = f.has('expiryTolerance')
    ? c.duration(`${path}.expiryTolerance`, f.get('expiryTolerance')![1])
    : undefined
  const maxValueSize = f.has('maxValueSize')
    ? c.integer(`${path}.maxValueSize`, f.get('maxValueSize')![1], 1)
    : undefined
  const persistence = f.has('persistence')
    ? adapterChoice(c, `${path}.persistence`, f.get('persistence')![1], adapters.persistences, undefined, dir)
    : undefined
  if (schema === undefined) return undefined
  return {
    schema,
    type: formatZeekType(schema),
    ...(expiry === undefined ? {} : { expiry }),
    ...(expiryTolerance === undefined ? {} : { expiryTolerance }),
    ...(maxValueSize === undefined ? {} : { maxValueSize }),
    ...(persistence === undefined ? {} : { persistence }),
  }
}

function adapterChoice(
  c: Checker,
  path: string,
  node: Found,
  kinds: Readonly<Record<string, { readonly options: OptionsSpec }>>,
  fallback: string | undefined,
  dir: string,
): AdapterChoice | undefined {
  const known = Object.keys(kinds)
  let kind = fallback
  let entries: Array<[string, Scalar, Found]> = []
  if (node !== undefined && !isNull(node)) {
    if (isScalar(node)) {
      kind = c.oneOf(`${path}`, node, known, `a kind (${known.join(', ')})`)
    } else {
      const e = c.map(path, node, `a map with kind (${known.join(', ')}) and its options`)
      if (e === undefined) return undefined
      const kindEntry = e.find(([k]) => k === 'kind')
      if (kindEntry !== undefined)
        kind = c.oneOf(`${path}.kind`, kindEntry[2], known, `one of ${known.join(', ')}`)
      else if (fallback === undefined) {
        c.add(path, node, `expected kind: one of ${known.join(', ')}`)
        return undefined
      }
      if (kindEntry !== undefined && kind === undefined) return undefined
      entries = e.filter(([k]) => k !== 'kind')
    }
  }
  if (kind === undefined) return undefined
  const spec = kinds[kind]!.options
  const options = optionsOf(c, path, entries, spec, dir, kind)
  return options === undefined ? undefined : { kind, options }
}

function optionsOf(
  c: Checker,
  path: string,
  entries: Array<[string, Scalar, Found]>,
  spec: OptionsSpec,
  dir: string,
  kind?: string,
): AdapterOptions | undefined {
  const allowed = Object.keys(spec)
  const before = c.problems.length
  const byKey = new Map<string, [Scalar, Found]>()
  for (const [name, key, value] of entries) {
    if (!allowed.includes(name)) {
      const guess = closest(name, allowed)
      const owner = kind === undefined ? '' : ` for kind ${kind}`
      const list = allowed.length === 0 ? `no options${owner}` : `one of ${allowed.join(', ')}${owner}`
      c.add(
        join(path, name),
        key,
        `unknown option${guess === undefined ? `; expected ${list}` : ` (did you mean '${guess}'?)`}`,
      )
      continue
    }
    byKey.set(name, [key, value])
  }
  const out: Record<string, unknown> = {}
  for (const [name, option] of Object.entries(spec)) {
    const entry = byKey.get(name)
    if (entry === undefined) {
      if (option.default !== undefined)
        out[name] = option.type === 'path' ? resolve(dir, String(option.default)) : option.default
      continue
    }
    const value = optionValue(c, join(path, name), entry[1], option, dir)
    if (value !== undefined) out[name] = value
  }
  return c.problems.length > before ? undefined : out
}

/**
 * A value written already in its option's form is taken as written, without replacing
 * `${NAME}`: a Z85 CURVE key may hold `$`, `{` and `}` (about one key in 20 000 holds a
 * `${name}`), and is never an environment variable's name.
 */
function literal(node: Found, pattern: RegExp | undefined): string | undefined {
  if (pattern === undefined || !isScalar(node) || typeof node.value !== 'string') return undefined
  return pattern.test(node.value) ? node.value : undefined
}

function optionValue(c: Checker, path: string, node: Found, option: OptionSpec, dir: string): unknown {
  switch (option.type) {
    case 'string': {
      const text = literal(node, option.pattern) ?? c.string(path, node, option.expected ?? 'a string')
      if (text !== undefined && option.pattern !== undefined && !option.pattern.test(text)) {
        const expected = option.expected ?? `text matching ${option.pattern}`
        if (option.secret === true) {
          c.add(path, node, `expected ${expected}, found a value of ${text.length} characters (not shown)`)
          return undefined
        }
        return c.expected(path, node, expected)
      }
      return text
    }
    case 'path': {
      const p = c.string(path, node, 'a path')
      return p === undefined ? undefined : resolve(dir, p)
    }
    case 'integer':
      return c.integer(path, node, option.min, option.max)
    case 'boolean':
      return c.boolean(path, node)
    case 'duration': {
      const d = c.duration(path, node)
      return d === undefined ? undefined : toMillis(d)
    }
    case 'enum':
      return c.oneOf(path, node, option.values)
    case 'strings':
      return c.strings(path, node)
    case 'map': {
      const entries = c.map(path, node)
      if (entries === undefined) return undefined
      const out: Record<string, string | number | boolean> = {}
      for (const [name, , value] of entries) {
        if (option.pattern !== undefined) {
          const text = literal(value, option.pattern) ?? c.string(join(path, name), value, option.expected)
          if (text === undefined) continue
          if (option.pattern.test(text)) out[name] = text
          else c.expected(join(path, name), value, option.expected ?? `text matching ${option.pattern}`)
          continue
        }
        if (isScalar(value) && ['string', 'number', 'boolean'].includes(typeof value.value)) {
          out[name] =
            typeof value.value === 'string'
              ? (c.expand(join(path, name), value, value.value) ?? '')
              : (value.value as number | boolean)
        } else c.expected(join(path, name), value, 'a string, number or boolean')
      }
      return out
    }
    case 'object': {
      const entries = c.map(path, node)
      return entries === undefined ? undefined : optionsOf(c, path, entries, option.fields, dir)
    }
  }
}

function accessOf(
  c: Checker,
  node: Found,
  stores: Readonly<Record<string, StoreDefinition>>,
): AccessRule[] | undefined {
  if (!isSeq(node)) return c.expected('access', node, 'a list of rules (identities, allow, stores, topics)')
  const rules: AccessRule[] = []
  const storeNames = Object.keys(stores)
  node.items.forEach((item, i) => {
    const path = `access[${i}]`
    const entries = c.map(path, item as Found, 'a rule: a map with identities, allow, stores, topics')
    if (entries === undefined) return
    const f = c.fields(path, entries, ['identities', 'allow', 'stores', 'topics'])
    if (!f.has('identities'))
      c.add(path, item as Found, "a rule needs identities (a list of names, '*' for anyone)")
    if (!f.has('allow'))
      c.add(path, item as Found, 'a rule needs allow (a list of read, write, publish, subscribe)')
    const identities = f.has('identities')
      ? c.strings(`${path}.identities`, f.get('identities')![1], "a list of identities ('*' for anyone)")
      : undefined
    let allow: Action[] | undefined
    if (f.has('allow')) {
      const allowNode = f.get('allow')![1]
      const list = c.strings(`${path}.allow`, allowNode, 'a list of read, write, publish, subscribe')
      if (list !== undefined) {
        allow = []
        list.forEach((action, j) => {
          const at = isSeq(allowNode) ? (allowNode.items[j] as Found) : allowNode
          if ((ACTIONS as readonly string[]).includes(action)) allow!.push(action as Action)
          else {
            const guess = closest(action, ACTIONS)
            c.add(
              `${path}.allow[${j}]`,
              at,
              `expected one of ${ACTIONS.join(', ')}, found ${JSON.stringify(action)}${guess === undefined ? '' : ` (did you mean '${guess}'?)`}`,
            )
          }
        })
      }
    }
    let ruleStores: string[] | undefined
    if (f.has('stores')) {
      const storesNode = f.get('stores')![1]
      ruleStores = c.strings(`${path}.stores`, storesNode, "a list of store names ('*' for all)")
      ruleStores?.forEach((name, j) => {
        if (name === '*' || Object.hasOwn(stores, name)) return
        const at = isSeq(storesNode) ? (storesNode.items[j] as Found) : storesNode
        const guess = closest(name, storeNames)
        c.add(
          `${path}.stores[${j}]`,
          at,
          `no store named ${JSON.stringify(name)} in stores${guess === undefined ? ` (stores: ${storeNames.join(', ') || 'none'})` : ` (did you mean '${guess}'?)`}`,
        )
      })
    }
    const ruleTopics = f.has('topics')
      ? c.strings(`${path}.topics`, f.get('topics')![1], "a list of topic prefixes ('' for all)")
      : undefined
    if (allow !== undefined) {
      const storeActions = allow.filter((a) => a === 'read' || a === 'write')
      const topicActions = allow.filter((a) => a === 'publish' || a === 'subscribe')
      if (storeActions.length > 0 && !f.has('stores')) {
        c.add(
          path,
          item as Found,
          `${storeActions.join(' and ')} ${storeActions.length === 1 ? 'applies' : 'apply'} to stores, but the rule names no stores (add stores: ['*'] for every store, or a list of names)`,
        )
      }
      if (topicActions.length > 0 && !f.has('topics')) {
        c.add(
          path,
          item as Found,
          `${topicActions.join(' and ')} ${topicActions.length === 1 ? 'applies' : 'apply'} to topics, but the rule names no topics (add topics: [''] for every topic, or a list of prefixes)`,
        )
      }
    }
    if (identities !== undefined && allow !== undefined) {
      rules.push({
        identities,
        allow,
        ...(ruleStores === undefined ? {} : { stores: ruleStores }),
        ...(ruleTopics === undefined ? {} : { topics: ruleTopics }),
      })
    }
  })
  return rules
}

/**
 * Loads the config: `path` when given (it must exist), else `$CONCORD_CONFIG`, else
 * `./concord.yaml` when there is one, else the built-in defaults (ZeroMQ on
 * tcp://127.0.0.1:7420, SQLite in ./concord-data, no stores).
 */
export async function loadConfig(
  path: string | undefined,
  options: ConfigOptions & { readonly cwd?: string } = {},
): Promise<ConcordConfig> {
  const cwd = options.cwd ?? process.cwd()
  const env = options.env ?? process.env
  const explicit = path ?? env.CONCORD_CONFIG
  const file = resolve(cwd, explicit ?? DEFAULT_CONFIG_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (explicit === undefined && code === 'ENOENT') return parseConfig('', { dir: cwd }, options)
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message
    throw new ConfigError(file, [{ path: '', message: `cannot read the config file: ${why}` }], {
      cause: error,
    })
  }
  return parseConfig(text, { file, dir: dirname(file) }, options)
}
