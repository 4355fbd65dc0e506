import type { WireError } from '../errors.js'

/** A write's outcome as the hub remembers it: applied at `seq` (or not applied), or an error. */
export type WriteResult = { seq: number; applied: boolean } | WireError

const PENDING = 0
const APPLIED = 1
const NOT_APPLIED = 2
const FAILED = 3

/**
 * The outcomes of one node's last `limit` writes, by write id, so a write resent after a
 * reconnect is answered rather than applied twice. A node's write ids grow by one per write,
 * so this is a ring indexed by id: recording and settling are array stores, not Map inserts
 * and deletes. The ring starts small and doubles up to the limit as the node writes more.
 */
export class WriteResults {
  readonly #limit: number
  #mask: number
  #ids: Float64Array
  #seqs: Float64Array
  #states: Uint8Array
  /** The rare errors, by write id (only those still in the ring). */
  readonly #errors = new Map<number, WireError>()
  /** The highest id recorded, and the first id ever recorded (0: none yet). */
  #newest = 0
  #first = 0

  constructor(limit: number) {
    this.#limit = limit
    const capacity = Math.min(64, ceilPowerOfTwo(limit))
    this.#mask = capacity - 1
    this.#ids = new Float64Array(capacity)
    this.#seqs = new Float64Array(capacity)
    this.#states = new Uint8Array(capacity)
  }

  /** Outcomes the table has room for now (it starts small and doubles up to its limit). */
  get capacity(): number {
    return this.#ids.length
  }

  /** True when the outcome of `writeId` is remembered (settled or still pending). */
  has(writeId: number): boolean {
    return this.#inWindow(writeId) && this.#ids[writeId & this.#mask] === writeId
  }

  /** The outcome of `writeId`; undefined when it is pending or not remembered (see {@link has}). */
  get(writeId: number): WriteResult | undefined {
    if (!this.has(writeId)) return undefined
    const slot = writeId & this.#mask
    switch (this.#states[slot]) {
      case APPLIED:
        return { seq: this.#seqs[slot]!, applied: true }
      case NOT_APPLIED:
        return { seq: this.#seqs[slot]!, applied: false }
      case FAILED:
        return this.#errors.get(writeId)
      default:
        return undefined
    }
  }

  /** Records `writeId`, pending, or failed with `error`; ids older than the last `limit` are forgotten. */
  record(writeId: number, error?: WireError): void {
    if (this.#first === 0) this.#first = writeId
    if (writeId > this.#newest) {
      this.#newest = writeId
      const span = this.#newest - Math.max(this.#first, this.#newest - this.#limit + 1) + 1
      while (span > this.#ids.length && this.#ids.length < this.#limit) this.#grow()
    }
    const slot = writeId & this.#mask
    const evicted = this.#ids[slot]!
    if (this.#states[slot] === FAILED && evicted !== writeId) this.#errors.delete(evicted)
    this.#ids[slot] = writeId
    this.#states[slot] = PENDING
    if (error !== undefined) this.fail(writeId, error)
  }

  /** Sets the outcome of a remembered write (applied at `seq`, or not); a forgotten one stays forgotten. */
  settle(writeId: number, seq: number, applied: boolean): void {
    if (!this.has(writeId)) return
    const slot = writeId & this.#mask
    this.#states[slot] = applied ? APPLIED : NOT_APPLIED
    this.#seqs[slot] = seq
  }

  /** Sets the outcome of a remembered write to `error`. */
  fail(writeId: number, error: WireError): void {
    if (!this.has(writeId)) return
    this.#states[writeId & this.#mask] = FAILED
    this.#errors.set(writeId, error)
  }

  #inWindow(writeId: number): boolean {
    return writeId > this.#newest - this.#limit && writeId <= this.#newest && writeId > 0
  }

  /** Doubles the ring, moving what is still in the window to its new slot. */
  #grow(): void {
    const ids = this.#ids
    const seqs = this.#seqs
    const states = this.#states
    const capacity = ids.length * 2
    this.#ids = new Float64Array(capacity)
    this.#seqs = new Float64Array(capacity)
    this.#states = new Uint8Array(capacity)
    this.#mask = capacity - 1
    for (let slot = 0; slot < ids.length; slot++) {
      const id = ids[slot]!
      if (id === 0) continue
      const to = id & this.#mask
      this.#ids[to] = id
      this.#seqs[to] = seqs[slot]!
      this.#states[to] = states[slot]!
    }
  }
}

function ceilPowerOfTwo(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}
