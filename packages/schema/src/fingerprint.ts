/**
 * Schema fingerprints and the compatibility rule between them.
 *
 * `cs1:<base>` then sorted `;<path>#<index>=<hash>` entries, where
 * - `<base>` hashes the canonical description with every record's *extension fields* (its
 *   trailing optional or defaulted fields) left out, and
 * - each entry hashes one extension field whole (name, type, default) at its record's path
 *   (`$`, `$.id`, `$.conns[]`, `$.m{key}`, `$.m{}`) and field index.
 *
 * Two fingerprints are compatible when the bases are equal and every entry present in both has
 * the same hash: appending optional or defaulted fields is the one compatible change.
 *
 * Records inside set elements and table keys have no extension fields: ignoring a field there
 * could make two distinct keys equal, so every change to them changes the base.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import type { AnySchemaType } from './infer.js'

/** The first 16 hex digits of SHA-256. */
function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

/** A field name as a path segment; odd names are quoted and the entry separators escaped. */
function segment(name: string): string {
  if (/^[A-Za-z_$][\w$]*$/.test(name)) return `.${name}`
  return `[${JSON.stringify(name).replace(/[;=#]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)}]`
}

/** Describes `s` like `describe()`, leaving extension fields out and collecting their entries. */
function base(s: AnySchemaType, path: string, inKey: boolean, entries: string[]): string {
  const def = s.def
  switch (def.kind) {
    case 'optional':
      return `optional(${base(def.inner, path, inKey, entries)})`
    case 'default':
      return `default(${base(def.inner, path, inKey, entries)},${s.impl.defaultText})`
    case 'vector':
      return `vector(${base(def.element, `${path}[]`, inKey, entries)})`
    case 'set':
      return `set(${base(def.element, `${path}[]`, true, entries)})`
    case 'table':
      return `table(${base(def.key, `${path}{key}`, true, entries)},${base(def.value, `${path}{}`, inKey, entries)})`
    case 'record': {
      const fields = Object.entries(def.fields)
      let cut = fields.length
      if (!inKey) while (cut > 0 && fields[cut - 1]![1].mode !== 'required') cut--
      const parts: string[] = []
      for (let i = 0; i < fields.length; i++) {
        const [name, field] = fields[i]!
        if (i < cut) {
          parts.push(`${JSON.stringify(name)}:${base(field, path + segment(name), inKey, entries)}`)
        } else {
          entries.push(`${path}#${i}=${hash(`${JSON.stringify(name)}:${field.describe()}`)}`)
        }
      }
      return `record(${parts.join(',')})`
    }
    default:
      return s.describe()
  }
}

/**
 * The canonical text of a valid value of `s`, as a default appears in a schema's description.
 * It is `impl.key(v)` (equal for values equal by value, a set's elements in any order), except
 * that it tells -0 from 0: `key` counts them as one (sets and tables do, as JavaScript's do),
 * but a default of -0 reads back as -0, not 0, so the two are different schemas.
 */
export function valueText(s: AnySchemaType, v: unknown): string {
  const def = s.def
  switch (def.kind) {
    case 'double':
      return Object.is(v, -0) ? '-0' : s.impl.key(v)
    case 'optional':
      return v === undefined ? '~' : valueText(def.inner, v)
    case 'default':
      return valueText(def.inner, v === undefined ? def.value : v)
    case 'vector':
      return `[${(v as unknown[]).map((x) => valueText(def.element, x)).join(',')}]`
    case 'set':
      return `{${sortedTexts(v as Set<unknown>, (x) => valueText(def.element, x))}}`
    case 'table':
      return `<${sortedTexts(v as Map<unknown, unknown>, ([k, x]) => `${valueText(def.key, k)}=${valueText(def.value, x)}`)}>`
    case 'record': {
      const o = v as Record<string, unknown>
      const parts = Object.entries(def.fields).map(([name, field]) =>
        valueText(field, Object.hasOwn(o, name) ? o[name] : undefined),
      )
      return `(${parts.join(',')})`
    }
    default:
      return s.impl.key(v)
  }
}

function sortedTexts<T>(items: Iterable<T>, text: (item: T) => string): string {
  return Array.from(items, text).sort().join(',')
}

/** The fingerprint of a schema. */
export function computeFingerprint(schema: AnySchemaType): string {
  const entries: string[] = []
  const description = base(schema, '$', false, entries)
  entries.sort()
  return `cs1:${hash(description)}${entries.map((e) => `;${e}`).join('')}`
}

/** Base hash and entries of a fingerprint, or `undefined` when it is not one. */
function parse(fingerprint: string): { base: string; entries: Map<string, string> } | undefined {
  if (typeof fingerprint !== 'string' || !fingerprint.startsWith('cs1:')) return undefined
  const [head, ...rest] = fingerprint.slice(4).split(';')
  const entries = new Map<string, string>()
  for (const entry of rest) {
    const eq = entry.lastIndexOf('=')
    if (eq < 0) return undefined
    entries.set(entry.slice(0, eq), entry.slice(eq + 1))
  }
  return { base: head ?? '', entries }
}

/**
 * Whether data written under one schema can be read under the other (both ways): the base
 * hashes are equal and every extension field present in both has the same hash. Anything that
 * is not a `cs1:` fingerprint is compatible with nothing.
 */
export function compatible(a: string, b: string): boolean {
  if (a === b) return typeof a === 'string' && a.startsWith('cs1:')
  const x = parse(a)
  const y = parse(b)
  if (x === undefined || y === undefined || x.base !== y.base) return false
  for (const [key, value] of x.entries) {
    const other = y.entries.get(key)
    if (other !== undefined && other !== value) return false
  }
  return true
}
