import { existsSync } from 'node:fs'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AbortedError, ClosedError, isConcordError, PersistenceError, type StoreBackend } from '@concord/core'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { type LmdbPersistence, type LmdbStoreBackend, lmdbPersistence } from '../src/index.js'
import { bytes, contents, opts, put, text, useScratch } from './helpers.js'

const scratch = useScratch()

async function fresh(init: { durability?: 'sync' | 'relaxed' } = {}) {
  const path = await scratch.dir()
  const persistence = scratch.persistence({ path, ...init })
  return { path, persistence, backend: await persistence.open('s', opts()) }
}

/** Reopens `store` of `path` through a new persistence, as a restarted process would. */
async function reopen(path: string, store = 's', fingerprint = 'fp-1'): Promise<StoreBackend> {
  return scratch.persistence({ path }).open(store, opts(fingerprint))
}

describe('lmdbPersistence', () => {
  it('declares its capabilities and does no I/O when constructed', async () => {
    const path = join(await scratch.dir(), 'not-yet')
    const persistence = lmdbPersistence({ path })
    expect(persistence.capabilities).toEqual({
      name: 'lmdb',
      durable: true,
      crashable: false,
      largerThanMemory: true,
    })
    expect(existsSync(path)).toBe(false)
    expect(persistence.durability).toBe('sync')
    await persistence.close()
    expect(existsSync(path)).toBe(false)
  })

  it('validates its options (plain TypeError/RangeError: caller bugs)', () => {
    expect(() => lmdbPersistence({} as never)).toThrow(TypeError)
    expect(() => lmdbPersistence({ path: 'x', durability: 'fast' as never })).toThrow(RangeError)
    expect(() => lmdbPersistence({ path: 'x', pageSize: 1000 })).toThrow(RangeError)
    expect(() => lmdbPersistence({ path: 'x', mapSize: 10 })).toThrow(RangeError)
    expect(() => lmdbPersistence({ path: 'x', maxReaders: 0 })).toThrow(RangeError)
    expect(() => lmdbPersistence({ path: 'x', syncInterval: -1 })).toThrow(RangeError)
  })

  it('has a typed factory', () => {
    expectTypeOf(lmdbPersistence).returns.toEqualTypeOf<LmdbPersistence>()
    expectTypeOf<LmdbPersistence['open']>().returns.resolves.toEqualTypeOf<StoreBackend>()
  })

  it('creates one file per store, and a lock while open', async () => {
    const { path, persistence, backend } = await fresh()
    await persistence.open('Other store/ü', opts())
    expect((await readdir(path)).sort()).toEqual([
      '%4Fther%20store%2F%C3%BC.hub-lock',
      '%4Fther%20store%2F%C3%BC.mdb',
      '%4Fther%20store%2F%C3%BC.mdb-lock',
      's.hub-lock',
      's.mdb',
      's.mdb-lock',
    ])
    expect((backend as LmdbStoreBackend).path).toBe(join(path, 's.mdb'))
    await persistence.close()
    expect((await readdir(path)).filter((f) => f.endsWith('.hub-lock'))).toEqual([])
  })

  it('builds a new store under a temporary name: what a crash while creating left is replaced', async () => {
    const path = await scratch.dir()
    // A crash while creating: the temporary file half written, its LMDB reader table too.
    await writeFile(join(path, 's.mdb.creating'), Buffer.alloc(5000, 0x5a))
    await writeFile(join(path, 's.mdb.creating-lock'), 'x')
    const persistence = scratch.persistence({ path })
    const backend = await persistence.open('s', opts())
    expect(backend.recovered).toEqual({ epochs: [], lastSeq: 0 })
    await backend.commit([put('a', '1', 1)])
    await persistence.close()
    expect((await readdir(path)).sort()).toEqual(['s.mdb', 's.mdb-lock'])
    const again = await scratch.persistence({ path }).open('s', opts())
    expect(text(again.get('a')?.value)).toBe('1')
  })

  it('applies puts, removes and clears; a new persistence over the folder recovers them', async () => {
    const { path, persistence, backend } = await fresh()
    expect(backend.recovered).toEqual({ epochs: [], lastSeq: 0 })
    await backend.commit([put('a', '1', 1), put('b', '2', 2, 5000), put('c', '3', 3)])
    expect(backend.size()).toBe(3)
    expect(backend.get('b')).toEqual({ value: bytes('2'), seq: 2, deadline: 5000 })
    await backend.commit([{ kind: 'remove', key: 'a', seq: 4 }, put('c', '33', 5)])
    expect(contents(backend)).toEqual({ b: '2', c: '33' })
    expect(backend.get('c')?.seq).toBe(5)
    expect(backend.get('a')).toBeUndefined()
    await backend.commit([{ kind: 'clear', seq: 6 }, put('z', '26', 7, 9000), put('y', '25', 8)])
    await persistence.close()

    const again = await reopen(path)
    expect(again.recovered.lastSeq).toBe(8)
    expect(contents(again)).toEqual({ y: '25', z: '26' })
    expect(again.get('z')).toEqual({ value: bytes('26'), seq: 7, deadline: 9000 })
    expect(again.get('y')).toEqual({ value: bytes('25'), seq: 8, deadline: undefined })
    expect(again.size()).toBe(2)
    expect([...again.deadlines()]).toEqual([['z', 9000]])
    // Seq numbering continues from the recovered last seq.
    await expect(again.commit([put('x', '24', 8)])).rejects.toThrow(RangeError)
    await again.commit([put('x', '24', 9)])
    expect(again.get('x')?.seq).toBe(9)
  })

  it('recovers the epoch history oldest first, and the last seq', async () => {
    const { path, persistence, backend } = await fresh()
    await backend.beginEpoch({ epoch: 'e1', startSeq: 0, at: 10 })
    await backend.commit([put('a', '1', 1), put('b', '2', 2)])
    await persistence.close()
    const second = await reopen(path)
    expect(second.recovered.epochs).toEqual([{ epoch: 'e1', startSeq: 0, at: 10 }])
    await second.beginEpoch({ epoch: 'e2', startSeq: 2, at: 20 })
    await second.close()
    const third = await reopen(path)
    expect(third.recovered).toEqual({
      epochs: [
        { epoch: 'e1', startSeq: 0, at: 10 },
        { epoch: 'e2', startSeq: 2, at: 20 },
      ],
      lastSeq: 2,
    })
    await expect(third.beginEpoch({ epoch: 3 } as never)).rejects.toThrow(TypeError)
  })

  it('copies values when commit is called, so the caller may reuse its buffer', async () => {
    const { backend } = await fresh()
    const buffer = bytes('abc')
    const done = backend.commit([{ kind: 'put', key: 'k', value: buffer, seq: 1, deadline: undefined }])
    buffer.fill(0)
    await done
    expect(text(backend.get('k')?.value)).toBe('abc')
    // Returned entries are the caller's: changing one changes nothing stored.
    backend.get('k')!.value.fill(0)
    expect(text(backend.get('k')?.value)).toBe('abc')
  })

  it('stores any string key: empty, unicode, and keys longer than LMDB allows', async () => {
    const { path, persistence, backend } = await fresh()
    const long = `p/${'x'.repeat(3000)}`
    const longer = `${long}y`
    const keys = ['', '\u0000', 'ä', '😀', 'a'.repeat(1024), long, longer]
    await backend.commit(keys.map((k, i) => put(k, `v${i}`, i + 1, i === 5 ? 77 : undefined)))
    for (const [i, k] of keys.entries()) expect(text(backend.get(k)?.value)).toBe(`v${i}`)
    expect(backend.get(`${long}z`)).toBeUndefined()
    expect(backend.get('\uD800')).toBeUndefined()
    expect(backend.size()).toBe(keys.length)
    expect(Object.keys(contents(backend)).sort()).toEqual([...keys].sort())
    // Keys past 1024 bytes sort by their hash after the first 1024 bytes.
    expect(
      backend
        .snapshot(long)
        .next(10, Infinity)
        .map(([k]) => k)
        .sort(),
    ).toEqual([long, longer])
    expect(backend.snapshot('p/').next(10, Infinity)).toHaveLength(2)
    expect(
      backend
        .snapshot(longer)
        .next(10, Infinity)
        .map(([k]) => k),
    ).toEqual([longer])
    expect([...backend.deadlines()]).toEqual([[long, 77]])
    await backend.commit([{ kind: 'remove', key: long, seq: 8 }])
    expect(backend.get(long)).toBeUndefined()
    expect([...backend.deadlines()]).toEqual([])
    await expect(backend.commit([put('\uDC00', 'x', 9)])).rejects.toThrow(TypeError)
    await persistence.close()
    expect(text((await reopen(path)).get(longer)?.value)).toBe('v6')
  })

  it('tracks deadlines: set by a put, cleared by a put without one, by remove and by clear', async () => {
    const { path, persistence, backend } = await fresh()
    await backend.commit([put('a', '1', 1, 100), put('b', '2', 2, 200), put('c', '3', 3)])
    expect(new Map(backend.deadlines())).toEqual(
      new Map([
        ['a', 100],
        ['b', 200],
      ]),
    )
    await backend.commit([put('a', '1', 4), { kind: 'remove', key: 'b', seq: 5 }, put('c', '3', 6, 300)])
    expect([...backend.deadlines()]).toEqual([['c', 300]])
    await backend.commit([put('d', '4', 7, 400), { kind: 'clear', seq: 8 }, put('e', '5', 9, 500)])
    expect([...backend.deadlines()]).toEqual([['e', 500]])
    await persistence.close()
    expect([...(await reopen(path)).deadlines()]).toEqual([['e', 500]])
  })

  it('deadlines() reads lazily in chunks: iterable twice, safe across commits', async () => {
    const { backend } = await fresh()
    const n = 3000
    await backend.commit(
      Array.from({ length: n }, (_, i) => put(`k${String(i).padStart(5, '0')}`, 'v', i + 1, 1000 + i)),
    )
    const all = [...backend.deadlines()]
    expect(all).toHaveLength(n)
    expect([...backend.deadlines()]).toEqual(all)
    // Commit while iterating: keys present throughout come exactly once.
    const seen = new Map<string, number>()
    let seq = n
    for (const [key, deadline] of backend.deadlines()) {
      expect(seen.has(key)).toBe(false)
      seen.set(key, deadline)
      if (seen.size % 1000 === 0) {
        await backend.commit([
          put(`k${String(seen.size + 10).padStart(5, '0')}`, 'w', ++seq, 5),
          put('zz', 'v', ++seq, 9),
        ])
      }
    }
    expect(seen.size).toBeGreaterThanOrEqual(n)
    for (const [key] of all) expect(seen.has(key)).toBe(true)
  })

  it('rejects a batch whose seqs do not increase, applying none of it (RangeError: a caller bug)', async () => {
    const { backend } = await fresh()
    await backend.commit([put('a', '1', 1)])
    await expect(backend.commit([put('b', '2', 3), put('c', '3', 2)])).rejects.toThrow(RangeError)
    await expect(backend.commit([put('b', '2', 1)])).rejects.toThrow(RangeError)
    await expect(backend.commit([{ kind: 'bogus', seq: 5 } as never])).rejects.toThrow(TypeError)
    await expect(backend.commit([{ kind: 'put', key: 'x', value: 'no', seq: 5 } as never])).rejects.toThrow(
      TypeError,
    )
    expect(contents(backend)).toEqual({ a: '1' })
    await backend.commit([])
    await backend.commit([put('b', '2', 2)])
    expect(contents(backend)).toEqual({ a: '1', b: '2' })
  })

  it.each(['sync', 'relaxed'] as const)(
    '%s: commit is atomic: a failure inside the transaction applies nothing, and later commits work',
    async (durability) => {
      const { path, persistence, backend } = await fresh({ durability })
      await backend.commit([put('a', '1', 1, 10), put('b', '2', 2)])
      const env = (backend as LmdbStoreBackend).environment
      const original = env.entries.putSync
      let calls = 0
      env.entries.putSync = function (this: unknown, ...args: Parameters<typeof original>) {
        if (++calls === 3) throw new Error('disk on fire')
        return original.apply(this, args)
      } as typeof original
      const error = await backend
        .commit([
          { kind: 'remove', key: 'a', seq: 3 },
          { kind: 'clear', seq: 4 },
          put('c', '3', 5, 30),
          put('d', '4', 6),
          put('e', '5', 7),
        ])
        .catch((e: unknown) => e)
      env.entries.putSync = original
      expect(error).toBeInstanceOf(PersistenceError)
      expect(isConcordError(error, 'ERR_PERSISTENCE')).toBe(true)
      expect((error as Error).message).toMatch(/disk on fire/)
      expect(contents(backend)).toEqual({ a: '1', b: '2' })
      expect(backend.size()).toBe(2)
      expect([...backend.deadlines()]).toEqual([['a', 10]])
      // The seq of the failed batch is free again.
      await backend.commit([put('c', '3', 3)])
      await persistence.close()
      const again = await reopen(path)
      expect(again.recovered.lastSeq).toBe(3)
      expect(contents(again)).toEqual({ a: '1', b: '2', c: '3' })
    },
  )

  it('size() is a counter: overwrites, removes of absent keys and clears keep it exact', async () => {
    const { path, persistence, backend } = await fresh()
    expect(backend.size()).toBe(0)
    await backend.commit([
      put('a', '1', 1),
      put('a', '2', 2),
      { kind: 'remove', key: 'zz', seq: 3 },
      put('b', '', 4),
    ])
    expect(backend.size()).toBe(2)
    await backend.commit([
      { kind: 'clear', seq: 5 },
      { kind: 'clear', seq: 6 },
    ])
    expect(backend.size()).toBe(0)
    await backend.commit([put('a', '1', 7), { kind: 'remove', key: 'a', seq: 8 }, put('c', '1', 9)])
    expect(backend.size()).toBe(1)
    await persistence.close()
    expect((await reopen(path)).size()).toBe(1)
  })

  describe('snapshot cursor', () => {
    async function filled(): Promise<StoreBackend> {
      const { backend } = await fresh()
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
      expect(backend.snapshot('c').next(5, Infinity)).toEqual([])
    })

    it('stays within maxBytes but always returns at least one entry', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('a/')
      expect(cursor.next(10, 3).map(([k]) => k)).toEqual(['a/1', 'a/2'])
      expect(cursor.next(10, 1).map(([k]) => k)).toEqual(['a/3'])
      expect(cursor.next(10, 1).map(([k]) => k)).toEqual(['a/4'])
      expect(cursor.next(10, 1)).toEqual([])
    })

    it('reads current values: skips keys removed since, never repeats a key, sees rewrites', async () => {
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
      const rest = cursor.next(100, Infinity)
      // Keys added behind the position are not returned; keys added ahead of it may be.
      expect(rest.map(([k, e]) => [k, text(e.value), e.seq])).toEqual([
        ['a/3', 'new', 7],
        ['a/4', 'vvvv', 5],
        ['b/1', 'w', 4],
        ['c/9', 'added-after', 9],
      ])
      expect(cursor.next(100, Infinity)).toEqual([])
    })

    it('never returns a key twice, and misses no key present throughout, under concurrent commits', async () => {
      const { backend } = await fresh()
      const n = 300
      await backend.commit(
        Array.from({ length: n }, (_, i) => put(`k${String(i).padStart(4, '0')}`, 'v', i + 1)),
      )
      const cursor = backend.snapshot('k')
      const keys: string[] = []
      let seq = n
      for (let batch = cursor.next(7, 64); batch.length > 0; batch = cursor.next(7, 64)) {
        for (const [key] of batch) keys.push(key)
        // Rewrite what was returned, remove and re-add keys behind the position, add keys ahead.
        const last = keys.at(-1)!
        await backend.commit([
          ...batch.map(([k]) => put(k, 'again', ++seq)),
          { kind: 'remove', key: keys[0]!, seq: ++seq },
          put(keys[0]!, 'back', ++seq),
          put(`${last}+`, 'ahead', ++seq),
        ])
      }
      expect(new Set(keys).size).toBe(keys.length)
      for (let i = 0; i < n; i++) expect(keys).toContain(`k${String(i).padStart(4, '0')}`)
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

  it('keeps stores apart', async () => {
    const { persistence, backend: a } = await fresh()
    const b = await persistence.open('b', opts())
    await a.commit([put('k', 'in-a', 1)])
    expect(b.get('k')).toBeUndefined()
    expect(b.size()).toBe(0)
  })

  describe('close', () => {
    it('backend close lets an accepted commit finish, then refuses calls; idempotent', async () => {
      const { path, backend } = await fresh()
      const commit = backend.commit([put('a', '1', 1)])
      const closing = backend.close()
      await expect(backend.commit([put('b', '2', 2)])).rejects.toBeInstanceOf(ClosedError)
      await expect(backend.beginEpoch({ epoch: 'e', startSeq: 0, at: 0 })).rejects.toBeInstanceOf(ClosedError)
      await commit
      await closing
      await backend.close()
      expect(() => backend.get('a')).toThrow(ClosedError)
      expect(() => backend.size()).toThrow(ClosedError)
      expect(() => backend.deadlines()).toThrow(ClosedError)
      expect(() => backend.snapshot('')).toThrow(ClosedError)
      expect((await reopen(path)).recovered.lastSeq).toBe(1)
    })

    it('persistence close closes every backend and then refuses open; idempotent', async () => {
      const { persistence, backend } = await fresh()
      await persistence.close()
      await persistence.close()
      expect(() => backend.size()).toThrow(ClosedError)
      await expect(persistence.open('s', opts())).rejects.toBeInstanceOf(ClosedError)
    })

    it('close while an open is in flight: the open rejects with ClosedError and leaves nothing open', async () => {
      const path = await scratch.dir()
      const persistence = scratch.persistence({ path })
      const opening = persistence.open('s', opts())
      const closing = persistence.close()
      await expect(opening).rejects.toBeInstanceOf(ClosedError)
      await closing
      // The lock was released: a new persistence opens the store.
      await reopen(path)
    })
  })

  it('open honours an aborted signal and validates its arguments', async () => {
    const path = await scratch.dir()
    const persistence = scratch.persistence({ path })
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await expect(persistence.open('s', { ...opts(), signal: controller.signal })).rejects.toBeInstanceOf(
      AbortedError,
    )
    expect(await readdir(path)).toEqual([])
    await expect(persistence.open('', opts())).rejects.toThrow(TypeError)
    await expect(persistence.open('s', {} as never)).rejects.toThrow(TypeError)
    // Aborted while the open is under way (lock taken, file open): everything is released.
    await (await persistence.open('s', opts('fp-1'))).close()
    const late = new AbortController()
    const compatible = () => {
      late.abort()
      return true
    }
    await expect(
      persistence.open('s', { fingerprint: 'fp-2', compatible, signal: late.signal }),
    ).rejects.toBeInstanceOf(AbortedError)
    await persistence.open('s', opts('fp-2'))
  })

  it.each(['sync', 'relaxed'] as const)(
    '%s durability: commits are recovered after a clean close',
    async (durability) => {
      const { path, persistence, backend } = await fresh({ durability })
      expect(persistence.durability).toBe(durability)
      for (let seq = 1; seq <= 50; seq++) await backend.commit([put(`k${seq}`, `v${seq}`, seq)])
      await persistence.close()
      const again = await reopen(path)
      expect(again.recovered.lastSeq).toBe(50)
      expect(again.size()).toBe(50)
    },
  )
})
