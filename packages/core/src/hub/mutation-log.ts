/** One committed batch: mutations `from < seq <= to`, flat `seq, kind, key, value` quadruples. */
export interface CommittedBatch {
  readonly from: number
  readonly to: number
  readonly muts: readonly (number | string | Uint8Array | null)[]
  /** Approximate size in bytes (keys + values + overhead), for the log's byte bound. */
  readonly bytes: number
}

/**
 * The bounded log of a master's recent committed batches, so a clone that reconnects can
 * resume from its seq without a snapshot (S6.3). Bounded by mutation count and bytes; the
 * oldest batches go first.
 */
export class MutationLog {
  readonly #batches: CommittedBatch[] = []
  #head = 0
  #mutations = 0
  #bytes = 0
  /** Every mutation after this seq is in the log. */
  #start: number

  constructor(
    startSeq: number,
    readonly maxMutations: number,
    readonly maxBytes: number,
  ) {
    this.#start = startSeq
  }

  /** The log covers every mutation after this seq. */
  get start(): number {
    return this.#start
  }

  append(batch: CommittedBatch): void {
    this.#batches.push(batch)
    this.#mutations += batch.muts.length / 4
    this.#bytes += batch.bytes
    while (
      this.#head < this.#batches.length - 1 &&
      (this.#mutations > this.maxMutations || this.#bytes > this.maxBytes)
    ) {
      const oldest = this.#batches[this.#head]!
      this.#batches[this.#head] = undefined as never
      this.#head++
      this.#mutations -= oldest.muts.length / 4
      this.#bytes -= oldest.bytes
      this.#start = oldest.to
    }
    if (this.#head > 256 && this.#head * 2 > this.#batches.length) {
      this.#batches.splice(0, this.#head)
      this.#head = 0
    }
  }

  /** The batches holding every mutation after `seq`, or undefined when the log no longer reaches back to it. */
  since(seq: number): CommittedBatch[] | undefined {
    if (seq < this.#start) return undefined
    const out: CommittedBatch[] = []
    for (let i = this.#head; i < this.#batches.length; i++) {
      const batch = this.#batches[i]!
      if (batch.to > seq) out.push(batch)
    }
    return out
  }
}
