/**
 * Containers: vector (an array), set (a `Set`) and table (a `Map`). Sets and tables of
 * composite values (records, ports, containers) compare elements by value: two elements equal
 * by value are a `duplicate` issue, never silently two entries.
 *
 * @module
 */
import type { Impl } from '../impl.js'
import { errorText, FAIL, INVALID, type IssueSink, indexPath, show } from '../issues.js'
import { readArrayHeader, readMapHeader } from '../reader.js'
import { writeArrayHeader, writeMapHeader } from '../writer.js'
import { unwrap, wrap } from './json-data.js'

function isArray(v: unknown): v is unknown[] {
  try {
    return Array.isArray(v)
  } catch {
    return false
  }
}

function isInstance(v: unknown, type: typeof Set | typeof Map): boolean {
  try {
    return v instanceof type
  } catch {
    return false
  }
}

/**
 * Whether set elements or table keys of this type must be compared by {@link Impl.key}: objects,
 * which `Set` and `Map` compare by identity, and defaulted values, whose `undefined` is the
 * default (so `undefined` and the default value itself are one element).
 */
function comparedByValue(element: Impl): boolean {
  return element.composite || element.mode === 'default'
}

/** The elements of a Set or entries of a Map, or `undefined` after reporting why they could not be read. */
function items<T>(v: Iterable<T>, path: string, sink: IssueSink): T[] | undefined {
  try {
    return [...v]
  } catch (error) {
    sink.add(path, 'type', `the elements could not be read: ${errorText(error)}`)
    return undefined
  }
}

/** JSON `data` of an array-shaped value, or FAIL after reporting. */
function jsonArray(json: unknown, type: string, path: string, sink: IssueSink): unknown[] | typeof FAIL {
  const data = unwrap(json, type, path, sink)
  if (data === FAIL) return FAIL
  if (!Array.isArray(data)) {
    sink.add(path, 'type', `the data of a "${type}" must be a JSON array, got ${show(data)}`)
    return FAIL
  }
  return data
}

/** The {@link Impl} of `vector(element)`: an array. */
export function vectorImpl(element: Impl): Impl {
  const { enc, dec, check, toJ, fromJ, key } = element
  return {
    desc: `vector(${element.desc})`,
    mode: 'required',
    composite: true,
    enc(w, v) {
      if (!Array.isArray(v)) throw INVALID
      const n = v.length
      writeArrayHeader(w, n)
      for (let i = 0; i < n; i++) enc(w, v[i])
    },
    dec(r) {
      const n = readArrayHeader(r)
      const out: unknown[] = []
      for (let i = 0; i < n; i++) out.push(dec(r))
      return out
    },
    check(v, path, sink) {
      if (!isArray(v)) {
        sink.add(path, 'type', `expected an array (vector), got ${show(v)}`)
        return false
      }
      let ok = true
      let n: number
      try {
        n = v.length
      } catch (error) {
        sink.add(path, 'type', `the length could not be read: ${errorText(error)}`)
        return false
      }
      for (let i = 0; i < n; i++) {
        let x: unknown
        try {
          x = v[i]
        } catch (error) {
          sink.add(indexPath(path, i), 'type', `the element could not be read: ${errorText(error)}`)
          ok = false
          continue
        }
        if (!check(x, indexPath(path, i), sink)) ok = false
      }
      return ok
    },
    toJ: (v) => wrap('vector', `[${(v as unknown[]).map(toJ).join(',')}]`),
    fromJ(json, path, sink) {
      const data = jsonArray(json, 'vector', path, sink)
      if (data === FAIL) return FAIL
      const out: unknown[] = []
      let ok = true
      for (let i = 0; i < data.length; i++) {
        const x = fromJ(data[i], indexPath(path, i), sink)
        if (x === FAIL) ok = false
        else out.push(x)
      }
      return ok ? out : FAIL
    },
    key: (v) => `[${(v as unknown[]).map(key).join(',')}]`,
    render: () => undefined,
  }
}

/** The {@link Impl} of `set(element)`: a `Set`. */
export function setImpl(element: Impl): Impl {
  const { enc, dec, check, toJ, fromJ, key } = element
  const byValue = comparedByValue(element)
  return {
    desc: `set(${element.desc})`,
    mode: 'required',
    composite: true,
    enc(w, v) {
      if (!(v instanceof Set)) throw INVALID
      const n = v.size
      writeArrayHeader(w, n)
      let count = 0
      if (byValue) {
        const seen = new Set<string>()
        for (const x of v) {
          enc(w, x)
          const k = key(x)
          if (seen.has(k)) throw INVALID
          seen.add(k)
          count++
        }
      } else {
        for (const x of v) {
          enc(w, x)
          count++
        }
      }
      if (count !== n) throw INVALID
    },
    dec(r) {
      const n = readArrayHeader(r)
      const out = new Set<unknown>()
      const seen = byValue ? new Set<string>() : undefined
      for (let i = 0; i < n; i++) {
        const at = r.pos
        const x = dec(r)
        if (seen !== undefined) {
          const k = key(x)
          if (seen.has(k)) r.fail('duplicate set element', at)
          seen.add(k)
        }
        out.add(x)
        if (out.size !== i + 1) r.fail('duplicate set element', at)
      }
      return out
    },
    check(v, path, sink) {
      if (!isInstance(v, Set)) {
        sink.add(path, 'type', `expected a Set, got ${show(v)}`)
        return false
      }
      const xs = items(v as Set<unknown>, path, sink)
      if (xs === undefined) return false
      let ok = true
      const seen = byValue ? new Map<string, number>() : undefined
      for (let i = 0; i < xs.length; i++) {
        const p = indexPath(path, i)
        if (!check(xs[i], p, sink)) {
          ok = false
          continue
        }
        if (seen === undefined) continue
        const k = key(xs[i])
        const first = seen.get(k)
        if (first === undefined) seen.set(k, i)
        else {
          sink.add(p, 'duplicate', `the element is equal by value to element [${first}]`)
          ok = false
        }
      }
      return ok
    },
    toJ: (v) => wrap('set', `[${Array.from(v as Set<unknown>, toJ).join(',')}]`),
    fromJ(json, path, sink) {
      const data = jsonArray(json, 'set', path, sink)
      if (data === FAIL) return FAIL
      const out = new Set<unknown>()
      const seen = new Map<string, number>()
      let ok = true
      for (let i = 0; i < data.length; i++) {
        const p = indexPath(path, i)
        const x = fromJ(data[i], p, sink)
        if (x === FAIL) {
          ok = false
          continue
        }
        const k = key(x)
        const first = seen.get(k)
        if (first !== undefined) {
          sink.add(p, 'duplicate', `the element is equal by value to element [${first}]`)
          ok = false
          continue
        }
        seen.set(k, i)
        out.add(x)
      }
      return ok ? out : FAIL
    },
    key: (v) =>
      `{${Array.from(v as Set<unknown>, key)
        .sort()
        .join(',')}}`,
    render: () => undefined,
  }
}

/** The {@link Impl} of `table(key, value)`: a `Map`. Paths: `m{"k"}` for a value, `m{key #i}` for a key. */
export function tableImpl(keyType: Impl, valueType: Impl): Impl {
  const { enc: encK, dec: decK, check: checkK, toJ: toJK, fromJ: fromJK, key: keyK, render } = keyType
  const { enc: encV, dec: decV, check: checkV, toJ: toJV, fromJ: fromJV, key: keyV } = valueType
  const byValue = comparedByValue(keyType)
  const keyPath = (path: string, i: number): string => `${path}{key #${i}}`
  const valuePath = (path: string, k: unknown, i: number): string => `${path}{${render(k) ?? `#${i}`}}`
  return {
    desc: `table(${keyType.desc},${valueType.desc})`,
    mode: 'required',
    composite: true,
    enc(w, v) {
      if (!(v instanceof Map)) throw INVALID
      const n = v.size
      writeMapHeader(w, n)
      let count = 0
      const seen = byValue ? new Set<string>() : undefined
      for (const [k, x] of v) {
        encK(w, k)
        encV(w, x)
        if (seen !== undefined) {
          const s = keyK(k)
          if (seen.has(s)) throw INVALID
          seen.add(s)
        }
        count++
      }
      if (count !== n) throw INVALID
    },
    dec(r) {
      const n = readMapHeader(r)
      const out = new Map<unknown, unknown>()
      const seen = byValue ? new Set<string>() : undefined
      for (let i = 0; i < n; i++) {
        const at = r.pos
        const k = decK(r)
        if (seen !== undefined) {
          const s = keyK(k)
          if (seen.has(s)) r.fail('duplicate table key', at)
          seen.add(s)
        }
        out.set(k, decV(r))
        if (out.size !== i + 1) r.fail('duplicate table key', at)
      }
      return out
    },
    check(v, path, sink) {
      if (!isInstance(v, Map)) {
        sink.add(path, 'type', `expected a Map (table), got ${show(v)}`)
        return false
      }
      const entries = items(v as Map<unknown, unknown>, path, sink)
      if (entries === undefined) return false
      let ok = true
      const seen = byValue ? new Map<string, number>() : undefined
      for (let i = 0; i < entries.length; i++) {
        const [k, x] = entries[i]!
        if (!checkK(k, keyPath(path, i), sink)) {
          ok = false
          if (!checkV(x, `${path}{#${i}}`, sink)) ok = false
          continue
        }
        if (seen !== undefined) {
          const s = keyK(k)
          const first = seen.get(s)
          if (first === undefined) seen.set(s, i)
          else {
            sink.add(keyPath(path, i), 'duplicate', `the key is equal by value to key #${first}`)
            ok = false
          }
        }
        if (!checkV(x, valuePath(path, k, i), sink)) ok = false
      }
      return ok
    },
    toJ(v) {
      const parts: string[] = []
      for (const [k, x] of v as Map<unknown, unknown>) parts.push(`{"key":${toJK(k)},"value":${toJV(x)}}`)
      return wrap('table', `[${parts.join(',')}]`)
    },
    fromJ(json, path, sink) {
      const data = jsonArray(json, 'table', path, sink)
      if (data === FAIL) return FAIL
      const out = new Map<unknown, unknown>()
      const seen = new Map<string, number>()
      let ok = true
      for (let i = 0; i < data.length; i++) {
        const entry = data[i]
        if (typeof entry !== 'object' || entry === null || !('key' in entry) || !('value' in entry)) {
          sink.add(`${path}{#${i}}`, 'type', `expected {"key": …, "value": …}, got ${show(entry)}`)
          ok = false
          continue
        }
        const { key: jk, value: jv } = entry as { key: unknown; value: unknown }
        const k = fromJK(jk, keyPath(path, i), sink)
        if (k === FAIL) {
          ok = false
          if (fromJV(jv, `${path}{#${i}}`, sink) === FAIL) ok = false
          continue
        }
        const s = keyK(k)
        const first = seen.get(s)
        if (first !== undefined) {
          sink.add(keyPath(path, i), 'duplicate', `the key is equal by value to key #${first}`)
          ok = false
          continue
        }
        seen.set(s, i)
        const x = fromJV(jv, valuePath(path, k, i), sink)
        if (x === FAIL) ok = false
        else out.set(k, x)
      }
      return ok ? out : FAIL
    },
    key(v) {
      const parts: string[] = []
      for (const [k, x] of v as Map<unknown, unknown>) parts.push(`${keyK(k)}=${keyV(x)}`)
      return `<${parts.sort().join(',')}>`
    },
    render: () => undefined,
  }
}
