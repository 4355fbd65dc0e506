/**
 * Scalar schemas: bool, int, count, double, string and enum.
 *
 * @module
 */
import type { Impl } from '../impl.js'
import { INVALID, Problem, show } from '../issues.js'
import { MAX_I64, MAX_U64, MIN_I64 } from '../limits.js'
import { type Reader, readBig, readFloat, readStr, readUint } from '../reader.js'
import {
  loneSurrogateAt,
  type Writer,
  writeByte,
  writeFloat,
  writeInt,
  writeStr,
  writeUint,
} from '../writer.js'
import { leaf } from './leaf.js'

/** `bool`: c2/c3 on the wire, `boolean` in JSON. */
export const bool: Impl = leaf({
  desc: 'bool',
  dataType: 'boolean',
  problem: (v) =>
    typeof v === 'boolean' ? undefined : new Problem('type', `expected a boolean, got ${show(v)}`),
  enc(w, v) {
    if (v === true) writeByte(w, 0xc3)
    else if (v === false) writeByte(w, 0xc2)
    else throw INVALID
  },
  dec(r) {
    const b = r.byte()
    if (b === 0xc3) return true
    if (b === 0xc2) return false
    return r.fail('expected a boolean', r.pos - 1)
  },
  toData: (v) => (v ? 'true' : 'false'),
  fromData: (d) =>
    typeof d === 'boolean' ? d : new Problem('type', `expected true or false, got ${show(d)}`),
  key: (v) => (v ? 't' : 'f'),
  render: (v) => (v ? 'true' : 'false'),
})

/** Writes a bigint already known to lie in [-2^63, 2^64). */
function writeBig64(w: Writer, v: bigint): void {
  w.ensure(9)
  const p = w.pos
  if (v < 0n) {
    w.bytes[p] = 0xd3
    w.view.setBigInt64(p + 1, v)
  } else {
    w.bytes[p] = 0xcf
    w.view.setBigUint64(p + 1, v)
  }
  w.pos = p + 9
}

/** Encoder of a signed 64-bit bigint (int, time, interval). */
export function encI64(w: Writer, v: unknown): void {
  if (typeof v !== 'bigint') throw INVALID
  // Most values fit 32 bits, where number arithmetic is much cheaper than bigint.
  if (v >= -0x80000000n && v <= 0xffffffffn) writeInt(w, Number(v))
  else if (v >= MIN_I64 && v <= MAX_I64) writeBig64(w, v)
  else throw INVALID
}

/** Decoder of a signed 64-bit bigint. */
export function decI64(r: Reader): bigint {
  return readBig(r, MIN_I64, MAX_I64)
}

/** The problem of a bigint-typed value, if any; `what` names the type, `hint` how to make one. */
export function bigintProblem(
  v: unknown,
  min: bigint,
  max: bigint,
  what: string,
  hint: string,
): Problem | undefined {
  if (typeof v === 'bigint') {
    if (v >= min && v <= max) return undefined
    return new Problem('range', `${v}n is outside the range of ${what} [${min}, ${max}]`)
  }
  if (typeof v === 'number' && Number.isInteger(v)) {
    return new Problem(
      'type',
      `expected a bigint (${what}), got the number ${v}; numbers are refused so nothing is rounded (${hint})`,
    )
  }
  return new Problem('type', `expected a bigint (${what}), got ${show(v)}`)
}

/** The bigint of a parsed JSON integer in [min, max], or the problem with it. */
export function bigintFromJson(d: unknown, min: bigint, max: bigint, what: string): bigint | Problem {
  let v: bigint
  if (typeof d === 'bigint') v = d
  else if (typeof d === 'number') {
    if (!Number.isInteger(d)) return new Problem('type', `expected an integer (${what}), got ${d}`)
    if (!Number.isSafeInteger(d)) {
      return new Problem(
        'range',
        `${d} is beyond 2^53 and was rounded by JSON.parse; pass the JSON text to fromJson so it is parsed exactly`,
      )
    }
    v = BigInt(d)
  } else return new Problem('type', `expected an integer (${what}), got ${show(d)}`)
  if (v < min || v > max) return new Problem('range', `${v} is outside the range of ${what} [${min}, ${max}]`)
  return v
}

/** `int`: a bigint in int64, the smallest msgpack int on the wire, `integer` in JSON. */
export const int: Impl = leaf({
  desc: 'int',
  dataType: 'integer',
  problem: (v) => bigintProblem(v, MIN_I64, MAX_I64, 'int', 'write 3n or BigInt(x)'),
  enc: encI64,
  dec: decI64,
  toData: (v) => String(v),
  fromData: (d) => bigintFromJson(d, MIN_I64, MAX_I64, 'int'),
  key: (v) => String(v),
  render: (v) => String(v),
})

/** `count`: a bigint in uint64, the smallest msgpack uint on the wire, `count` in JSON. */
export const count: Impl = leaf({
  desc: 'count',
  dataType: 'count',
  problem: (v) => bigintProblem(v, 0n, MAX_U64, 'count', 'write 3n or BigInt(x)'),
  enc(w, v) {
    if (typeof v !== 'bigint') throw INVALID
    if (v >= 0n && v <= 0xffffffffn) writeUint(w, Number(v))
    else if (v > 0n && v <= MAX_U64) writeBig64(w, v)
    else throw INVALID
  },
  dec: (r) => readBig(r, 0n, MAX_U64),
  toData: (v) => String(v),
  fromData: (d) => bigintFromJson(d, 0n, MAX_U64, 'count'),
  key: (v) => String(v),
  render: (v) => String(v),
})

/** JSON text of a finite double that always reads back as a real: `42.0`, `-0.0`, `1e+21`. */
function realText(v: number): string {
  if (Object.is(v, -0)) return '-0.0'
  const s = String(v)
  return /[.e]/.test(s) ? s : `${s}.0`
}

/** `double`: a finite number, float64 on the wire, `real` in JSON. */
export const double: Impl = leaf({
  desc: 'double',
  dataType: 'real',
  problem(v) {
    if (typeof v !== 'number') return new Problem('type', `expected a number (double), got ${show(v)}`)
    if (v - v !== 0) return new Problem('range', `${v} is not allowed: a double must be finite`)
    return undefined
  },
  enc(w, v) {
    // v - v is 0 exactly for finite numbers, NaN for NaN and ±Infinity.
    if (typeof v !== 'number' || v - v !== 0) throw INVALID
    writeFloat(w, v)
  },
  dec(r) {
    const at = r.pos
    const v = readFloat(r)
    if (v - v !== 0) r.fail(`${v} is not a finite double`, at)
    return v
  },
  toData: (v) => realText(v as number),
  fromData(d) {
    const v = typeof d === 'bigint' ? Number(d) : d
    if (typeof v !== 'number') return new Problem('type', `expected a number (real), got ${show(d)}`)
    if (v - v !== 0) return new Problem('range', `${v} is not allowed: a double must be finite`)
    return v
  },
  key: (v) => String(v),
  render: (v) => String(v),
})

function stringProblem(v: unknown): Problem | undefined {
  if (typeof v !== 'string') return new Problem('type', `expected a string, got ${show(v)}`)
  const at = loneSurrogateAt(v)
  if (at >= 0) {
    return new Problem('format', `the string has a lone surrogate at index ${at}, which UTF-8 cannot encode`)
  }
  return undefined
}

/** `string`: well-formed Unicode, a msgpack str of UTF-8 on the wire. */
export const string: Impl = leaf({
  desc: 'string',
  dataType: 'string',
  problem: stringProblem,
  enc(w, v) {
    if (typeof v !== 'string') throw INVALID
    writeStr(w, v)
  },
  dec: readStr,
  toData: (v) => JSON.stringify(v),
  fromData: (d) => stringProblem(d) ?? d,
  key: (v) => JSON.stringify(v),
  render: (v) => JSON.stringify(v),
})

/** The {@link Impl} of an enum with these names (checked by the builder). */
export function enumImpl(names: readonly string[]): Impl {
  const index = new Map(names.map((name, i) => [name, i]))
  const max = names.length - 1
  const listed = names.length <= 12 ? names.map((n) => JSON.stringify(n)).join(', ') : `${names.length} names`
  const problem = (v: unknown): Problem | undefined => {
    if (typeof v !== 'string') return new Problem('type', `expected an enum name (string), got ${show(v)}`)
    if (index.has(v)) return undefined
    return new Problem('enum', `${show(v)} is not one of ${listed}`)
  }
  return leaf({
    desc: `enum(${names.map((n) => JSON.stringify(n)).join(',')})`,
    dataType: 'enum-value',
    problem,
    enc(w, v) {
      const i = index.get(v as string)
      if (i === undefined) throw INVALID
      writeUint(w, i)
    },
    dec: (r) => names[readUint(r, max)],
    toData: (v) => JSON.stringify(v),
    fromData: (d) => problem(d) ?? d,
    key: (v) => JSON.stringify(v),
    render: (v) => JSON.stringify(v),
  })
}
