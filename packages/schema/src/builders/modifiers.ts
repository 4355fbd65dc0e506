/**
 * Modifiers: optional (the value may be absent) and default (absent means the default value).
 *
 * @module
 */
import type { Impl } from '../impl.js'
import { atNil, Reader } from '../reader.js'
import { Writer, writeByte, writeRaw } from '../writer.js'
import { isNone, NONE } from './json-data.js'

/** The {@link Impl} of `optional(inner)`: `undefined` is nil on the wire and `none` in JSON. */
export function optionalImpl(inner: Impl): Impl {
  const { enc, dec, check, toJ, fromJ, key, render } = inner
  return {
    desc: `optional(${inner.desc})`,
    mode: 'optional',
    composite: inner.composite,
    enc(w, v) {
      if (v === undefined) writeByte(w, 0xc0)
      else enc(w, v)
    },
    dec(r) {
      if (!atNil(r)) return dec(r)
      r.pos++
      return undefined
    },
    check: (v, path, sink) => v === undefined || check(v, path, sink),
    toJ: (v) => (v === undefined ? NONE : toJ(v)),
    fromJ: (json, path, sink) => (isNone(json) ? undefined : fromJ(json, path, sink)),
    key: (v) => (v === undefined ? '~' : key(v)),
    render: (v) => (v === undefined ? undefined : render(v)),
    inner,
  }
}

/**
 * The {@link Impl} of `default(inner, value)` for a `value` the caller has validated. Encoding
 * `undefined` writes the default; decoding nil (or `none` in JSON) yields a fresh copy of it.
 * `text` is the default's canonical text for the description (see `valueText`).
 */
export function defaultImpl(inner: Impl, value: unknown, text: string): Impl {
  const { enc, dec, check, toJ, fromJ, key, render } = inner
  const w = new Writer(64)
  enc(w, value)
  const bytes = w.bytes.slice(0, w.pos)
  // Rendered now: later changes to the caller's object must not change the default.
  const json = toJ(value)
  const defaultKey = key(value)
  const defaultRender = render(value)
  // Objects (sets, records, ports…) are decoded afresh each time so no two values share one.
  const fallback =
    typeof value === 'object' && value !== null ? (): unknown => dec(new Reader(bytes)) : (): unknown => value
  return {
    // Not the JSON: the text is canonical for sets and tables, and tells -0 from 0.
    desc: `default(${inner.desc},${text})`,
    defaultText: text,
    mode: 'default',
    composite: inner.composite,
    enc(w, v) {
      if (v === undefined) writeRaw(w, bytes)
      else enc(w, v)
    },
    dec(r) {
      if (!atNil(r)) return dec(r)
      r.pos++
      return fallback()
    },
    check: (v, path, sink) => v === undefined || check(v, path, sink),
    toJ: (v) => (v === undefined ? json : toJ(v)),
    fromJ: (j, path, sink) => (isNone(j) ? fallback() : fromJ(j, path, sink)),
    key: (v) => (v === undefined ? defaultKey : key(v)),
    render: (v) => (v === undefined ? defaultRender : render(v)),
    fallback,
  }
}
