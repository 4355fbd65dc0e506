import {
  loneSurrogateAt,
  Writer,
  writeArrayHeader,
  writeBin,
  writeByte,
  writeFloat,
  writeNumber,
  writeStr,
} from '@concord/schema/msgpack'
import { Unpackr } from 'msgpackr'
import { DecodeError, ValidationError } from '../errors.js'

/**
 * A self-describing encoding of plain JavaScript data, for update deltas (whose type is not
 * the store's value type: an element to insert, a `[key, value]` pair). Exact for what
 * schemas produce: strings, numbers, booleans, null, undefined, bigint, arrays, plain
 * objects, `Set`, `Map`, `Uint8Array`. Containers are tagged arrays, so a decoder never
 * confuses them; the master validates whatever an update op makes of a delta.
 */
export type Dynamic = string | number | boolean | null | Uint8Array | readonly unknown[]

const MAX_DEPTH = 64

/**
 * The msgpack-ready form of `value`. Throws `TypeError` for functions, symbols, cycles, class
 * instances, and `ValidationError` for a string (or object key) with a lone surrogate, which
 * UTF-8 cannot carry: it would arrive as U+FFFD. `path` names where `value` sits in the delta.
 */
export function toDynamic(value: unknown, depth = 0, path = ''): Dynamic {
  if (depth > MAX_DEPTH) throw new TypeError('delta is nested too deeply (or cyclic)')
  switch (typeof value) {
    case 'string':
      checkString(value, path)
      return value
    case 'number':
    case 'boolean':
      return value
    case 'bigint':
      return ['b', value.toString()]
    case 'undefined':
      return ['u']
    case 'object': {
      if (value === null) return null
      if (value instanceof Uint8Array) return value
      if (Array.isArray(value)) {
        return ['a', ...value.map((item, i) => toDynamic(item, depth + 1, `${path}[${i}]`))]
      }
      if (value instanceof Set) {
        return ['s', ...[...value].map((item, i) => toDynamic(item, depth + 1, `${path}[${i}]`))]
      }
      if (value instanceof Map) {
        const out: unknown[] = ['m']
        let i = 0
        for (const [k, v] of value) {
          out.push(toDynamic(k, depth + 1, `${path}[${i}][0]`), toDynamic(v, depth + 1, `${path}[${i}][1]`))
          i++
        }
        return out
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw new TypeError('delta holds a class instance')
      const out: unknown[] = ['o']
      for (const [k, v] of Object.entries(value)) {
        const at = fieldPath(path, k)
        checkString(k, at)
        out.push(k, toDynamic(v, depth + 1, at))
      }
      return out
    }
    default:
      throw new TypeError(`delta holds a ${typeof value}`)
  }
}

/** Throws `ValidationError` (code `format`, at `path`) when `s` has a lone surrogate. */
function checkString(s: string, path: string): void {
  const at = loneSurrogateAt(s)
  if (at < 0) return
  throw new ValidationError(
    [
      {
        path,
        code: 'format',
        message: `the string has a lone surrogate at index ${at}, which UTF-8 cannot encode`,
      },
    ],
    { context: 'invalid delta' },
  )
}

/** A field's path as schema issues write it: `a.b`, or `a["odd name"]`. */
function fieldPath(path: string, name: string): string {
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) return `${path}[${JSON.stringify(name)}]`
  return path === '' ? name : `${path}.${name}`
}

/** The value `toDynamic` encoded. Throws {@link DecodeError} on anything malformed. */
export function fromDynamic(wire: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new DecodeError('delta is nested too deeply')
  if (wire === null || typeof wire === 'string' || typeof wire === 'boolean') return wire
  if (typeof wire === 'number') return wire
  // msgpackr hands out Buffers; give back exactly what was sent, a plain Uint8Array.
  if (wire instanceof Uint8Array) return new Uint8Array(wire.buffer, wire.byteOffset, wire.byteLength)
  if (!Array.isArray(wire) || typeof wire[0] !== 'string') throw new DecodeError('malformed delta')
  const items = wire.slice(1)
  switch (wire[0]) {
    case 'u':
      return undefined
    case 'b':
      if (items.length !== 1 || typeof items[0] !== 'string' || !/^-?\d+$/.test(items[0])) {
        throw new DecodeError('malformed bigint in delta')
      }
      return BigInt(items[0])
    case 'a':
      return items.map((item) => fromDynamic(item, depth + 1))
    case 's':
      return new Set(items.map((item) => fromDynamic(item, depth + 1)))
    case 'm':
    case 'o': {
      if (items.length % 2 !== 0) throw new DecodeError('malformed map in delta')
      if (wire[0] === 'm') {
        const map = new Map<unknown, unknown>()
        for (let i = 0; i < items.length; i += 2)
          map.set(fromDynamic(items[i], depth + 1), fromDynamic(items[i + 1], depth + 1))
        return map
      }
      const object: Record<string, unknown> = {}
      for (let i = 0; i < items.length; i += 2) {
        const key = items[i]
        if (typeof key !== 'string' || key === '__proto__')
          throw new DecodeError('malformed object key in delta')
        object[key] = fromDynamic(items[i + 1], depth + 1)
      }
      return object
    }
    default:
      throw new DecodeError(`unknown delta tag '${String(wire[0])}'`)
  }
}

const unpackr = new Unpackr({
  useRecords: false,
  structuredClone: false,
  copyBuffers: true,
  mapsAsObjects: true,
})

let writer = new Writer(1024)

/**
 * Bytes of an update delta (see {@link toDynamic}): msgpack in the forms msgpackr writes
 * (shortest headers; integers beyond 32 bits as float64), except that `-0` is a float64:
 * msgpackr writes it as the integer 0, and the delta would arrive as `+0`.
 */
export function encodeDelta(value: unknown): Uint8Array {
  // toDynamic runs the caller's getters; writing runs no code of theirs, so one writer serves.
  const dynamic = toDynamic(value)
  writer.pos = 0
  writeDynamic(writer, dynamic)
  const bytes = writer.bytes.slice(0, writer.pos)
  // One delta far larger than usual does not pin its buffer afterwards.
  if (writer.bytes.byteLength > 1 << 20) writer = new Writer(1024)
  return bytes
}

function writeDynamic(w: Writer, value: unknown): void {
  switch (typeof value) {
    case 'string':
      return writeStr(w, value)
    case 'number':
      return Object.is(value, -0) ? writeFloat(w, value) : writeNumber(w, value)
    case 'boolean':
      return writeByte(w, value ? 0xc3 : 0xc2)
    default:
      if (value === null) return writeByte(w, 0xc0)
      if (value instanceof Uint8Array) return writeBin(w, value)
      if (Array.isArray(value)) {
        writeArrayHeader(w, value.length)
        for (const item of value) writeDynamic(w, item)
        return
      }
      throw new TypeError(`not a dynamic value: ${typeof value}`)
  }
}

/** The update delta in `bytes`. Throws {@link DecodeError} on anything malformed. */
export function decodeDelta(bytes: Uint8Array): unknown {
  let wire: unknown
  try {
    wire = unpackr.unpack(bytes)
  } catch (cause) {
    throw new DecodeError('malformed delta', { cause })
  }
  return fromDynamic(wire)
}
