/**
 * Records: a fixed list of named fields. On the wire and in JSON a record is an array in field
 * order; trailing absent optional fields are trimmed on the wire, and readers accept fewer
 * (missing extension fields) or more (unknown fields from a newer schema, skipped) elements.
 *
 * @module
 */
import type { Impl } from '../impl.js'
import { errorText, FAIL, fieldPath, INVALID, show } from '../issues.js'
import { readArrayHeader, skipValue } from '../reader.js'
import { writeByte } from '../writer.js'
import { isNone, NONE, unwrap, wrap } from './json-data.js'

const REQUIRED = 0
const OPTIONAL = 1
const DEFAULT = 2

/** Names JavaScript objects inherit; such fields are read as own properties only. */
function inherited(name: string): boolean {
  return name in Object.prototype
}

/** Throws `TypeError` for field names a plain object cannot hold faithfully. */
export function checkFieldNames(names: readonly string[]): void {
  for (const name of names) {
    if (name === '__proto__') throw new TypeError('t.record: a field cannot be named "__proto__"')
    // JavaScript lists array-index keys first, whatever the order they were written in.
    if (/^(0|[1-9]\d*)$/.test(name) && Number(name) < 2 ** 32 - 1) {
      throw new TypeError(
        `t.record: field name ${JSON.stringify(name)} is an array index, which objects reorder`,
      )
    }
  }
}

/** The {@link Impl} of a record with these (checked) fields, in order. */
export function recordImpl(fields: ReadonlyArray<readonly [string, Impl]>): Impl {
  const n = fields.length
  const names = fields.map(([name]) => name)
  const impls = fields.map(([, impl]) => impl)
  const encs = impls.map((f) => f.enc)
  // Records read nil for an optional field themselves, so they call the inner decoder directly.
  const decs = impls.map((f) => (f.mode === 'optional' && f.inner !== undefined ? f.inner.dec : f.dec))
  const checks = impls.map((f) => f.check)
  const toJs = impls.map((f) => f.toJ)
  const fromJs = impls.map((f) => f.fromJ)
  const keys = impls.map((f) => f.key)
  const modes = impls.map((f) =>
    f.mode === 'required' ? REQUIRED : f.mode === 'optional' ? OPTIONAL : DEFAULT,
  )
  const fallbacks = impls.map((f) => f.fallback)
  const guarded = names.map(inherited)
  const anyGuarded = guarded.some(Boolean)
  const declared = new Set(names)
  // Records of up to 15 fields have a one-byte header; the count is patched in afterwards.
  const headerSize = n < 16 ? 1 : n < 0x10000 ? 3 : 5

  const read = (v: Record<string, unknown>, i: number): unknown => {
    const name = names[i]!
    if (anyGuarded && guarded[i]) return Object.hasOwn(v, name) ? v[name] : undefined
    return v[name]
  }

  // The last key order seen with no undeclared key: objects of one shape enumerate their keys
  // in the same order, so checking for extra fields is usually one comparison per key.
  let knownOrder: string[] = []
  const slowKeysOk = (v: object): boolean => {
    const order: string[] = []
    for (const k in v) {
      if (!declared.has(k)) return false
      order.push(k)
    }
    knownOrder = order
    return true
  }
  const keysOk = (v: object): boolean => {
    let i = 0
    for (const k in v) {
      if (k !== knownOrder[i]) return slowKeysOk(v)
      i++
    }
    return true
  }

  return {
    desc: `record(${fields.map(([name, f]) => `${JSON.stringify(name)}:${f.desc}`).join(',')})`,
    mode: 'required',
    composite: true,
    enc(w, v) {
      if (!isPlainObject(v)) throw INVALID
      if (!keysOk(v)) throw INVALID
      const o = v as Record<string, unknown>
      w.ensure(headerSize)
      const start = w.pos
      w.pos = start + headerSize
      let count = 0
      let end = w.pos
      for (let i = 0; i < n; i++) {
        const x = anyGuarded ? read(o, i) : o[names[i]!]
        if (x === undefined) {
          const mode = modes[i]
          if (mode === REQUIRED) throw INVALID
          if (mode === OPTIONAL) {
            writeByte(w, 0xc0)
            continue
          }
        }
        encs[i]!(w, x)
        count = i + 1
        end = w.pos
      }
      // Trailing absent optional fields are trimmed: readers treat missing elements as absent.
      w.pos = end
      const b = w.bytes
      if (headerSize === 1) b[start] = 0x90 | count
      else if (headerSize === 3) {
        b[start] = 0xdc
        b[start + 1] = count >>> 8
        b[start + 2] = count & 0xff
      } else {
        b[start] = 0xdd
        w.view.setUint32(start + 1, count)
      }
    },
    dec(r) {
      const at = r.pos
      const len = readArrayHeader(r)
      const o: Record<string, unknown> = {}
      const m = Math.min(len, n)
      for (let i = 0; i < m; i++) {
        if (modes[i] === OPTIONAL && r.bytes[r.pos] === 0xc0 && r.pos < r.end) {
          r.pos++
          continue
        }
        o[names[i]!] = decs[i]!(r)
      }
      for (let i = m; i < n; i++) {
        const mode = modes[i]
        if (mode === REQUIRED)
          r.fail(`required field ${JSON.stringify(names[i])} is missing from the record`, at)
        if (mode === DEFAULT) o[names[i]!] = fallbacks[i]!()
      }
      // Elements past the last known field come from a newer schema's extension fields.
      for (let i = n; i < len; i++) skipValue(r)
      return o
    },
    check(v, path, sink) {
      let isRecord: boolean
      try {
        isRecord = isPlainObject(v)
      } catch {
        isRecord = false
      }
      if (!isRecord) {
        sink.add(path, 'type', `expected a record (plain object), got ${show(v)}`)
        return false
      }
      const o = v as Record<string, unknown>
      const present: string[] = []
      try {
        for (const k in o) present.push(k)
      } catch (error) {
        sink.add(path, 'type', `the fields could not be listed: ${errorText(error)}`)
        return false
      }
      let ok = true
      for (const k of present) {
        if (declared.has(k)) continue
        sink.add(fieldPath(path, k), 'extra', `the record has no field ${JSON.stringify(k)}`)
        ok = false
      }
      for (let i = 0; i < n; i++) {
        const p = fieldPath(path, names[i]!)
        let x: unknown
        try {
          x = read(o, i)
        } catch (error) {
          sink.add(p, 'type', `reading the field threw: ${errorText(error)}`)
          ok = false
          continue
        }
        if (x === undefined) {
          if (modes[i] === REQUIRED) {
            sink.add(p, 'missing', `required field ${JSON.stringify(names[i])} is missing`)
            ok = false
          }
          continue
        }
        if (!checks[i]!(x, p, sink)) ok = false
      }
      return ok
    },
    toJ(v) {
      const o = v as Record<string, unknown>
      const parts: string[] = []
      for (let i = 0; i < n; i++) {
        const x = read(o, i)
        parts.push(x === undefined && modes[i] === OPTIONAL ? NONE : toJs[i]!(x))
      }
      return wrap('vector', `[${parts.join(',')}]`)
    },
    fromJ(json, path, sink) {
      const data = unwrap(json, 'vector', path, sink)
      if (data === FAIL) return FAIL
      if (!Array.isArray(data)) {
        sink.add(path, 'type', `a record is a "vector" whose data is a JSON array, got ${show(data)}`)
        return FAIL
      }
      const o: Record<string, unknown> = {}
      let ok = true
      for (let i = 0; i < n; i++) {
        const name = names[i]!
        if (i >= data.length) {
          if (modes[i] === REQUIRED) {
            sink.add(fieldPath(path, name), 'missing', `required field ${JSON.stringify(name)} is missing`)
            ok = false
          } else if (modes[i] === DEFAULT) o[name] = fallbacks[i]!()
          continue
        }
        const item = data[i]
        if (modes[i] === OPTIONAL && isNone(item)) continue
        const x = fromJs[i]!(item, fieldPath(path, name), sink)
        if (x === FAIL) ok = false
        else o[name] = x
      }
      // Elements past the last known field come from a newer schema's extension fields.
      return ok ? o : FAIL
    },
    key(v) {
      const o = v as Record<string, unknown>
      const parts: string[] = []
      for (let i = 0; i < n; i++) {
        const x = read(o, i)
        parts.push(x === undefined && modes[i] === OPTIONAL ? '~' : keys[i]!(x))
      }
      return `(${parts.join(',')})`
    },
    render: () => undefined,
  }
}

/**
 * A record is a plain object (`{…}` or `Object.create(null)`): a Date, a Promise or a class
 * instance is not one, even when every field is optional (it would be stored as `{}`).
 */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}
