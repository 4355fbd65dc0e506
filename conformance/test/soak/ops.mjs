// The soak's workload, shared by the node processes (which run it) and the driver (which
// checks it): write number `n` of incarnation `inc` of writer `writer` is a pure function of
// the run's seed. A node only reports each write's outcome; the driver rebuilds the write
// itself, so a node killed mid-stream leaves nothing the driver cannot account for.
import { seededRandom } from '@concord/core/testing'

/** Keys of the shared `kv` store, written by every writer. */
export const KV_KEYS = 30_000
/** Counters per writer incarnation (each incremented by that incarnation alone). */
export const COUNTERS = 4
/** Appends per log key, about: a log key is `<writer>.<inc>/log<n / LOG_SPAN>`. */
export const LOG_SPAN = 2000

/** The stores a soak hub hosts, by name, with the schema kind of each. */
export const STORE_NAMES = ['kv', 'counters', 'logs']

/**
 * The workload's mix, the same in the driver and every node of a run: the share of puts that
 * carry an expiry, and the share of values that are large (8-24 KB, frames split, snapshot
 * chunks fill up).
 */
const workload = { expiryShare: 0.15, largeShare: 0.01 }

/** Sets the workload's mix (`--expiry-share`, `--large-share` of the soak); before any `opFor`. */
export function configureOps({ expiryShare, largeShare } = {}) {
  if (expiryShare !== undefined) workload.expiryShare = expiryShare
  if (largeShare !== undefined) workload.largeShare = largeShare
}

/** A 32-bit mix of the numbers naming one write. */
function mix(...parts) {
  let h = 0x811c9dc5
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x01000193) >>> 0
    h = Math.imul(h ^ Math.floor(part / 2 ** 32), 0x01000193) >>> 0
    h ^= h >>> 15
  }
  return h >>> 0
}

/** The value a put or compare-and-set of write `n` carries: unique, and it names its write. */
export function writeValue(writer, inc, n, pad) {
  return `${writer}.${inc}.${n}|${'v'.repeat(pad)}`
}

/** Which write a `kv` value came from, or undefined when it is not one of ours. */
export function parseValue(value) {
  const match = /^(\d+)\.(\d+)\.(\d+)\|/.exec(value)
  return match === null ? undefined : { writer: Number(match[1]), inc: Number(match[2]), n: Number(match[3]) }
}

/**
 * Write `n` (1, 2, …) of incarnation `inc` of writer `writer`:
 * `{ kind: 'put'|'remove'|'cas'|'incr'|'append'|'clear', store, key, value?, expiry?, token? }`.
 */
export function opFor(seed, writer, inc, n) {
  const r = seededRandom(mix(seed, writer, inc, n))
  const x = r()
  const kvKey = () => `k${r.int(KV_KEYS)}`
  // A few large values (frames split, snapshot chunks fill up), most small.
  const pad = () => (r.chance(workload.largeShare) ? 8000 + r.int(16_000) : r.int(120))
  if (x < 0.33) {
    const key = kvKey()
    const value = writeValue(writer, inc, n, pad())
    const expiry = r.chance(workload.expiryShare) ? 100 + r.int(2900) : undefined
    return { kind: 'put', store: 'kv', key, value, expiry }
  }
  if (x < 0.43) return { kind: 'remove', store: 'kv', key: kvKey() }
  if (x < 0.55) {
    const key = kvKey()
    return { kind: 'cas', store: 'kv', key, value: writeValue(writer, inc, n, pad()) }
  }
  if (x < 0.77) return { kind: 'incr', store: 'counters', key: `${writer}.${inc}/c${r.int(COUNTERS)}` }
  if (x < 0.998) {
    return {
      kind: 'append',
      store: 'logs',
      key: `${writer}.${inc}/log${Math.floor(n / LOG_SPAN)}`,
      token: `${n},`,
    }
  }
  return { kind: 'clear', store: 'kv', key: '' }
}

/** Kinds of write that always make a mutation of their own when they succeed (a seq no other write has). */
export const MUTATING = new Set(['put', 'cas', 'incr', 'append', 'clear'])
