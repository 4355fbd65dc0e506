import { describe, expect, it } from 'vitest'
import { entrySize, type MutationChunk, MutationChunker } from '../src/hub/mutation-chunker.js'
import type { CommittedBatch } from '../src/hub/mutation-log.js'
import { MutationKind } from '../src/protocol/messages.js'

/** A batch of puts `from < seq <= to` of 10-byte values, on keys `k<seq>` (or as `keyOf` says). */
function batch(from: number, to: number, keyOf = (seq: number) => `k${seq}`): CommittedBatch {
  const muts: (number | string | Uint8Array | null)[] = []
  for (let s = from + 1; s <= to; s++) muts.push(s, MutationKind.PUT, keyOf(s), new Uint8Array(10))
  return { from, to, muts, bytes: 10 * (to - from) }
}

function drain(chunker: MutationChunker, maxEntries: number, maxBytes: number): MutationChunk[] {
  const chunks: MutationChunk[] = []
  while (!chunker.done) chunks.push(chunker.next(maxEntries, maxBytes))
  return chunks
}

const seqsOf = (chunk: MutationChunk) => chunk.muts.filter((_, i) => i % 4 === 0)

describe('MutationChunker (S2.7, S6.3)', () => {
  it('S6.3 cuts consecutive batches into chunks of at most maxEntries that cover every seq once, in order', () => {
    const chunks = drain(new MutationChunker([batch(0, 3), batch(3, 5), batch(5, 9)], 0, ''), 4, 1e9)
    expect(chunks.map((c) => [c.from, c.to])).toEqual([
      [0, 4],
      [4, 8],
      [8, 9],
    ])
    expect(chunks.flatMap(seqsOf)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('S2.7 bounds a chunk in bytes too, yet always takes one mutation', () => {
    const size = entrySize('k1', new Uint8Array(10))
    const chunks = drain(new MutationChunker([batch(0, 5)], 0, ''), 100, 2 * size)
    expect(chunks.map(seqsOf)).toEqual([[1, 2], [3, 4], [5]])
    const tiny = drain(new MutationChunker([batch(0, 2)], 0, ''), 100, 1)
    expect(tiny.map(seqsOf)).toEqual([[1], [2]])
  })

  it('S6.3 starts after fromSeq, inside the first batch when it falls there', () => {
    const chunks = drain(new MutationChunker([batch(0, 4), batch(4, 6)], 2, ''), 100, 1e9)
    expect(chunks).toHaveLength(1)
    expect(chunks[0]!.from).toBe(2)
    expect(chunks[0]!.to).toBe(6)
    expect(seqsOf(chunks[0]!)).toEqual([3, 4, 5, 6])
  })

  it('S2.6 takes only the mutations of a prefix view (and clears), while its chunks still cover every seq', () => {
    const mixed = batch(0, 6, (seq) => (seq % 2 === 0 ? `a/${seq}` : `b/${seq}`))
    const clear: CommittedBatch = { from: 6, to: 7, muts: [7, MutationKind.CLEAR, '', null], bytes: 0 }
    const chunks = drain(new MutationChunker([mixed, clear, batch(7, 9, (s) => `b/${s}`)], 0, 'a/'), 2, 1e9)
    // Out-of-view seqs advance the chunk, in-view ones fill it: the first stops before a/6.
    expect(chunks.map((c) => [c.from, c.to])).toEqual([
      [0, 5],
      [5, 9],
    ])
    expect(chunks.map(seqsOf)).toEqual([
      [2, 4],
      [6, 7],
    ])
  })

  it('S6.3 never merges batches across a gap in seq: the chunk after it starts where the batch does', () => {
    const chunks = drain(new MutationChunker([batch(0, 2), batch(5, 7)], 0, ''), 100, 1e9)
    expect(chunks.map((c) => [c.from, c.to])).toEqual([
      [0, 2],
      [5, 7],
    ])
  })

  it('S6.3 is done at once with no batches, and lets go of each batch once it is taken whole', () => {
    expect(new MutationChunker([], 4, '').done).toBe(true)
    const batches: (CommittedBatch | undefined)[] = [batch(0, 2), batch(2, 4)]
    const chunker = new MutationChunker(batches, 0, '')
    chunker.next(3, 1e9)
    expect(batches[0]).toBeUndefined()
    expect(batches[1]).toBeDefined()
    chunker.next(3, 1e9)
    expect(batches[1]).toBeUndefined()
    expect(chunker.done).toBe(true)
  })
})
