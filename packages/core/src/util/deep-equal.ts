/**
 * Structural equality over the values schemas produce: primitives (bigint included),
 * arrays, plain objects, `Set` and `Map` (compared by value, so composite keys work),
 * `Uint8Array`.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    return a.every((item, i) => deepEqual(item, b[i]))
  }
  if (a instanceof Set) {
    if (!(b instanceof Set) || a.size !== b.size) return false
    for (const item of a) if (!setHas(b, item)) return false
    return true
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false
    for (const [key, value] of a) {
      const other = mapGet(b, key)
      if (!other.found || !deepEqual(value, other.value)) return false
    }
    return true
  }
  if (a instanceof Uint8Array) {
    if (!(b instanceof Uint8Array) || a.length !== b.length) return false
    return a.every((byte, i) => byte === b[i])
  }
  if (Array.isArray(b) || b instanceof Set || b instanceof Map || b instanceof Uint8Array) return false
  // A field set to undefined is an absent field: records encode both the same way.
  const ka = definedKeys(a)
  const kb = definedKeys(b)
  if (ka.length !== kb.length) return false
  return ka.every((k) => (b as never)[k] !== undefined && deepEqual((a as never)[k], (b as never)[k]))
}

function definedKeys(o: object): string[] {
  return Object.keys(o).filter((k) => (o as never)[k] !== undefined)
}

/** `set.has` by value. */
export function setHas(set: ReadonlySet<unknown>, item: unknown): boolean {
  if (set.has(item)) return true
  if (typeof item !== 'object' || item === null) return false
  for (const other of set) if (deepEqual(other, item)) return true
  return false
}

/** `map.get` by value, telling "absent" from "present with undefined". */
export function mapGet(
  map: ReadonlyMap<unknown, unknown>,
  key: unknown,
): { found: boolean; value: unknown; key: unknown } {
  if (map.has(key)) return { found: true, value: map.get(key), key }
  if (typeof key === 'object' && key !== null) {
    for (const [other, value] of map) if (deepEqual(other, key)) return { found: true, value, key: other }
  }
  return { found: false, value: undefined, key }
}
