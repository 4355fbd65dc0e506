import type { WireError } from '../errors.js'

/** A write's outcome as the hub remembers it: applied at `seq` (or not applied), or an error. */
export type WriteResult = { seq: number; applied: boolean } | WireError

const PENDING = 0
const APPLIED = 1
const NOT_APPLIED = 2
const FAILED = 3

/**
 * Refusals a table keeps whole (message, issues) per node, the latest: an error object costs
 * about 200 bytes, twelve times a slot, and a node whose writes are all refused would make
 * each table hold 65 536 of them. Older refusals keep their code and `actualSeq` in the slot.
 */
export const WHOLE_ERRORS = 256
/**
 * Refusals the table of a node that left keeps whole: a hub remembers up to
 * `rememberedNodes` (4096) of them, and 256 whole refusals each would be 200 MiB. A node
 * that links again resends only the writes unanswered when its link went, its latest.
 */
export const DEPARTED_WHOLE_ERRORS = 16
/** Error codes by number, for refusals kept in their slot (the codes are a small fixed set). */
const CODES: string[] = []
const CODE_IDS = new Map<string, number>()
/** At most this many codes have a number (a `Uint8Array` slot); the rest stay whole. */
const MAX_CODES = 255

function codeId(code: string): number | undefined {
  let id = CODE_IDS.get(code)
  if (id === undefined && CODES.length < MAX_CODES) {
    id = CODES.length
    CODES.push(code)
    CODE_IDS.set(code, id)
  }
  return id
}

/**
 * The outcomes of one node's last `limit` writes, by write id, so a write resent after a
 * reconnect is answered rather than applied twice. A node's write ids grow by one per write,
 * so this is a ring indexed by id: recording and settling are array stores, not Map inserts
 * and deletes. The ring starts small and doubles up to the limit as the node writes more.
 * Memory: 18 bytes a slot, plus the latest `wholeErrors` refusals whole (about 200 bytes
 * each); older refusals answer with their code and `actualSeq` and a message that says so.
 */
export class WriteResults {
  readonly #limit: number
  #mask: number
  #ids: Float64Array
  /** The seq of an applied write; a refused one's `actualSeq`, or -1. */
  #seqs: Float64Array
  #states: Uint8Array
  /** A refused write's code number (see {@link codeId}). */
  #codes: Uint8Array
  /**
   * The latest refusals whole, by write id, oldest first: at most {@link WHOLE_ERRORS} whose
   * code has a number, and any whose code has none (only those still in the ring).
   */
  readonly #errors = new Map<number, WireError>()
  /** The highest id recorded, and the first id ever recorded (0: none yet). */
  #newest = 0
  #first = 0

  /** `wholeErrors`: the latest refusals kept whole (see {@link WHOLE_ERRORS}). */
  #wholeErrors: number

  constructor(limit: number, wholeErrors = WHOLE_ERRORS) {
    this.#limit = limit
    this.#wholeErrors = wholeErrors
    const capacity = Math.min(64, ceilPowerOfTwo(limit))
    this.#mask = capacity - 1
    this.#ids = new Float64Array(capacity)
    this.#seqs = new Float64Array(capacity)
    this.#states = new Uint8Array(capacity)
    this.#codes = new Uint8Array(capacity)
  }

  /** Outcomes the table has room for now (it starts small and doubles up to its limit). */
  get capacity(): number {
    return this.#ids.length
  }

  /** Refusals kept whole now (at most `wholeErrors`, but for codes without a number). */
  get wholeRefusals(): number {
    return this.#errors.size
  }

  /** The latest refusals kept whole (see {@link WHOLE_ERRORS}). */
  get wholeErrors(): number {
    return this.#wholeErrors
  }

  /**
   * Keeps the latest `count` refusals whole from now on, the older ones as code and
   * `actualSeq` in their slot: {@link DEPARTED_WHOLE_ERRORS} when the node leaves,
   * {@link WHOLE_ERRORS} when it links again.
   */
  keepWhole(count: number): void {
    this.#wholeErrors = count
    this.#trimWhole()
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
        return this.#errors.get(writeId) ?? this.#compactError(slot)
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
    const slot = writeId & this.#mask
    this.#states[slot] = FAILED
    const id = codeId(error.code)
    if (id !== undefined) {
      this.#codes[slot] = id
      this.#seqs[slot] = error.actualSeq ?? -1
    }
    this.#errors.delete(writeId)
    this.#errors.set(writeId, error)
    if (id !== undefined) this.#trimWhole()
  }

  /** Past `wholeErrors`, the oldest refusals kept whole whose slot can say them instead go. */
  #trimWhole(): void {
    for (const [old, whole] of this.#errors) {
      if (this.#errors.size <= this.#wholeErrors) return
      if (CODE_IDS.has(whole.code)) this.#errors.delete(old)
    }
  }

  /** A refusal from its slot: its code and `actualSeq`; its message says the rest is gone. */
  #compactError(slot: number): WireError {
    const code = CODES[this.#codes[slot]!]!
    const actualSeq = this.#seqs[slot]!
    const message = `the write was refused (${code}); the hub no longer keeps the rest of its answer`
    return actualSeq >= 0 ? { code, message, actualSeq } : { code, message }
  }

  #inWindow(writeId: number): boolean {
    return writeId > this.#newest - this.#limit && writeId <= this.#newest && writeId > 0
  }

  /** Doubles the ring, moving what is still in the window to its new slot. */
  #grow(): void {
    const ids = this.#ids
    const seqs = this.#seqs
    const states = this.#states
    const codes = this.#codes
    const capacity = ids.length * 2
    this.#ids = new Float64Array(capacity)
    this.#seqs = new Float64Array(capacity)
    this.#states = new Uint8Array(capacity)
    this.#codes = new Uint8Array(capacity)
    this.#mask = capacity - 1
    for (let slot = 0; slot < ids.length; slot++) {
      const id = ids[slot]!
      if (id === 0) continue
      const to = id & this.#mask
      this.#ids[to] = id
      this.#seqs[to] = seqs[slot]!
      this.#states[to] = states[slot]!
      this.#codes[to] = codes[slot]!
    }
  }
}

function ceilPowerOfTwo(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}
