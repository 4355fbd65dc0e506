import { isConcordError } from '@concord/schema/contract'
import { describe, expect, it } from 'vitest'
import { AbortedError, ClosedError, PersistenceError } from '../src/errors.js'
import { memoryPersistence } from '../src/memory/index.js'
import type { CommitOp, OpenBackendOptions, StoreBackend } from '../src/ports/persistence.js'
import { manualClock } from '../src/util/manual-clock.js'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value)
const opts = (fingerprint = 'fp-1', compatible = (_: string) => false): OpenBackendOptions => ({
  fingerprint,
  compatible,
})
const put = (key: string, value: string, seq: number, deadline?: number): CommitOp => ({
  kind: 'put',
  key,
  value: bytes(value),
  seq,
  deadline,
})

/** Every committed key with its decoded value. */
function contents(backend: StoreBackend): Record<string, string> {
  const out: Record<string, string> = {}
  const cursor = backend.snapshot('')
  for (let batch = cursor.next(100, Infinity); batch.length > 0; batch = cursor.next(100, Infinity)) {
    for (const [key, entry] of batch) out[key] = text(entry.value)!
  }
  cursor.close()
  return out
}

describe('memoryPersistence', () => {
  it('declares its capabilities', () => {
    expect(memoryPersistence().capabilities).toEqual({
      name: 'memory',
      durable: false,
      crashable: true,
      largerThanMemory: false,
    })
  })

  it('creates a store on first open with empty recovered state and records the fingerprint', async () => {
    const persistence = memoryPersistence()
    const backend = await persistence.open('users', opts('fp-a'))
    expect(backend.recovered).toEqual({ epochs: [], lastSeq: 0 })
    expect(backend.size()).toBe(0)
    expect(backend.get('x')).toBeUndefined()
    expect(persistence.inspect('users')?.fingerprint).toBe('fp-a')
  })

  it('applies put, remove and clear in order, records lastSeq, and a new open recovers it', async () => {
    const persistence = memoryPersistence()
    const backend = await persistence.open('s', opts())
    await backend.commit([put('a', '1', 1), put('b', '2', 2, 5000), put('c', '3', 3)])
    expect(backend.size()).toBe(3)
    expect(backend.get('b')).toEqual({ value: bytes('2'), seq: 2, deadline: 5000 })
    await backend.commit([{ kind: 'remove', key: 'a', seq: 4 }, put('c', '33', 5)])
    expect(contents(backend)).toEqual({ b: '2', c: '33' })
    expect(backend.get('c')?.seq).toBe(5)
    await backend.commit([{ kind: 'clear', seq: 6 }, put('z', '26', 7)])
    expect(contents(backend)).toEqual({ z: '26' })
    await backend.close()

    const again = await persistence.open('s', opts())
    expect(again.recovered.lastSeq).toBe(7)
    expect(contents(again)).toEqual({ z: '26' })
  })

  it('copies values when commit is called, so the caller may reuse its buffer', async () => {
    const backend = await memoryPersistence().open('s', opts())
    const buffer = bytes('abc')
    const done = backend.commit([{ kind: 'put', key: 'k', value: buffer, seq: 1, deadline: undefined }])
    buffer.fill(0)
    await done
    expect(text(backend.get('k')?.value)).toBe('abc')
  })

  it('commit is asynchronous: nothing is visible before it resolves', async () => {
    const backend = await memoryPersistence().open('s', opts())
    const done = backend.commit([put('k', 'v', 1)])
    expect(backend.get('k')).toBeUndefined()
    await done
    expect(text(backend.get('k')?.value)).toBe('v')
  })

  it('commitLatency holds commits on the clock', async () => {
    const clock = manualClock()
    const backend = await memoryPersistence({ clock, commitLatency: 10 }).open('s', opts())
    let resolved = false
    const done = backend.commit([put('k', 'v', 1)]).then(() => {
      resolved = true
    })
    clock.advance(9)
    await new Promise((r) => setImmediate(r))
    expect(resolved).toBe(false)
    expect(backend.get('k')).toBeUndefined()
    clock.advance(1)
    await done
    expect(text(backend.get('k')?.value)).toBe('v')
  })

  it('tracks deadlines: set by a put, cleared by a put without one and by remove', async () => {
    const backend = await memoryPersistence().open('s', opts())
    await backend.commit([put('a', '1', 1, 100), put('b', '2', 2, 200), put('c', '3', 3)])
    expect(new Map(backend.deadlines())).toEqual(
      new Map([
        ['a', 100],
        ['b', 200],
      ]),
    )
    await backend.commit([put('a', '1', 4), { kind: 'remove', key: 'b', seq: 5 }, put('c', '3', 6, 300)])
    expect([...backend.deadlines()]).toEqual([['c', 300]])
  })

  it('rejects a batch whose seqs do not increase, applying none of it (RangeError: a caller bug)', async () => {
    const backend = await memoryPersistence().open('s', opts())
    await backend.commit([put('a', '1', 1)])
    await expect(backend.commit([put('b', '2', 3), put('c', '3', 2)])).rejects.toThrow(RangeError)
    await expect(backend.commit([put('b', '2', 1)])).rejects.toThrow(RangeError)
    expect(contents(backend)).toEqual({ a: '1' })
  })

  describe('failCommits (S3.3)', () => {
    it('the next n commits reject with PersistenceError and apply nothing', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts())
      await backend.commit([put('a', '1', 1)])
      persistence.failCommits(2)
      await expect(
        backend.commit([put('b', '2', 2), { kind: 'remove', key: 'a', seq: 3 }]),
      ).rejects.toBeInstanceOf(PersistenceError)
      await expect(backend.commit([{ kind: 'clear', seq: 2 }])).rejects.toBeInstanceOf(PersistenceError)
      expect(contents(backend)).toEqual({ a: '1' })
      expect(persistence.inspect('s')?.lastSeq).toBe(1)
      // The third one goes through, with the seq that follows the last committed one.
      await backend.commit([put('b', '2', 2)])
      expect(contents(backend)).toEqual({ a: '1', b: '2' })
    })

    it('a predicate fails the commits it selects until failCommits(0)', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts())
      persistence.failCommits((store, ops) => store === 's' && ops.some((op) => op.kind === 'clear'))
      await backend.commit([put('a', '1', 1)])
      await expect(backend.commit([{ kind: 'clear', seq: 2 }])).rejects.toBeInstanceOf(PersistenceError)
      await backend.commit([put('b', '2', 2)])
      persistence.failCommits(0)
      await backend.commit([{ kind: 'clear', seq: 3 }])
      expect(backend.size()).toBe(0)
    })
  })

  describe('failReads (S9.2)', () => {
    it('the next n reads (get, a cursor step, deadlines) throw PersistenceError; the data stays', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts())
      await backend.commit([put('a', '1', 1, 50)])
      const cursor = backend.snapshot('')
      persistence.failReads(3)
      expect(() => backend.get('a')).toThrow(PersistenceError)
      expect(() => cursor.next(10, Infinity)).toThrow(PersistenceError)
      expect(() => backend.deadlines()).toThrow(/reading store 's' failed/)
      expect(text(backend.get('a')?.value)).toBe('1')
      expect(cursor.next(10, Infinity)).toHaveLength(1)
      expect([...backend.deadlines()]).toEqual([['a', 50]])
      expect(() => persistence.failReads(-1)).toThrow(RangeError)
    })

    it('a predicate fails the reads it selects until failReads(0)', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts())
      await backend.commit([put('a', '1', 1), put('b', '2', 2)])
      persistence.failReads((store, read, key) => store === 's' && read === 'get' && key === 'b')
      expect(text(backend.get('a')?.value)).toBe('1')
      expect(() => backend.get('b')).toThrow(PersistenceError)
      expect(contents(backend)).toEqual({ a: '1', b: '2' })
      persistence.failReads(0)
      expect(text(backend.get('b')?.value)).toBe('2')
    })
  })

  describe('crash()', () => {
    it('loses exactly the commits not yet applied, keeps committed data, and kills open backends', async () => {
      const clock = manualClock()
      const persistence = memoryPersistence({ clock, commitLatency: 5 })
      const backend = await persistence.open('s', opts())
      const first = backend.commit([put('a', '1', 1)])
      clock.advance(5)
      await first
      const lost = backend.commit([put('b', '2', 2)])
      persistence.crash()
      await expect(lost).rejects.toBeInstanceOf(PersistenceError)
      await expect(lost).rejects.toThrow(/crashed/)
      clock.advance(100)

      expect(() => backend.get('a')).toThrow(PersistenceError)
      expect(() => backend.size()).toThrow(PersistenceError)
      expect(() => backend.snapshot('')).toThrow(PersistenceError)
      await expect(backend.commit([put('c', '3', 2)])).rejects.toBeInstanceOf(PersistenceError)
      await expect(backend.beginEpoch({ epoch: 'e', startSeq: 1, at: 0 })).rejects.toBeInstanceOf(
        PersistenceError,
      )
      await expect(backend.close()).resolves.toBeUndefined()

      const restarted = await persistence.open('s', opts())
      expect(restarted.recovered.lastSeq).toBe(1)
      expect(contents(restarted)).toEqual({ a: '1' })
    })

    it('also loses a zero-latency commit still waiting for its turn', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts())
      const lost = backend.commit([put('a', '1', 1)])
      persistence.crash()
      await expect(lost).rejects.toBeInstanceOf(PersistenceError)
      const restarted = await persistence.open('s', opts())
      expect(restarted.recovered.lastSeq).toBe(0)
      expect(restarted.size()).toBe(0)
    })

    it('kills a cursor of a crashed backend', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts())
      await backend.commit([put('a', '1', 1)])
      const cursor = backend.snapshot('')
      persistence.crash()
      expect(() => cursor.next(1, 100)).toThrow(PersistenceError)
    })
  })

  describe('fingerprints (S9.2)', () => {
    it('an incompatible fingerprint rejects naming both and changes nothing', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts('old-fp'))
      await backend.commit([put('a', '1', 1)])
      await backend.close()
      const seen: string[] = []
      const error = await persistence
        .open('s', {
          fingerprint: 'new-fp',
          compatible: (stored) => {
            seen.push(stored)
            return false
          },
        })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PersistenceError)
      expect(isConcordError(error, 'ERR_PERSISTENCE')).toBe(true)
      expect((error as Error).message).toContain('old-fp')
      expect((error as Error).message).toContain('new-fp')
      expect(seen).toEqual(['old-fp'])
      const dump = persistence.inspect('s')
      expect(dump?.fingerprint).toBe('old-fp')
      expect(dump?.lastSeq).toBe(1)
      expect(text(dump?.entries.get('a')?.value)).toBe('1')
    })

    it('a compatible fingerprint opens the data and records the new fingerprint', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts('v1'))
      await backend.commit([put('a', '1', 1)])
      const next = await persistence.open(
        's',
        opts('v2', (stored) => stored === 'v1'),
      )
      expect(next.recovered.lastSeq).toBe(1)
      expect(text(next.get('a')?.value)).toBe('1')
      expect(persistence.inspect('s')?.fingerprint).toBe('v2')
    })

    it('a corrupt store fails open with PersistenceError and is not overwritten', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts())
      await backend.commit([put('a', '1', 1)])
      await backend.close()
      persistence.corrupt('s', 'bad page 3')
      await expect(persistence.open('s', opts())).rejects.toThrow(/corrupt store 's': bad page 3/)
      await expect(persistence.open('s', opts())).rejects.toBeInstanceOf(PersistenceError)
      expect(persistence.inspect('s')?.lastSeq).toBe(1)
      persistence.corrupt('never-opened')
      await expect(persistence.open('never-opened', opts())).rejects.toBeInstanceOf(PersistenceError)
    })
  })

  describe('snapshot cursor', () => {
    async function filled(): Promise<StoreBackend> {
      const backend = await memoryPersistence().open('s', opts())
      await backend.commit([
        put('a/1', 'x', 1),
        put('a/2', 'yy', 2),
        put('a/3', 'zzz', 3),
        put('b/1', 'w', 4),
        put('a/4', 'vvvv', 5),
      ])
      return backend
    }

    it('returns the prefixed keys in key order, in batches bounded by count, then []', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('a/')
      expect(cursor.next(2, Infinity).map(([k]) => k)).toEqual(['a/1', 'a/2'])
      expect(cursor.next(2, Infinity).map(([k]) => k)).toEqual(['a/3', 'a/4'])
      expect(cursor.next(2, Infinity)).toEqual([])
      expect(cursor.next(2, Infinity)).toEqual([])
    })

    it('stays within maxBytes but always returns at least one entry', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('a/')
      // x (1) + yy (2) = 3 <= 3; adding zzz would exceed.
      expect(cursor.next(10, 3).map(([k]) => k)).toEqual(['a/1', 'a/2'])
      // zzz alone is 3; vvvv alone exceeds 1 but one entry always comes.
      expect(cursor.next(10, 1).map(([k]) => k)).toEqual(['a/3'])
      expect(cursor.next(10, 1).map(([k]) => k)).toEqual(['a/4'])
      expect(cursor.next(10, 1)).toEqual([])
    })

    it('freezes the key list: skips keys removed since, reads current values, ignores keys added', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('')
      expect(cursor.next(1, Infinity).map(([k]) => k)).toEqual(['a/1'])
      await backend.commit([
        { kind: 'remove', key: 'a/2', seq: 6 },
        put('a/3', 'new', 7),
        put('a/0', 'added-before', 8),
        put('c/9', 'added-after', 9),
        { kind: 'remove', key: 'a/1', seq: 10 },
      ])
      const rest = [...cursor.next(100, Infinity)]
      expect(rest.map(([k, e]) => [k, text(e.value), e.seq])).toEqual([
        ['a/3', 'new', 7],
        ['a/4', 'vvvv', 5],
        ['b/1', 'w', 4],
      ])
      expect(cursor.next(100, Infinity)).toEqual([])
    })

    it('never returns a key twice under concurrent commits', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('')
      const keys: string[] = []
      let seq = 6
      for (let batch = cursor.next(1, Infinity); batch.length > 0; batch = cursor.next(1, Infinity)) {
        for (const [key] of batch) keys.push(key)
        // Rewrite and re-add every key the cursor already returned.
        await backend.commit(keys.map((k) => put(k, 'again', seq++)))
      }
      expect(keys).toEqual(['a/1', 'a/2', 'a/3', 'a/4', 'b/1'])
    })

    it('rejects bad limits, and close() stops it (also when the backend closes)', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('')
      expect(() => cursor.next(0, 10)).toThrow(RangeError)
      cursor.close()
      cursor.close()
      expect(() => cursor.next(1, 10)).toThrow(ClosedError)
      const other = backend.snapshot('')
      await backend.close()
      expect(() => other.next(1, 10)).toThrow(ClosedError)
    })
  })

  it('beginEpoch appends to the epoch history, recovered oldest first', async () => {
    const persistence = memoryPersistence()
    const first = await persistence.open('s', opts())
    await first.beginEpoch({ epoch: 'e1', startSeq: 0, at: 10 })
    await first.commit([put('a', '1', 1), put('b', '2', 2)])
    await first.close()
    const second = await persistence.open('s', opts())
    expect(second.recovered.epochs).toEqual([{ epoch: 'e1', startSeq: 0, at: 10 }])
    await second.beginEpoch({ epoch: 'e2', startSeq: 2, at: 20 })
    const third = await persistence.open('s', opts())
    expect(third.recovered).toEqual({
      epochs: [
        { epoch: 'e1', startSeq: 0, at: 10 },
        { epoch: 'e2', startSeq: 2, at: 20 },
      ],
      lastSeq: 2,
    })
  })

  it('keeps stores apart', async () => {
    const persistence = memoryPersistence()
    const a = await persistence.open('a', opts())
    const b = await persistence.open('b', opts())
    await a.commit([put('k', 'in-a', 1)])
    expect(b.get('k')).toBeUndefined()
    expect(persistence.stores().sort()).toEqual(['a', 'b'])
  })

  describe('close', () => {
    it('backend close lets an accepted commit finish, then refuses calls; idempotent', async () => {
      const clock = manualClock()
      const persistence = memoryPersistence({ clock, commitLatency: 10 })
      const backend = await persistence.open('s', opts())
      const commit = backend.commit([put('a', '1', 1)])
      let closed = false
      const closing = backend.close().then(() => {
        closed = true
      })
      await expect(backend.commit([put('b', '2', 2)])).rejects.toBeInstanceOf(ClosedError)
      await new Promise((r) => setImmediate(r))
      expect(closed).toBe(false)
      clock.advance(10)
      await commit
      await closing
      await backend.close()
      expect(() => backend.get('a')).toThrow(ClosedError)
      expect(persistence.inspect('s')?.lastSeq).toBe(1)
    })

    it('persistence close closes every backend and then refuses open; idempotent', async () => {
      const persistence = memoryPersistence()
      const backend = await persistence.open('s', opts())
      await persistence.close()
      await persistence.close()
      expect(() => backend.size()).toThrow(ClosedError)
      await expect(persistence.open('s', opts())).rejects.toBeInstanceOf(ClosedError)
    })
  })

  it('open honours an aborted signal and validates its arguments', async () => {
    const persistence = memoryPersistence()
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await expect(persistence.open('s', { ...opts(), signal: controller.signal })).rejects.toBeInstanceOf(
      AbortedError,
    )
    expect(persistence.inspect('s')).toBeUndefined()
    await expect(persistence.open('', opts())).rejects.toThrow(TypeError)
  })
})
