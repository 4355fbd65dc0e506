import type { Schema } from '@concord/schema/contract'
import { REMOVE, UNCHANGED, type UpdateOp, type UpdateRegistry } from './ports/update-registry.js'
import { deepEqual, mapGet, setHas } from './util/deep-equal.js'

function kindOf(value: unknown): string {
  if (value === undefined) return 'absent'
  if (Array.isArray(value)) return 'vector'
  if (value instanceof Set) return 'set'
  if (value instanceof Map) return 'table'
  return typeof value
}

function mismatch(op: string, current: unknown, delta: unknown): never {
  throw new TypeError(`${op} does not apply to ${kindOf(current)} with a delta of type ${kindOf(delta)}`)
}

function add(op: string, sign: 1 | -1): UpdateOp {
  return (current, delta) => {
    if (typeof delta === 'bigint' && (current === undefined || typeof current === 'bigint')) {
      return (current ?? 0n) + (sign === 1 ? delta : -delta)
    }
    if (typeof delta === 'number' && (current === undefined || typeof current === 'number')) {
      return (current ?? 0) + sign * delta
    }
    return mismatch(op, current, delta)
  }
}

/**
 * The built-in update operations (S3.5). Each is pure: it never mutates `current`.
 * - `increment` / `decrement`: numbers and bigints (count, int, double, time, interval); absent counts as 0.
 * - `append`: string + string, or vector + vector; absent counts as empty.
 * - `insertInto`: a set gets the element `delta`; a table gets `delta = [key, value]`.
 * - `removeFrom`: a set loses the element `delta`; a table loses the key `delta`.
 * - `push`: a vector gets the element `delta` at its end. `pop`: a vector loses its last element.
 * - `putIfAbsent`: sets `delta` when the key is absent; otherwise changes nothing (the write resolves to false).
 * Sets and tables compare elements and keys by value, so records and ports work as keys.
 */
export const builtinOps: Readonly<Record<string, UpdateOp>> = Object.freeze({
  increment: add('increment', 1),
  decrement: add('decrement', -1),
  append(current, delta) {
    if (typeof delta === 'string' && (current === undefined || typeof current === 'string'))
      return (current ?? '') + delta
    if (Array.isArray(delta) && (current === undefined || Array.isArray(current)))
      return [...(current ?? []), ...delta]
    return mismatch('append', current, delta)
  },
  insertInto(current, delta, ctx) {
    if (current === undefined) {
      // Absent: a new set of one element, or (when that is not a value of the store) a new
      // table of one [key, value] pair.
      const set = new Set([delta])
      if (Array.isArray(delta) && delta.length === 2 && !ctx.valid(set))
        return new Map([delta as [unknown, unknown]])
      return set
    }
    if (current instanceof Set) return setHas(current, delta) ? UNCHANGED : new Set([...current, delta])
    if (current instanceof Map) {
      if (!Array.isArray(delta) || delta.length !== 2)
        throw new TypeError('insertInto a table takes [key, value]')
      const found = mapGet(current, delta[0])
      if (found.found && deepEqual(found.value, delta[1])) return UNCHANGED
      const next = new Map(current)
      next.set(found.key, delta[1])
      return next
    }
    return mismatch('insertInto', current, delta)
  },
  removeFrom(current, delta, ctx) {
    if (current === undefined) return UNCHANGED
    if (current instanceof Set) {
      // Something that cannot be an element is a mistake to report, not a no-op.
      if (!ctx.valid(new Set([delta]))) throw new TypeError('removeFrom: not an element of this set')
      if (!setHas(current, delta)) return UNCHANGED
      return new Set([...current].filter((item) => !deepEqual(item, delta)))
    }
    if (current instanceof Map) {
      const [sample] = current.values()
      if (current.size > 0 && !ctx.valid(new Map([[delta, sample]]))) {
        throw new TypeError('removeFrom: not a key of this table')
      }
      const found = mapGet(current, delta)
      if (!found.found) return UNCHANGED
      const next = new Map(current)
      next.delete(found.key)
      return next
    }
    return mismatch('removeFrom', current, delta)
  },
  push(current, delta) {
    if (current === undefined || Array.isArray(current)) return [...(current ?? []), delta]
    return mismatch('push', current, delta)
  },
  pop(current) {
    if (current === undefined) return UNCHANGED
    if (Array.isArray(current)) return current.length === 0 ? UNCHANGED : current.slice(0, -1)
    return mismatch('pop', current, undefined)
  },
  putIfAbsent(_current, delta, ctx) {
    // Not `current === undefined`: a present key may hold undefined (an optional schema).
    return ctx.present ? UNCHANGED : delta
  },
})

/**
 * An update callback typed by the store's schema: `current` is a value of it (or undefined),
 * `delta` what the callback declares, and returning anything but a value of the schema,
 * {@link REMOVE} or {@link UNCHANGED} is a type error. Returns the callback itself, as the
 * `UpdateOp` a store's `ops` take; the master still validates what it returns (S3.5).
 *
 * ```ts
 * const max = updateOp(t.count(), (current, delta: bigint) =>
 *   current === undefined || delta > current ? delta : UNCHANGED)
 * createHub({ …, stores: { hits: { schema: t.count(), ops: { max } } } })
 * ```
 */
export function updateOp<T, I, D = unknown>(_schema: Schema<T, I>, op: UpdateOp<T, D, I>): UpdateOp {
  if (typeof op !== 'function') throw new TypeError('updateOp(schema, op) needs a function')
  return op as UpdateOp
}

/** A registry holding the built-in operations plus `ops` (which may not redefine a built-in). */
export function updateRegistry(ops: Readonly<Record<string, UpdateOp>> = {}): UpdateRegistry {
  for (const name of Object.keys(ops)) {
    if (Object.hasOwn(builtinOps, name))
      throw new TypeError(`update op '${name}' is built in and cannot be redefined`)
    if (typeof ops[name] !== 'function') throw new TypeError(`update op '${name}' is not a function`)
  }
  const all = new Map<string, UpdateOp>([...Object.entries(builtinOps), ...Object.entries(ops)])
  return { get: (name) => all.get(name), names: () => [...all.keys()] }
}

export { REMOVE, UNCHANGED }
