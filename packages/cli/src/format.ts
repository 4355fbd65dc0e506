/**
 * Human-readable values, in the spirit of Zeek's `print`: `10.0.0.1`, `80/tcp`,
 * `2018-03-24T17:15:21.255387Z`, `1.5s`, `{a, b}`, `[x, y]`, `{[k] = v}`,
 * `[ts=…, uid=…, id=[orig_h=…]]`. Absent optional record fields are left out.
 *
 * @module
 */
import { type AnySchemaType, port as portHelpers, time } from '@concord/schema'

const NS_PER_US = 1_000n
const NS_PER_MS = 1_000_000n
const NS_PER_S = 1_000_000_000n
const NS_PER_MIN = 60n * NS_PER_S
const NS_PER_H = 60n * NS_PER_MIN
const NS_PER_D = 24n * NS_PER_H

/** `whole.fraction` of `abs / unit` with trailing zeros trimmed: `1.5`, `4.266`, `2`. */
function decimal(abs: bigint, unit: bigint, digits: number): string {
  const whole = abs / unit
  const frac = abs % unit
  if (frac === 0n) return String(whole)
  return `${whole}.${String(frac).padStart(digits, '0').replace(/0+$/, '')}`
}

/**
 * An interval in the largest unit that reads well: `750ns`, `1.5us`, `4.266ms`, `1.5s`,
 * `2m30s`, `1h30m`, `2d3h`. Exact, and `interval.parse` reads it back.
 */
export function formatInterval(ns: bigint): string {
  const sign = ns < 0n ? '-' : ''
  const abs = ns < 0n ? -ns : ns
  if (abs < NS_PER_US) return `${sign}${abs}ns`
  if (abs < NS_PER_MS) return `${sign}${decimal(abs, NS_PER_US, 3)}us`
  if (abs < NS_PER_S) return `${sign}${decimal(abs, NS_PER_MS, 6)}ms`
  if (abs < NS_PER_MIN) return `${sign}${decimal(abs, NS_PER_S, 9)}s`
  let rest = abs
  let out = ''
  for (const [unit, name] of [
    [NS_PER_D, 'd'],
    [NS_PER_H, 'h'],
    [NS_PER_MIN, 'm'],
  ] as const) {
    const n = rest / unit
    if (n > 0n) out += `${n}${name}`
    rest %= unit
  }
  if (rest > 0n) out += `${decimal(rest, NS_PER_S, 9)}s`
  return `${sign}${out}`
}

/** A time as ISO 8601 UTC with a `Z`: `2018-03-24T17:15:21.255387Z` (exact: 3, 6 or 9 digits). */
export function formatTime(ns: bigint): string {
  return `${time.toIso(ns)}Z`
}

const BARE = /^[^\s,{}[\]="\\]+$/

/** A string inside a container: as it is when unambiguous, JSON-quoted otherwise. */
function nested(text: string): string {
  return BARE.test(text) ? text : JSON.stringify(text)
}

/**
 * The human form of a valid `value` of `schema`. Without a schema (an untyped event), the
 * value is shown by its JavaScript type.
 */
export function formatValue(schema: AnySchemaType | undefined, value: unknown): string {
  return format(schema, value, true)
}

function format(schema: AnySchemaType | undefined, value: unknown, top: boolean): string {
  if (schema === undefined) return formatUntyped(value, top)
  const def = schema.def
  switch (def.kind) {
    case 'optional':
    case 'default':
      return value === undefined ? '-' : format(def.inner, value, top)
    case 'bool':
      return value ? 'true' : 'false'
    case 'int':
    case 'count':
      return String(value)
    case 'double':
      // String(-0) is '0': the sign is part of the value (and of its Zeek JSON, -0.0).
      return Object.is(value, -0) ? '-0' : String(value)
    case 'string':
      return top ? (value as string) : nested(value as string)
    case 'enum':
    case 'addr':
    case 'subnet':
      return value as string
    case 'time':
      return formatTime(value as bigint)
    case 'interval':
      return formatInterval(value as bigint)
    case 'port':
      return portHelpers.format(value as { port: number; proto: 'tcp' })
    case 'set':
      return `{${Array.from(value as Set<unknown>, (x) => format(def.element, x, false)).join(', ')}}`
    case 'vector':
      return `[${(value as unknown[]).map((x) => format(def.element, x, false)).join(', ')}]`
    case 'table':
      return `{${Array.from(
        value as Map<unknown, unknown>,
        ([k, v]) => `[${format(def.key, k, false)}] = ${format(def.value, v, false)}`,
      ).join(', ')}}`
    case 'record': {
      const record = value as Record<string, unknown>
      const parts: string[] = []
      for (const [name, field] of Object.entries(def.fields)) {
        const v = Object.hasOwn(record, name) ? record[name] : undefined
        if (v === undefined) continue
        parts.push(`${name}=${format(field, v, false)}`)
      }
      return `[${parts.join(', ')}]`
    }
  }
}

function formatUntyped(value: unknown, top: boolean): string {
  if (value === undefined || value === null) return '-'
  if (typeof value === 'string') return top ? value : nested(value)
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean')
    return String(value)
  if (value instanceof Set) return `{${Array.from(value, (x) => formatUntyped(x, false)).join(', ')}}`
  if (Array.isArray(value)) return `[${value.map((x) => formatUntyped(x, false)).join(', ')}]`
  if (value instanceof Map) {
    return `{${Array.from(value, ([k, v]) => `[${formatUntyped(k, false)}] = ${formatUntyped(v, false)}`).join(', ')}}`
  }
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`
  if (typeof value === 'object') {
    const parts = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatUntyped(v, false)}`)
    return `[${parts.join(', ')}]`
  }
  return String(value)
}

/** Plain JSON of an untyped value (bigints as numbers, sets and vectors as arrays, tables as pairs). */
export function untypedJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : String(v)
    if (v instanceof Set) return [...v]
    if (v instanceof Map) return [...v].map(([key, value]) => ({ key, value }))
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
    return v
  })
}

/** `1 error`, `2 errors`; `1 entry`, `2 entries` with `many` given. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}
