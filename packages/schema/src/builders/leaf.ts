/**
 * The shape shared by every scalar schema (everything but containers, records and modifiers).
 *
 * @module
 */
import type { Impl } from '../impl.js'
import { errorText, FAIL, Problem } from '../issues.js'
import type { Reader } from '../reader.js'
import type { Writer } from '../writer.js'
import { unwrap, wrap } from './json-data.js'

/** What a scalar schema defines; {@link leaf} derives the rest of its {@link Impl}. */
export interface LeafSpec {
  readonly desc: string
  /** Broker's `@data-type`. */
  readonly dataType: string
  readonly composite?: boolean
  /** The problem with a value, if any. */
  problem(value: unknown): Problem | undefined
  enc(w: Writer, value: unknown): void
  dec(r: Reader): unknown
  /** JSON text of the `data` of a valid value. */
  toData(value: unknown): string
  /** The value of a parsed `data`, or the problem with it. */
  fromData(data: unknown): unknown
  key(value: unknown): string
  render(value: unknown): string | undefined
}

/** Builds the {@link Impl} of a scalar schema. */
export function leaf(spec: LeafSpec): Impl {
  const { dataType, problem, toData, fromData } = spec
  return {
    desc: spec.desc,
    mode: 'required',
    composite: spec.composite ?? false,
    enc: spec.enc,
    dec: spec.dec,
    check(value, path, sink) {
      let p: Problem | undefined
      try {
        p = problem(value)
      } catch (error) {
        // A Proxy or a throwing getter inside a port object.
        p = new Problem('type', `the value could not be read: ${errorText(error)}`)
      }
      if (p === undefined) return true
      sink.add(path, p.code, p.message)
      return false
    },
    toJ: (value) => wrap(dataType, toData(value)),
    fromJ(json, path, sink) {
      const data = unwrap(json, dataType, path, sink)
      if (data === FAIL) return FAIL
      const v = fromData(data)
      if (v instanceof Problem) {
        sink.add(path, v.code, v.message)
        return FAIL
      }
      return v
    },
    key: spec.key,
    render: spec.render,
  }
}
