/**
 * The human form of values, as typed on a command line or found in `key<TAB>value` files:
 * the inverse of `formatValue` for simple types (and sets and vectors of them).
 *
 * @module
 */
import {
  type AnySchemaType,
  addr,
  fromJson,
  interval,
  port,
  subnet,
  time,
  ValidationError,
} from '@concord/schema'

/** Options of {@link parseValue}. */
export interface ParseValueOptions {
  /** What `now` means for a `time`, in ms since the epoch. Default `Date.now()`. */
  readonly now?: () => number
}

const INT = /^[+-]?\d+$/
const COUNT = /^\+?\d+$/
// Unambiguous (`\d+\.?\d*` could split a run of digits anywhere: quadratic backtracking).
const DOUBLE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const DECIMAL_SECONDS = /^[+-]?\d+(?:\.\d+)?$/

function bad(message: string): ValidationError {
  return new ValidationError([{ path: '', code: 'format', message }])
}

/** Whether a schema (under `optional`/`default`) is one whose human form `parseValue` reads. */
export function hasHumanForm(schema: AnySchemaType): boolean {
  const s = unwrap(schema)
  const kind = s.def.kind
  if (kind === 'set' || kind === 'vector') {
    const element = unwrap((s.def as { element: AnySchemaType }).element)
    return !isComposite(element)
  }
  return !isComposite(s)
}

function isComposite(schema: AnySchemaType): boolean {
  const kind = schema.def.kind
  return kind === 'set' || kind === 'vector' || kind === 'table' || kind === 'record'
}

/** The schema under `optional` and `default` wrappers. */
export function unwrap(schema: AnySchemaType): AnySchemaType {
  let s = schema
  while (s.def.kind === 'optional' || s.def.kind === 'default') s = s.def.inner
  return s
}

/**
 * Parses the human form of a value of `schema`: `42`, `-3`, `1.5`, `true`/`false` (or
 * `T`/`F`), `10.0.0.1`, `10.0.0.0/8`, `80/tcp`, times as ISO 8601 (`2018-03-24T17:15:21Z`),
 * decimal epoch seconds (`1521911721.255387`) or `now`, intervals as `1.5s`, `5m`, `1h30m`
 * or decimal seconds, enum names, strings as they are; sets `{a, b}` and vectors `[a, b]` of
 * those (elements may be JSON-quoted). Records and tables have no human form: use Zeek JSON.
 * Throws `ValidationError` (one `format` issue saying what was expected) on anything else.
 */
export function parseValue(schema: AnySchemaType, text: string, options: ParseValueOptions = {}): unknown {
  const s = unwrap(schema)
  const def = s.def
  let value: unknown
  switch (def.kind) {
    case 'set':
    case 'vector':
      value = parseList(def.kind, def.element, text, options)
      break
    case 'table':
    case 'record':
      throw bad(`a ${def.kind} has no human form: give it as Zeek JSON (with --json)`)
    default:
      value = parseScalar(s, text, options)
  }
  const issues = s.validate(value)
  if (issues.length > 0) throw new ValidationError(issues)
  return value
}

function parseScalar(schema: AnySchemaType, text: string, options: ParseValueOptions): unknown {
  const def = schema.def
  const t = def.kind === 'string' ? text : text.trim()
  switch (def.kind) {
    case 'string':
      return t
    case 'bool':
      if (/^(true|t)$/i.test(t)) return true
      if (/^(false|f)$/i.test(t)) return false
      throw bad(`expected true or false (or T, F), found ${show(t)}`)
    case 'count':
      if (!COUNT.test(t)) throw bad(`expected a count (an integer >= 0), found ${show(t)}`)
      return BigInt(t)
    case 'int':
      if (!INT.test(t)) throw bad(`expected an integer, found ${show(t)}`)
      return BigInt(t)
    case 'double':
      if (!DOUBLE.test(t)) throw bad(`expected a number like 1.5, found ${show(t)}`)
      return Number(t)
    case 'time':
      return parseTime(t, options)
    case 'interval':
      try {
        return interval.parse(t)
      } catch {
        throw bad(`expected an interval like 1.5s, 250ms, 5m, 1h30m, found ${show(t)}`)
      }
    case 'port':
      if (/^\d+$/.test(t)) throw bad(`expected a port with its protocol like ${t}/tcp, found ${show(t)}`)
      try {
        return port.parse(t.replace(/\/unknown$/, '/?'))
      } catch {
        throw bad(`expected a port like 80/tcp, 53/udp, 3/icmp, found ${show(t)}`)
      }
    case 'addr':
      try {
        return addr.canonical(t)
      } catch {
        throw bad(`expected an IP address like 10.0.0.1 or 2001:db8::1, found ${show(t)}`)
      }
    case 'subnet':
      try {
        return subnet.canonical(t)
      } catch {
        throw bad(`expected a subnet like 10.0.0.0/8, found ${show(t)}`)
      }
    case 'enum':
      if (def.names.includes(t)) return t
      throw bad(`expected one of ${def.names.join(', ')}, found ${show(t)}`)
    default:
      throw bad(`a ${def.kind} has no human form`)
  }
}

function parseTime(t: string, options: ParseValueOptions): bigint {
  if (t === 'now') return time.fromMillis((options.now ?? Date.now)())
  if (DECIMAL_SECONDS.test(t)) return time.parse(t)
  try {
    return time.fromIso(t)
  } catch {
    throw bad(
      `expected a time like 2018-03-24T17:15:21.255Z, epoch seconds like 1521911721.255387, or now; found ${show(t)}`,
    )
  }
}

function parseList(
  kind: 'set' | 'vector',
  element: AnySchemaType,
  text: string,
  options: ParseValueOptions,
): unknown {
  const inner = unwrap(element)
  if (isComposite(inner)) {
    throw bad(`a ${kind} of ${inner.def.kind}s has no human form: give it as Zeek JSON (with --json)`)
  }
  const [open, close] = kind === 'set' ? ['{', '}'] : ['[', ']']
  const t = text.trim()
  if (!t.startsWith(open) || !t.endsWith(close)) {
    throw bad(`expected a ${kind} like ${open}a, b${close}, found ${show(t)}`)
  }
  const items = splitItems(t.slice(1, -1)).map((item) => {
    if (item.startsWith('"')) {
      let unquoted: string
      try {
        unquoted = JSON.parse(item) as string
      } catch {
        throw bad(`bad quoted element ${item}`)
      }
      return parseScalar(inner, unquoted, options)
    }
    return parseScalar(inner, item, options)
  })
  if (kind === 'vector') return items
  const set = new Set(items)
  if (set.size < items.length) throw bad(`the set lists an element twice: ${show(t)}`)
  return set
}

/** Splits `a, "b, c", d` at top-level commas, keeping quoted items whole. */
function splitItems(body: string): string[] {
  const items: string[] = []
  let current = ''
  let quoted = false
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (quoted) {
      current += c
      if (c === '\\') current += body[++i] ?? ''
      else if (c === '"') quoted = false
    } else if (c === '"') {
      quoted = true
      current += c
    } else if (c === ',') {
      items.push(current.trim())
      current = ''
    } else current += c
  }
  if (quoted) throw bad('unterminated quoted element')
  if (current.trim() !== '' || items.length > 0) items.push(current.trim())
  return items
}

/**
 * Parses a value given on a command line: Zeek JSON when `json` is set and the text starts
 * with `{`, the human form otherwise.
 */
export function parseInput(
  schema: AnySchemaType,
  text: string,
  json: boolean,
  options: ParseValueOptions = {},
): unknown {
  if (json && text.trimStart().startsWith('{')) return fromJson(schema, text)
  return parseValue(schema, text, options)
}

/** The text for a message: quoted, and shortened when long. */
function show(text: string): string {
  if (text === '') return 'nothing'
  return text.length > 60
    ? `${JSON.stringify(text.slice(0, 60))}… (${text.length} characters)`
    : JSON.stringify(text)
}
