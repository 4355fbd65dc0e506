import { MutationKind } from '../protocol/messages.js'
import type { CommittedBatch } from './mutation-log.js'

/** Flat `seq, kind, key, value` quadruples, as in a MUTATIONS message. */
export type FlatMutations = (number | string | Uint8Array | null)[]

/** Mutations `from < seq <= to` (those of a prefix view only, for a view): one MUTATIONS message. */
export interface MutationChunk {
  readonly from: number
  readonly to: number
  readonly muts: FlatMutations
}

const MESSAGE_OVERHEAD = 24

/** An upper bound on the bytes an entry (key, value, seq) takes in a frame: keys at 3 per char. */
export function entrySize(key: string, value: Uint8Array | null): number {
  return MESSAGE_OVERHEAD + key.length * 3 + (value?.byteLength ?? 0)
}

/**
 * Cuts committed batches into MUTATIONS messages bounded in entries and bytes: a broadcast
 * into frames, a log replay into the chunks the clone's credits pace (S6.3). Consecutive
 * batches share a chunk; a chunk that stops inside a batch ends at the last mutation it
 * looked at, and the next starts there. A mutation bigger than the bound travels alone. With
 * a prefix, only the mutations in that view are taken (a clear is in every view), and the
 * chunks still cover every seq, so a view's clone advances through the rest.
 *
 * A batch is let go once it is taken whole: a replay holds only what it has still to send.
 */
export class MutationChunker {
  readonly #batches: (CommittedBatch | undefined)[]
  #index = 0
  /** Where the next chunk starts in the current batch's `muts`. */
  #offset = 0
  /** Every mutation up to this seq was taken. */
  #seq: number

  /**
   * @param batches consecutive committed batches, the first holding the mutation after
   *   `fromSeq`; the chunker owns the array (it clears the entries it is done with)
   * @param fromSeq the chunks start after this seq (the first batch may start before it)
   * @param prefix the view's prefix, `''` for the whole store
   */
  constructor(
    batches: (CommittedBatch | undefined)[],
    fromSeq: number,
    readonly prefix: string,
  ) {
    this.#batches = batches
    this.#seq = fromSeq
  }

  /** Whether every batch was taken. */
  get done(): boolean {
    return this.#index >= this.#batches.length
  }

  /**
   * The next chunk: at most `maxEntries` mutations and `maxBytes` (see {@link entrySize}),
   * but a mutation bigger than that alone. Only when not {@link done}.
   */
  next(maxEntries: number, maxBytes: number): MutationChunk {
    const prefix = this.prefix
    const maxLength = maxEntries * 4
    let from = this.#seq
    let seq = from
    let bytes = 0
    const muts: FlatMutations = []
    for (; this.#index < this.#batches.length; this.#index++, this.#offset = 0) {
      const batch = this.#batches[this.#index]!
      if (batch.from > seq) {
        // Batches are consecutive within an epoch. Should one not be, it starts a chunk of
        // its own, so the clone sees the gap and resyncs rather than skip it.
        if (seq > from) break
        from = seq = batch.from
      }
      const all = batch.muts
      // Seqs rise within a batch: what was taken already (or lies before `fromSeq`) is a head.
      let start = this.#offset
      while (start < all.length && (all[start] as number) <= seq) start += 4
      for (let i = start; i < all.length; i += 4) {
        const key = all[i + 2] as string
        if (prefix !== '' && all[i + 1] !== MutationKind.CLEAR && !key.startsWith(prefix)) continue
        const value = all[i + 3] as Uint8Array | null
        const size = entrySize(key, value)
        if ((bytes + size > maxBytes || muts.length >= maxLength) && muts.length > 0) {
          // The chunk ends at the last mutation looked at, taken or not in the view.
          if (i > start) seq = all[i - 4] as number
          this.#offset = i
          this.#seq = seq
          return { from, to: seq, muts }
        }
        muts.push(all[i]!, all[i + 1]!, key, value)
        bytes += size
      }
      if (batch.to > seq) seq = batch.to
      this.#batches[this.#index] = undefined
    }
    this.#seq = seq
    return { from, to: seq, muts }
  }
}
