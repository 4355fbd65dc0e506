/**
 * Zeek's logs, read into values of a record schema: the TSV format (`#separator`,
 * `#fields`, `#types` header, `-` unset, `(empty)` empty, `\xNN` escapes, `a.b` columns for
 * nested records) and Zeek's JSON logs (one object per line, `a.b` keys, times as epoch
 * seconds). Cells are read with the store's schema, which must agree with `#types`.
 *
 * @module
 */
import type { AnySchemaType, Infer } from '@concord/schema'
import { interval, isConcordError, time, ValidationError } from '@concord/schema'
import { UsageError } from './errors.js'
import { parseValue, unwrap } from './parse-value.js'
import { formatZeekType } from './zeek-types.js'

/** The header of a TSV log. */
export interface ZeekLogHeader {
  separator: string
  setSeparator: string
  emptyField: string
  unsetField: string
  path: string | undefined
  fields: string[]
  types: string[]
}

/** Zeek's `\xNN` and `\\` escapes. */
export function unescapeZeek(text: string): string {
  if (!text.includes('\\')) return text
  return text.replace(/\\x([0-9a-fA-F]{2})|\\\\/g, (_match, hex: string | undefined) =>
    hex === undefined ? '\\' : String.fromCharCode(Number.parseInt(hex, 16)),
  )
}

/** Zeek's log name of a schema's type: `count`, `set[string]`, `vector[addr]`, `enum`. */
function logTypeName(schema: AnySchemaType): string {
  const s = unwrap(schema)
  const def = s.def
  if (def.kind === 'set' || def.kind === 'vector') return `${def.kind}[${logTypeName(def.element)}]`
  if (def.kind === 'enum') return 'enum'
  return formatZeekType(s)
}

type Proto = 'tcp' | 'udp' | 'icmp' | 'unknown'

/** Converts the text of one scalar cell (already unescaped). */
function scalar(schema: AnySchemaType, text: string, proto: Proto): unknown {
  const s = unwrap(schema)
  switch (s.def.kind) {
    case 'string':
      return text
    case 'port':
      if (/^\d+$/.test(text)) return { port: Number(text), proto }
      return parseValue(s, text)
    case 'bool':
      if (text === 'T' || text === 'true') return true
      if (text === 'F' || text === 'false') return false
      return parseValue(s, text)
    default:
      return parseValue(s, text)
  }
}

interface Column {
  readonly name: string
  readonly path: readonly string[]
  readonly schema: AnySchemaType
}

/** Turns flat `a.b` columns into values of a record schema. */
export class RecordBuilder {
  readonly record: AnySchemaType

  constructor(
    schema: AnySchemaType,
    readonly store: string,
  ) {
    const s = unwrap(schema)
    if (s.def.kind !== 'record') {
      throw new UsageError(
        `store '${store}' holds ${formatZeekType(s)}, not records: a Zeek log imports into a store of records`,
      )
    }
    this.record = s
  }

  /** The schema of the field at a dotted column name, or undefined. */
  field(name: string): AnySchemaType | undefined {
    let current: AnySchemaType = this.record
    for (const part of name.split('.')) {
      const def = unwrap(current).def
      if (def.kind !== 'record' || !Object.hasOwn(def.fields, part)) return undefined
      current = def.fields[part]!
    }
    return current
  }

  /** Checks that every required field of the record has a column; returns the problems. */
  missing(columns: readonly string[]): string[] {
    const out: string[] = []
    const walk = (schema: AnySchemaType, prefix: string) => {
      const def = schema.def
      if (def.kind !== 'record') return
      for (const [name, field] of Object.entries(def.fields)) {
        if (field.def.kind === 'optional' || field.def.kind === 'default') continue
        const path = `${prefix}${name}`
        if (columns.includes(path)) continue
        if (field.def.kind === 'record' && columns.some((c) => c.startsWith(`${path}.`)))
          walk(field, `${path}.`)
        else out.push(path)
      }
    }
    walk(this.record, '')
    return out
  }

  column(name: string): Column | undefined {
    const schema = this.field(name)
    return schema === undefined ? undefined : { name, path: name.split('.'), schema }
  }

  /** Sets `value` at `path` in `row`, creating nested records on the way. */
  static assign(row: Record<string, unknown>, path: readonly string[], value: unknown): void {
    let target = row
    for (const part of path.slice(0, -1)) {
      target = (target[part] ??= {}) as Record<string, unknown>
    }
    target[path[path.length - 1]!] = value
  }
}

/** The value at a dotted path of a row, or undefined. */
export function pick(row: unknown, path: string): unknown {
  let current = row
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined
    current = (current as Record<string, unknown>)[part]
  }
  return current
}

function rowError(column: string, error: unknown): ValidationError {
  const message =
    error instanceof Error ? error.message.replace(/^invalid value: (\(root\): )?/, '') : String(error)
  return new ValidationError([{ path: column, code: 'format', message }])
}

/** Reads a TSV Zeek log into rows of a store's record schema: header lines first, then rows. */
export class ZeekTsvReader {
  readonly header: ZeekLogHeader = {
    separator: '\t',
    setSeparator: ',',
    emptyField: '(empty)',
    unsetField: '-',
    path: undefined,
    fields: [],
    types: [],
  }
  #columns: Column[] | undefined
  #protoIndex = -1

  constructor(readonly builder: RecordBuilder) {}

  /** Takes a `#` line; returns false for anything else. */
  headerLine(line: string): boolean {
    if (!line.startsWith('#')) return false
    const h = this.header
    if (line.startsWith('#separator')) {
      h.separator = unescapeZeek(line.slice('#separator'.length).trim())
      return true
    }
    const [key, ...rest] = line.slice(1).split(h.separator)
    if (key === 'set_separator') h.setSeparator = unescapeZeek(rest[0] ?? ',')
    else if (key === 'empty_field') h.emptyField = rest[0] ?? '(empty)'
    else if (key === 'unset_field') h.unsetField = rest[0] ?? '-'
    else if (key === 'path') h.path = rest[0]
    else if (key === 'fields') {
      h.fields = rest
      this.#columns = undefined
    } else if (key === 'types') {
      h.types = rest
      this.#columns = undefined
    }
    return true
  }

  /**
   * Matches the columns to the schema (once `#fields`, and `#types`, are known); throws
   * `UsageError` listing every problem. Idempotent until the header changes.
   */
  prepare(): void {
    this.#columns ??= this.#compile()
  }

  #compile(): Column[] {
    const h = this.header
    if (h.fields.length === 0) throw new UsageError('the log has no #fields line before its first row')
    const problems: string[] = []
    const columns: Column[] = []
    const seen = new Set<string>()
    h.fields.forEach((name, i) => {
      // A second column of one field would silently overwrite the first in every row.
      if (seen.has(name)) problems.push(`column '${name}' appears twice in #fields`)
      seen.add(name)
      const column = this.builder.column(name)
      if (column === undefined) {
        problems.push(`column '${name}' is not a field of store '${this.builder.store}'`)
        return
      }
      const logType = h.types[i]
      const expected = logTypeName(column.schema)
      if (logType !== undefined && logType !== expected) {
        problems.push(
          `column '${name}' is ${logType} in the log but ${expected} in store '${this.builder.store}'`,
        )
      }
      columns.push(column)
    })
    for (const field of this.builder.missing(h.fields)) {
      problems.push(`store '${this.builder.store}' needs field '${field}', which the log has no column for`)
    }
    if (problems.length > 0)
      throw new UsageError(`the log does not fit the store:\n  ${problems.join('\n  ')}`)
    this.#protoIndex = h.fields.indexOf('proto')
    return columns
  }

  /** The value of one data line. Throws `ValidationError` naming the column at fault. */
  row(line: string): Record<string, unknown> {
    this.#columns ??= this.#compile()
    const h = this.header
    const cells = line.split(h.separator)
    if (cells.length !== this.#columns.length) {
      throw new ValidationError([
        {
          path: '',
          code: 'format',
          message: `${cells.length} cells, but the header has ${this.#columns.length} fields`,
        },
      ])
    }
    const protoText = this.#protoIndex >= 0 ? cells[this.#protoIndex] : undefined
    const proto: Proto =
      protoText === 'tcp' || protoText === 'udp' || protoText === 'icmp' ? protoText : 'unknown'
    const row: Record<string, unknown> = {}
    this.#columns.forEach((column, i) => {
      const cell = cells[i]!
      if (cell === h.unsetField) return
      let value: unknown
      try {
        const s = unwrap(column.schema)
        const def = s.def
        if (def.kind === 'set' || def.kind === 'vector') {
          const items =
            cell === h.emptyField
              ? []
              : cell.split(h.setSeparator).map((x) => scalar(def.element, unescapeZeek(x), proto))
          value = def.kind === 'set' ? new Set(items) : items
        } else if (def.kind === 'string' && cell === h.emptyField) value = ''
        else value = scalar(s, unescapeZeek(cell), proto)
      } catch (error) {
        throw rowError(column.name, error)
      }
      RecordBuilder.assign(row, column.path, value)
    })
    return row
  }
}

/**
 * One value of a Zeek JSON log line, read as a TSV cell of the same column would be. A time
 * or interval given as a number is converted from its digits exactly (`String()` of a tiny
 * one, `1e-7`, is no decimal text). An object, an array or null where `type` wants a scalar
 * is refused: `String()` would store "[object Object]", "a,b" or "null".
 */
function jsonScalar(type: AnySchemaType, x: unknown, proto: Proto): unknown {
  if (typeof x === 'boolean') return scalar(type, x ? 'T' : 'F', proto)
  if (typeof x === 'number') {
    const kind = unwrap(type).def.kind
    if (kind === 'time') return time.fromSeconds(x)
    if (kind === 'interval') return interval.s(x)
  }
  if (typeof x !== 'object' && x !== undefined) return scalar(type, String(x), proto)
  const what = x === null ? 'null' : Array.isArray(x) ? 'an array' : 'an object'
  throw new Error(`expected a value of type ${logTypeName(type)}, got ${what}`)
}

/** Reads one line of a Zeek JSON log (`{"ts":1521911721.255387,"id.orig_h":"10.0.0.1",…}`). */
export function zeekJsonRow(
  builder: RecordBuilder,
  object: Record<string, unknown>,
): Record<string, unknown> {
  const proto =
    object.proto === 'tcp' || object.proto === 'udp' || object.proto === 'icmp' ? object.proto : 'unknown'
  const row: Record<string, unknown> = {}
  const problems: string[] = []
  const put = (name: string, raw: unknown, schema: AnySchemaType) => {
    const s = unwrap(schema)
    const def = s.def
    try {
      let value: unknown
      if (def.kind === 'record' && typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
        for (const [k, v] of Object.entries(raw)) {
          const inner = builder.field(`${name}.${k}`)
          if (inner === undefined) problems.push(`'${name}.${k}' is not a field of store '${builder.store}'`)
          else put(`${name}.${k}`, v, inner)
        }
        return
      }
      if (def.kind === 'set' || def.kind === 'vector') {
        if (!Array.isArray(raw)) throw new Error(`expected an array for ${def.kind}`)
        const items = raw.map((x) => jsonScalar(def.element, x, proto))
        value = def.kind === 'set' ? new Set(items) : items
      } else value = jsonScalar(s, raw, proto)
      RecordBuilder.assign(row, name.split('.'), value)
    } catch (error) {
      throw rowError(name, error)
    }
  }
  for (const [name, raw] of Object.entries(object)) {
    if (raw === null || raw === undefined) continue
    const schema = builder.field(name)
    if (schema === undefined) {
      problems.push(`'${name}' is not a field of store '${builder.store}'`)
      continue
    }
    put(name, raw, schema)
  }
  if (problems.length > 0) {
    throw new ValidationError(problems.map((message) => ({ path: '', code: 'extra' as const, message })))
  }
  return row
}

/** One data line of a Zeek TSV log, read by {@link readZeekTsv}: its value, or why not. */
export type ZeekTsvRow<T> =
  | { readonly line: number; readonly value: T; readonly error?: undefined }
  | { readonly line: number; readonly value?: undefined; readonly error: ValidationError }

/**
 * Reads the lines of a Zeek TSV log (`conn.log`: `#separator`, `#fields`, `#types`, then a
 * row per line) into values of `schema`, a record schema whose fields are the log's columns
 * (`id.orig_h` for a nested one), as `concord import` reads them: `-` is unset, `(empty)` an
 * empty set or string, `\xNN` an escaped byte, a port's protocol comes from the `proto`
 * column. Yields each data line with its 1-based line number and either its value, checked
 * against `schema`, or the `ValidationError` naming the column at fault: a bad row does not
 * stop the reading. Throws `UsageError` (`ERR_USAGE`) before the first row when the header
 * does not fit the schema, listing every problem, and at a later header (logs concatenated)
 * that does not.
 */
export async function* readZeekTsv<S extends AnySchemaType>(
  schema: S,
  lines: Iterable<string> | AsyncIterable<string>,
  /** `name`: what messages call the schema ("… is not a field of store 'conn'"), default `records`. */
  options: { readonly name?: string } = {},
): AsyncGenerator<ZeekTsvRow<Infer<S>>> {
  const reader = new ZeekTsvReader(new RecordBuilder(schema, options.name ?? 'records'))
  let line = 0
  for await (const text of lines) {
    line++
    if (text === '' || reader.headerLine(text)) continue
    let read: ZeekTsvRow<Infer<S>>
    try {
      const row = reader.row(text)
      const issues = schema.validate(row)
      if (issues.length > 0) throw new ValidationError(issues)
      // Through the codec, so defaulted fields are filled in as a store's reader sees them.
      read = { line, value: schema.decode(schema.encode(row as never)) as Infer<S> }
    } catch (error) {
      if (!isConcordError(error, 'ERR_SCHEMA_INVALID')) throw error
      read = { line, error: error as ValidationError }
    }
    yield read
  }
}
