/**
 * Zeek's type syntax, as Zeek users write it in scripts, parsed into `t.*` schemas by a small
 * recursive-descent parser:
 *
 * ```text
 * type   := scalar | name | enum { id, … } | set[type] | vector of type
 *         | table[type] of type | record { field … }
 * field  := id : type attr* ;            (the last `;` before `}` may be left out)
 * attr   := &optional | &default=literal | &log
 * scalar := bool | int | count | double | string | time | interval | port | addr | subnet
 * ```
 * `# comments` run to the end of the line. A `name` is a type declared in the config's
 * `types:` section (resolved through {@link ParseTypeOptions.resolve}).
 *
 * @module
 */
import { type AnySchemaType, t } from '@concord/schema'
import { TypeSyntaxError } from './errors.js'
import { formatValue } from './format.js'
import { parseValue, unwrap } from './parse-value.js'

/** Options of {@link parseZeekType}. */
export interface ParseTypeOptions {
  /**
   * Resolves a type name that is not a Zeek type (`conn_id`), or returns `undefined` when
   * there is no such name. May throw (e.g. a `TypeSyntaxError` in the named type's text).
   */
  readonly resolve?: (name: string) => AnySchemaType | undefined
  /** Names `resolve` knows, for "did you mean" hints. */
  readonly names?: readonly string[]
}

const SCALARS = {
  bool: t.bool,
  int: t.int,
  count: t.count,
  double: t.double,
  string: t.string,
  time: t.time,
  interval: t.interval,
  port: t.port,
  addr: t.addr,
  subnet: t.subnet,
} as const satisfies Record<string, () => AnySchemaType>

const UNSUPPORTED = new Set(['any', 'pattern', 'file', 'function', 'event', 'hook', 'opaque', 'list', 'void'])
const KEYWORDS = ['enum', 'set', 'vector', 'table', 'record']

type TokenKind = 'id' | 'punct' | 'attr' | 'end'

interface Token {
  readonly kind: TokenKind
  readonly text: string
  readonly at: number
}

const ID = /[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*/y
const PUNCT = '{}[];:,='

class Parser {
  #pos = 0
  #token: Token

  constructor(
    readonly text: string,
    readonly options: ParseTypeOptions,
  ) {
    this.#token = this.#scan()
  }

  fail(at: number, reason: string): never {
    throw new TypeSyntaxError(this.text, at, reason)
  }

  #skip(): void {
    const s = this.text
    while (this.#pos < s.length) {
      const c = s[this.#pos]!
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.#pos++
      else if (c === '#') {
        while (this.#pos < s.length && s[this.#pos] !== '\n') this.#pos++
      } else break
    }
  }

  #scan(): Token {
    this.#skip()
    const s = this.text
    const at = this.#pos
    if (at >= s.length) return { kind: 'end', text: '', at }
    const c = s[at]!
    if (PUNCT.includes(c)) {
      this.#pos++
      return { kind: 'punct', text: c, at }
    }
    if (c === '&') {
      ID.lastIndex = at + 1
      const m = ID.exec(s)
      if (m === null) this.fail(at, `expected an attribute name after '&'`)
      this.#pos = ID.lastIndex
      return { kind: 'attr', text: m[0], at }
    }
    ID.lastIndex = at
    const m = ID.exec(s)
    if (m === null) this.fail(at, `unexpected character ${JSON.stringify(c)}`)
    this.#pos = ID.lastIndex
    return { kind: 'id', text: m[0], at }
  }

  get peek(): Token {
    return this.#token
  }

  next(): Token {
    const token = this.#token
    this.#token = this.#scan()
    return token
  }

  /**
   * Raw text from `from` up to a top-level `;`, `}`, `&` or line end (for `&default=`
   * literals, which are not tokens of the type syntax); scanning resumes after it.
   */
  rawLiteral(from: number): { text: string; at: number } {
    const s = this.text
    let at = from
    while (at < s.length && (s[at] === ' ' || s[at] === '\t')) at++
    let i = at
    let quoted = false
    let depth = 0
    for (; i < s.length; i++) {
      const c = s[i]!
      if (quoted) {
        if (c === '\\') i++
        else if (c === '"') quoted = false
      } else if (c === '"') quoted = true
      else if (c === '{' || c === '[') depth++
      else if ((c === '}' || c === ']') && depth > 0) depth--
      else if (depth === 0 && (c === ';' || c === '}' || c === '&' || c === '\n')) break
    }
    if (quoted) this.fail(at, 'unterminated string in &default')
    this.#pos = i
    this.#token = this.#scan()
    return { text: s.slice(at, i).trim(), at }
  }

  expect(text: string, context: string): Token {
    const token = this.#token
    if (token.kind === 'punct' && token.text === text) return this.next()
    if (token.kind === 'id' && token.text === text) return this.next()
    this.fail(token.at, `expected '${text}' ${context}, found ${describe(token)}`)
  }

  type(): AnySchemaType {
    const token = this.next()
    if (token.kind !== 'id') this.fail(token.at, `expected a type, found ${describe(token)}`)
    const name = token.text
    if (Object.hasOwn(SCALARS, name)) return SCALARS[name as keyof typeof SCALARS]()
    switch (name) {
      case 'enum':
        return this.#enum()
      case 'set': {
        this.expect('[', "after 'set'")
        const element = this.#index('set')
        this.expect(']', 'to close set[…]')
        return t.set(element)
      }
      case 'vector': {
        this.expect('of', "after 'vector' (write 'vector of T')")
        return t.vector(this.type())
      }
      case 'table': {
        this.expect('[', "after 'table'")
        const key = this.#index('table')
        this.expect(']', 'to close table[…]')
        this.expect('of', "after 'table[…]' (write 'table[K] of V')")
        return t.table(key, this.type())
      }
      case 'record':
        return this.#record()
    }
    if (UNSUPPORTED.has(name)) this.fail(token.at, `the Zeek type '${name}' cannot be stored by Concord`)
    const named = this.options.resolve?.(name)
    if (named !== undefined) return named
    this.fail(token.at, `unknown type '${name}'${hint(name, this.options.names ?? [])}`)
  }

  /** The index type of `set[…]` / `table[…]`: one type; several (Zeek's multi-index) are refused. */
  #index(what: 'set' | 'table'): AnySchemaType {
    const element = this.type()
    const token = this.peek
    if (token.kind === 'punct' && token.text === ',') {
      this.fail(
        token.at,
        `a ${what} with several index types is not supported: use ${what}[record { … }] as a composite index`,
      )
    }
    return element
  }

  #enum(): AnySchemaType {
    this.expect('{', "after 'enum'")
    const names: string[] = []
    const seen = new Set<string>()
    for (;;) {
      const token = this.next()
      if (token.kind === 'punct' && token.text === '}' && names.length > 0) break
      if (token.kind !== 'id') this.fail(token.at, `expected an enum name, found ${describe(token)}`)
      if (seen.has(token.text)) this.fail(token.at, `enum name '${token.text}' appears twice`)
      seen.add(token.text)
      names.push(token.text)
      const after = this.next()
      if (after.kind === 'punct' && after.text === '}') break
      if (!(after.kind === 'punct' && after.text === ',')) {
        this.fail(after.at, `expected ',' or '}' in enum, found ${describe(after)}`)
      }
    }
    return t.enum(names as [string, ...string[]])
  }

  #record(): AnySchemaType {
    this.expect('{', "after 'record'")
    const fields: Record<string, AnySchemaType> = {}
    for (;;) {
      const token = this.next()
      if (token.kind === 'punct' && token.text === '}') break
      if (token.kind !== 'id') {
        this.fail(token.at, `expected a field name or '}' in record, found ${describe(token)}`)
      }
      if (Object.hasOwn(fields, token.text)) this.fail(token.at, `field '${token.text}' appears twice`)
      this.expect(':', `after field name '${token.text}'`)
      let field = this.type()
      field = this.#attributes(token.text, field)
      fields[token.text] = field
      const after = this.peek
      if (after.kind === 'punct' && after.text === ';') this.next()
      else if (!(after.kind === 'punct' && after.text === '}')) {
        this.fail(after.at, `expected ';' after field '${token.text}', found ${describe(after)}`)
      }
    }
    try {
      return t.record(fields)
    } catch (error) {
      this.fail(this.peek.at, (error as Error).message)
    }
  }

  #attributes(field: string, type: AnySchemaType): AnySchemaType {
    let result = type
    let modified: string | undefined
    while (this.peek.kind === 'attr') {
      const attr = this.next()
      switch (attr.text) {
        case 'log':
          break
        case 'optional':
          if (modified !== undefined) this.fail(attr.at, `field '${field}' already has &${modified}`)
          modified = 'optional'
          result = required(result).optional() as AnySchemaType
          break
        case 'default': {
          if (modified !== undefined) this.fail(attr.at, `field '${field}' already has &${modified}`)
          modified = 'default'
          const eq = this.peek
          if (!(eq.kind === 'punct' && eq.text === '=')) {
            this.fail(eq.at, `expected '=' after '&default', found ${describe(eq)}`)
          }
          const literal = this.rawLiteral(eq.at + 1)
          if (literal.text === '') this.fail(literal.at, `expected a value after '&default='`)
          let value: unknown
          try {
            const text = literal.text.startsWith('"') ? (JSON.parse(literal.text) as string) : literal.text
            value = parseValue(type, text)
          } catch (error) {
            const reason =
              error instanceof Error ? error.message.replace(/^invalid value: (\(root\): )?/, '') : ''
            this.fail(literal.at, `bad &default for field '${field}': ${reason}`)
          }
          result = required(result).default(value as never) as AnySchemaType
          break
        }
        default:
          this.fail(
            attr.at,
            `attribute &${attr.text} is not supported here (supported: &optional, &default=…, &log)`,
          )
      }
    }
    return result
  }
}

function required(schema: AnySchemaType): import('@concord/schema').SchemaType<unknown, never, 'required'> {
  return schema as unknown as import('@concord/schema').SchemaType<unknown, never, 'required'>
}

function describe(token: Token): string {
  if (token.kind === 'end') return 'the end of the type'
  if (token.kind === 'attr') return `'&${token.text}'`
  return `'${token.text}'`
}

/** " (did you mean 'x'?)" for a close name, else a list of what is allowed. */
function hint(name: string, extra: readonly string[]): string {
  const candidates = [...Object.keys(SCALARS), ...KEYWORDS, ...extra]
  const close = closest(name, candidates)
  if (close !== undefined) return ` (did you mean '${close}'?)`
  const names = extra.length > 0 ? `, or a name from types: ${extra.join(', ')}` : ''
  return `; expected one of ${Object.keys(SCALARS).join(', ')}, ${KEYWORDS.join(', ')}${names}`
}

/** The candidate within edit distance 2 of `word` (and less than half its length), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance && d <= Math.max(1, Math.floor(candidate.length / 2))) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

/**
 * Parses a Zeek type (`count`, `set[string]`, `table[addr] of count`,
 * `record { ts: time; uid: string; service: string &optional }`, `enum { tcp, udp }`) into
 * a schema. Throws {@link TypeSyntaxError} with the position of the problem.
 */
export function parseZeekType(text: string, options: ParseTypeOptions = {}): AnySchemaType {
  if (typeof text !== 'string') throw new TypeError('parseZeekType: expected a string')
  const parser = new Parser(text, options)
  if (parser.peek.kind === 'end') parser.fail(parser.peek.at, 'expected a type, found nothing')
  const type = parser.type()
  const rest = parser.peek
  if (rest.kind === 'attr') {
    parser.fail(rest.at, `attributes like '&${rest.text}' belong to record fields, not to a whole type`)
  }
  if (rest.kind !== 'end') parser.fail(rest.at, `unexpected ${describe(rest)} after the type`)
  return type
}

/** Zeek's syntax for a schema: the inverse of {@link parseZeekType} (up to spacing and `&log`). */
export function formatZeekType(schema: AnySchemaType): string {
  const def = schema.def
  switch (def.kind) {
    case 'enum':
      return `enum { ${def.names.join(', ')} }`
    case 'set':
      return `set[${formatZeekType(def.element)}]`
    case 'vector':
      return `vector of ${formatZeekType(def.element)}`
    case 'table':
      return `table[${formatZeekType(def.key)}] of ${formatZeekType(def.value)}`
    case 'record': {
      const fields = Object.entries(def.fields).map(([name, f]) => {
        if (f.def.kind === 'optional') return `${name}: ${formatZeekType(f.def.inner)} &optional`
        if (f.def.kind === 'default') return `${name}: ${formatZeekType(f.def.inner)} &default=${literal(f)}`
        return `${name}: ${formatZeekType(f)}`
      })
      return fields.length === 0 ? 'record { }' : `record { ${fields.join('; ')} }`
    }
    case 'optional':
    case 'default':
      return formatZeekType(def.inner)
    default:
      return def.kind
  }
}

function literal(field: AnySchemaType): string {
  if (field.def.kind !== 'default') return ''
  const inner = unwrap(field)
  const value = field.def.value
  return inner.def.kind === 'string' ? JSON.stringify(value) : formatValue(inner, value)
}
