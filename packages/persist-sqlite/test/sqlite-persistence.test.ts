import { spawn } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { AbortedError, ClosedError, isConcordError, PersistenceError } from '@concord/core'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { APPLICATION_ID, FORMAT_VERSION, type SqliteStoreBackend, sqlitePersistence } from '../src/index.js'
import { bytes, contents, opts, put, snapshotFolder, tempDir, text } from './helpers.js'

/** Opens `store` in a fresh persistence over `dir`, as a restarted hub would. */
async function reopen(dir: string, store = 's', fingerprint = 'fp-1'): Promise<SqliteStoreBackend> {
  return sqlitePersistence({ path: dir }).open(store, opts(fingerprint))
}

/** The meta rows and application id of a closed store file, read with a plain connection. */
function rawMeta(file: string): { meta: Record<string, unknown>; applicationId: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const meta = Object.fromEntries(
      db.prepare('SELECT key, value FROM meta').raw().all() as [string, unknown][],
    )
    return { meta, applicationId: Number(db.pragma('application_id', { simple: true })) }
  } finally {
    db.close()
  }
}

/** Runs `sql` on a closed store file with a plain connection. */
function rawExec(file: string, sql: string): void {
  const db = new Database(file, { fileMustExist: true })
  try {
    db.exec(sql)
  } finally {
    db.close()
  }
}

describe('sqlitePersistence', () => {
  it('declares its capabilities', () => {
    expect(sqlitePersistence({ path: tempDir() }).capabilities).toEqual({
      name: 'sqlite',
      durable: true,
      crashable: false,
      largerThanMemory: true,
    })
  })

  it('does no I/O when constructed and checks its options', () => {
    const dir = join(tempDir(), 'not-yet')
    const persistence = sqlitePersistence({ path: dir, durability: 'relaxed' })
    expect(existsSync(dir)).toBe(false)
    expect(persistence.path).toBe(dir)
    expect(persistence.fileOf('kv')).toBe(join(dir, 'kv.sqlite'))
    expect(() => sqlitePersistence({} as never)).toThrow(TypeError)
    expect(() => sqlitePersistence({ path: dir, durability: 'fast' as never })).toThrow(TypeError)
    expect(() => sqlitePersistence({ path: dir, pragmas: { synchronous: 'OFF' } })).toThrow(TypeError)
    expect(() => sqlitePersistence({ path: dir, pragmas: { 'x; DROP': 1 } })).toThrow(TypeError)
    expect(() => sqlitePersistence({ path: dir, pragmas: { cache_size: '1; DROP' } })).toThrow(TypeError)
  })

  it('creates the folder and the store file on first open, with its meta', async () => {
    const dir = join(tempDir(), 'data')
    const persistence = sqlitePersistence({ path: dir })
    const backend = await persistence.open('users', opts('fp-a'))
    expect(backend.recovered).toEqual({ epochs: [], lastSeq: 0 })
    expect(backend.size()).toBe(0)
    expect(backend.get('x')).toBeUndefined()
    expect(backend.file).toBe(join(dir, 'users.sqlite'))
    await persistence.close()
    expect(readdirSync(dir).sort()).toEqual(['users.sqlite', 'users.sqlite.lock'])
    expect(rawMeta(backend.file)).toEqual({
      meta: { format: FORMAT_VERSION, store: 'users', fingerprint: 'fp-a', last_seq: 0, count: 0 },
      applicationId: APPLICATION_ID,
    })
  })

  it('applies put, remove and clear in order and a new persistence over the folder recovers everything', async () => {
    const dir = tempDir()
    const persistence = sqlitePersistence({ path: dir })
    const backend = await persistence.open('s', opts())
    await backend.beginEpoch({ epoch: 'e1', startSeq: 0, at: 1_000.5 })
    await backend.commit([put('a', '1', 1), put('b', '2', 2, 5_000), put('c', '3', 3)])
    expect(backend.size()).toBe(3)
    expect(backend.get('b')).toEqual({ value: bytes('2'), seq: 2, deadline: 5_000 })
    await backend.commit([{ kind: 'remove', key: 'a', seq: 4 }, put('c', '33', 5, 7_000.25)])
    expect(contents(backend)).toEqual({ b: '2', c: '33' })
    expect(backend.get('c')?.seq).toBe(5)
    await persistence.close()

    const again = await reopen(dir)
    expect(again.recovered).toEqual({ epochs: [{ epoch: 'e1', startSeq: 0, at: 1_000.5 }], lastSeq: 5 })
    expect(again.size()).toBe(2)
    expect(again.get('b')).toEqual({ value: bytes('2'), seq: 2, deadline: 5_000 })
    expect(again.get('c')).toEqual({ value: bytes('33'), seq: 5, deadline: 7_000.25 })
    expect(new Map(again.deadlines())).toEqual(
      new Map([
        ['b', 5_000],
        ['c', 7_000.25],
      ]),
    )
    await again.beginEpoch({ epoch: 'e2', startSeq: 5, at: 2_000 })
    await again.commit([{ kind: 'clear', seq: 6 }, put('z', '26', 7)])
    expect(contents(again)).toEqual({ z: '26' })
    expect(again.size()).toBe(1)
    expect([...again.deadlines()]).toEqual([])
    await again.close()

    const third = await reopen(dir)
    expect(third.recovered).toEqual({
      epochs: [
        { epoch: 'e1', startSeq: 0, at: 1_000.5 },
        { epoch: 'e2', startSeq: 5, at: 2_000 },
      ],
      lastSeq: 7,
    })
    expect(contents(third)).toEqual({ z: '26' })
    expect(third.get('z')?.seq).toBe(7)
    await third.close()
    expect(rawMeta(third.file).meta).toMatchObject({ last_seq: 7, count: 1 })
  })

  it('keeps size in step with the entries without counting them', async () => {
    const dir = tempDir()
    const backend = await reopen(dir)
    await backend.commit([put('a', '1', 1), put('b', '2', 2), put('a', 'again', 3)])
    expect(backend.size()).toBe(2)
    await backend.commit([
      { kind: 'remove', key: 'missing', seq: 4 },
      { kind: 'remove', key: 'b', seq: 5 },
    ])
    expect(backend.size()).toBe(1)
    await backend.commit([{ kind: 'clear', seq: 6 }, put('x', '1', 7), put('y', '2', 8), put('x', '3', 9)])
    expect(backend.size()).toBe(2)
    await backend.close()
    const db = new Database(backend.file, { readonly: true })
    expect(db.prepare('SELECT count(*) AS n FROM entries').get()).toEqual({ n: 2 })
    db.close()
    const again = await reopen(dir)
    expect(again.size()).toBe(2)
    await again.close()
  })

  it("applies a commit as one transaction when called, keeping no reference to the caller's bytes", async () => {
    const backend = await reopen(tempDir())
    const buffer = bytes('abc')
    const done = backend.commit([{ kind: 'put', key: 'k', value: buffer, seq: 1, deadline: undefined }])
    buffer.fill(0)
    await done
    expect(text(backend.get('k')?.value)).toBe('abc')
    expect(backend.get('k')?.value).toBeInstanceOf(Uint8Array)
    expect(backend.size()).toBe(1)
    await backend.close()
  })

  it('stores empty and large values as given', async () => {
    const dir = tempDir()
    const backend = await reopen(dir)
    const large = new Uint8Array(1024 * 1024).map((_, i) => i % 251)
    await backend.commit([
      { kind: 'put', key: 'empty', value: new Uint8Array(0), seq: 1, deadline: undefined },
      { kind: 'put', key: 'large', value: large, seq: 2, deadline: undefined },
      { kind: 'put', key: 'view', value: large.subarray(10, 13), seq: 3, deadline: undefined },
    ])
    await backend.close()
    const again = await reopen(dir)
    expect(again.get('empty')?.value).toEqual(new Uint8Array(0))
    expect(again.get('large')?.value).toEqual(large)
    expect(again.get('view')?.value).toEqual(new Uint8Array([10, 11, 12]))
    await again.close()
  })

  it('tracks deadlines: set by a put, cleared by a put without one and by remove', async () => {
    const backend = await reopen(tempDir())
    await backend.commit([put('a', '1', 1, 100), put('b', '2', 2, 200), put('c', '3', 3)])
    expect(new Map(backend.deadlines())).toEqual(
      new Map([
        ['a', 100],
        ['b', 200],
      ]),
    )
    await backend.commit([put('a', '1', 4), { kind: 'remove', key: 'b', seq: 5 }, put('c', '3', 6, 300)])
    expect([...backend.deadlines()]).toEqual([['c', 300]])
    await backend.close()
  })

  it('iterates many deadlines across pages, each once, without blocking commits', async () => {
    const backend = await reopen(tempDir())
    const n = 20_000
    const ops = Array.from({ length: n }, (_, i) => put(`k${i}`, 'v', i + 1, 1_000 + (i % 7)))
    await backend.commit(ops)
    const seen = new Map<string, number>()
    const iterator = backend.deadlines()[Symbol.iterator]()
    let step = iterator.next()
    let committed = false
    while (!step.done) {
      const [key, deadline] = step.value
      expect(seen.has(key)).toBe(false)
      seen.set(key, deadline)
      if (!committed && seen.size === 10_000) {
        // Mid-iteration: a commit still goes through.
        await backend.commit([put('late', 'v', n + 1)])
        committed = true
      }
      step = iterator.next()
    }
    expect(seen.size).toBe(n)
    expect(seen.get('k13')).toBe(1_006)
    await backend.close()
  })

  it('rejects a batch whose seqs do not increase and malformed ops, applying none of it', async () => {
    const backend = await reopen(tempDir())
    await backend.commit([put('a', '1', 1)])
    await expect(backend.commit([put('b', '2', 3), put('c', '3', 2)])).rejects.toThrow(RangeError)
    await expect(backend.commit([put('b', '2', 1)])).rejects.toThrow(RangeError)
    await expect(backend.commit([put('b', '2', 1.5)])).rejects.toThrow(RangeError)
    const bad = { kind: 'put', key: 'b', value: 'no', seq: 2, deadline: undefined } as never
    await expect(backend.commit([bad])).rejects.toThrow(TypeError)
    await expect(backend.commit([{ kind: 'nope', seq: 2 } as never])).rejects.toThrow(TypeError)
    await expect(backend.commit([put('b', '2', 2, Number.NaN)])).rejects.toThrow(TypeError)
    // Called back to back, both pass the first check; the second fails when applied.
    const first = backend.commit([put('b', '2', 2)])
    const second = backend.commit([put('c', '3', 2)])
    await first
    await expect(second).rejects.toThrow(RangeError)
    expect(contents(backend)).toEqual({ a: '1', b: '2' })
    await backend.close()
  })

  describe('failed commits apply nothing', () => {
    it('a failing op in the middle of a batch rolls the whole batch back', async () => {
      const dir = tempDir()
      const backend = await reopen(dir)
      await backend.commit([put('a', '1', 1)])
      await backend.close()
      rawExec(
        backend.file,
        "CREATE TRIGGER fail_boom BEFORE INSERT ON entries WHEN NEW.key = 'boom' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
      )
      const again = await reopen(dir)
      const error = await again
        .commit([
          put('b', '2', 2),
          { kind: 'remove', key: 'a', seq: 3 },
          put('boom', 'x', 4),
          put('c', '3', 5),
        ])
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PersistenceError)
      expect(isConcordError(error, 'ERR_PERSISTENCE')).toBe(true)
      expect((error as Error).message).toContain('injected failure')
      expect(contents(again)).toEqual({ a: '1' })
      expect(again.size()).toBe(1)
      // The seqs of the failed batch are free again.
      await again.commit([put('b', '2', 2)])
      await again.close()
      const third = await reopen(dir)
      expect(third.recovered.lastSeq).toBe(2)
      expect(contents(third)).toEqual({ a: '1', b: '2' })
      await third.close()
    })

    it('a full disk (SQLITE_FULL) fails the commit, and later commits that fit go through', async () => {
      const dir = tempDir()
      // max_page_count caps the file as a full disk would.
      const persistence = sqlitePersistence({ path: dir, pragmas: { max_page_count: 40 } })
      const backend = await persistence.open('s', opts())
      await backend.commit([put('a', '1', 1)])
      const big = 'x'.repeat(8_000)
      const ops = Array.from({ length: 40 }, (_, i) => put(`big${i}`, big, i + 2))
      const error = await backend.commit(ops).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PersistenceError)
      expect((error as Error).message).toMatch(/SQLITE_FULL/)
      expect(backend.size()).toBe(1)
      expect(backend.get('big0')).toBeUndefined()
      await backend.commit([put('b', '2', 2)])
      await persistence.close()
      const again = await reopen(dir)
      expect(again.recovered.lastSeq).toBe(2)
      expect(contents(again)).toEqual({ a: '1', b: '2' })
      await again.close()
    })
  })

  describe('snapshot cursor', () => {
    async function filled(): Promise<SqliteStoreBackend> {
      const backend = await reopen(tempDir())
      await backend.commit([
        put('a/1', 'x', 1),
        put('a/2', 'yy', 2),
        put('a/3', 'zzz', 3),
        put('b/1', 'w', 4),
        put('a/4', 'vvvv', 5, 99),
        put('a', 'prefix itself', 6),
      ])
      return backend
    }

    it('returns the prefixed keys in key order, in batches bounded by count, then [] for good', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('a/')
      expect(cursor.next(2, Infinity).map(([k]) => k)).toEqual(['a/1', 'a/2'])
      const [third, fourth] = cursor.next(2, Infinity)
      expect(third?.[0]).toBe('a/3')
      expect(fourth).toEqual(['a/4', { value: bytes('vvvv'), seq: 5, deadline: 99 }])
      expect(cursor.next(2, Infinity)).toEqual([])
      await backend.commit([put('a/5', 'late', 7)])
      expect(cursor.next(2, Infinity)).toEqual([])
      expect(contents(backend, '')).toEqual({
        a: 'prefix itself',
        'a/1': 'x',
        'a/2': 'yy',
        'a/3': 'zzz',
        'a/4': 'vvvv',
        'a/5': 'late',
        'b/1': 'w',
      })
      await backend.close()
    })

    it('stays within maxBytes but always returns at least one entry', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('a/')
      expect(cursor.next(10, 3).map(([k]) => k)).toEqual(['a/1', 'a/2'])
      expect(cursor.next(10, 1).map(([k]) => k)).toEqual(['a/3'])
      expect(cursor.next(10, 0).map(([k]) => k)).toEqual(['a/4'])
      expect(cursor.next(10, 1)).toEqual([])
      await backend.close()
    })

    it('resumes across commits: skips keys removed, reads current values, never repeats a key', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('')
      expect(cursor.next(2, Infinity).map(([k]) => k)).toEqual(['a', 'a/1'])
      await backend.commit([
        { kind: 'remove', key: 'a/2', seq: 7 },
        put('a/3', 'new', 8),
        put('a/0', 'behind the cursor', 9),
        put('c/9', 'ahead of the cursor', 10),
        put('a/1', 'rewritten behind', 11),
      ])
      const rest = cursor.next(100, Infinity)
      expect(rest.map(([k, e]) => [k, text(e.value), e.seq])).toEqual([
        ['a/3', 'new', 8],
        ['a/4', 'vvvv', 5],
        ['b/1', 'w', 4],
        ['c/9', 'ahead of the cursor', 10],
      ])
      expect(cursor.next(100, Infinity)).toEqual([])
      await backend.close()
    })

    it('under random concurrent commits: no key twice, keys present throughout never missed', async () => {
      const backend = await reopen(tempDir())
      let seq = 0
      const initial = Array.from({ length: 500 }, (_, i) =>
        put(`k/${String(i).padStart(4, '0')}`, 'v', ++seq),
      )
      await backend.commit(initial)
      const stable = new Set(initial.map((op) => (op as { key: string }).key).filter((_, i) => i % 3 === 0))
      const cursor = backend.snapshot('k/')
      const seen: string[] = []
      let random = 7
      const next = (n: number) => {
        random = (random * 1_103_515_245 + 12_345) % 2_147_483_648
        return random % n
      }
      for (let batch = cursor.next(7, 64); batch.length > 0; batch = cursor.next(7, 64)) {
        for (const [key] of batch) seen.push(key)
        const ops = []
        for (let i = 0; i < 5; i++) {
          const key = `k/${String(next(600)).padStart(4, '0')}`
          if (stable.has(key)) ops.push(put(key, 'rewritten', ++seq))
          else if (next(2) === 0) ops.push({ kind: 'remove' as const, key, seq: ++seq })
          else ops.push(put(key, 'added', ++seq))
        }
        await backend.commit(ops)
      }
      expect(new Set(seen).size).toBe(seen.length)
      for (const key of stable) expect(seen).toContain(key)
      expect([...seen].sort()).toEqual(seen)
      await backend.close()
    })

    it('bounds prefixes by UTF-8 byte order, also for non-ASCII and the highest code point', async () => {
      const keys = [
        '',
        'a',
        'a\u0000',
        'a\u007f',
        'a\u0080',
        'aé',
        'aé/x',
        'a\uffff',
        'a\u{10000}',
        'a\u{10ffff}',
        'a\u{10ffff}z',
        'b',
        '\u{10ffff}',
        '\u{10ffff}\u{10ffff}',
      ]
      const backend = await reopen(tempDir())
      await backend.commit(keys.map((key, i) => put(key, key, i + 1)))
      const expectPrefix = (prefix: string) =>
        expect(Object.keys(contents(backend, prefix)).sort()).toEqual(
          keys.filter((k) => k.startsWith(prefix)).sort(),
        )
      for (const prefix of ['', 'a', 'a\u007f', 'aé', 'a\uffff', 'a\u{10ffff}', '\u{10ffff}', 'b', 'c']) {
        expectPrefix(prefix)
      }
      await backend.close()
    })

    it('rejects bad limits, and close() stops it (also when the backend closes)', async () => {
      const backend = await filled()
      const cursor = backend.snapshot('')
      expect(() => cursor.next(0, 10)).toThrow(RangeError)
      expect(() => cursor.next(1, Number.NaN)).toThrow(RangeError)
      cursor.close()
      cursor.close()
      expect(() => cursor.next(1, 10)).toThrow(ClosedError)
      const other = backend.snapshot('')
      expect(other.next(1, 10)).toHaveLength(1)
      await backend.close()
      expect(() => other.next(1, 10)).toThrow(ClosedError)
    })
  })

  describe('S9.2: an unusable file fails open, says what it found and changes nothing', () => {
    /** Writes the file of store `s` with `make`, opens it, and checks nothing changed. */
    async function refused(make: (file: string) => void): Promise<string> {
      const dir = tempDir()
      const persistence = sqlitePersistence({ path: dir })
      const file = persistence.fileOf('s')
      make(file)
      const before = snapshotFolder(dir)
      const error = await persistence.open('s', opts()).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PersistenceError)
      expect(isConcordError(error, 'ERR_PERSISTENCE')).toBe(true)
      // Same files, same bytes: not even a lock file left behind.
      expect(snapshotFolder(dir)).toEqual(before)
      await persistence.close()
      return (error as Error).message
    }

    async function writeStore(dir: string, fingerprint = 'fp-1'): Promise<string> {
      const persistence = sqlitePersistence({ path: dir })
      const backend = await persistence.open('s', opts(fingerprint))
      await backend.commit([put('a', '1', 1)])
      await persistence.close()
      return backend.file
    }

    it('garbage bytes', async () => {
      const garbage = Buffer.alloc(8192, 0)
      for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 256
      const message = await refused((file) => writeFileSync(file, garbage))
      expect(message).toMatch(/corrupt store 's' .*not a SQLite database: it starts with 0d fc/)
    })

    it('a file of another kind (text)', async () => {
      const message = await refused((file) => writeFileSync(file, '{"hello": "world"}\n'))
      expect(message).toContain('not a SQLite database: it starts with 7b 22 68')
      expect(message).toContain('("{"hello": "world")')
    })

    it('an empty file and one shorter than a header', async () => {
      expect(await refused((file) => writeFileSync(file, ''))).toMatch(/empty \(0 bytes\)/)
      expect(await refused((file) => writeFileSync(file, 'SQLite format 3\0abc'))).toMatch(
        /truncated: 19 bytes/,
      )
    })

    it('a truncated store file', async () => {
      const dir = tempDir()
      const file = await writeStore(dir)
      // Enough data that the file has many pages, then cut it in half.
      const persistence = sqlitePersistence({ path: dir })
      const backend = await persistence.open('s', opts())
      await backend.commit(Array.from({ length: 300 }, (_, i) => put(`k${i}`, 'x'.repeat(200), i + 2)))
      await persistence.close()
      const cut = Math.floor(readFileSync(file).length / 2)
      const message = await refused((f) => {
        copyFileSync(file, f)
        truncateSync(f, cut)
      })
      expect(message).toMatch(
        /corrupt store 's' .*SQLite reports: database disk image is malformed \(SQLITE_CORRUPT\)/,
      )
    })

    it('a damaged page found by integrityCheck', async () => {
      const dir = tempDir()
      const file = await writeStore(dir)
      const persistence = sqlitePersistence({ path: dir })
      const backend = await persistence.open('s', opts())
      await backend.commit(Array.from({ length: 300 }, (_, i) => put(`k${i}`, 'x'.repeat(200), i + 2)))
      await persistence.close()
      const damaged = readFileSync(file)
      // Overwrite the middle of the last page (entry cells), keeping the header and schema.
      damaged.fill(0xa5, damaged.length - 3000, damaged.length - 1000)
      writeFileSync(file, damaged)
      const before = snapshotFolder(dir)
      const checked = sqlitePersistence({ path: dir, integrityCheck: true })
      const error = await checked.open('s', opts()).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PersistenceError)
      expect((error as Error).message).toMatch(/corrupt store 's' .*(quick_check|malformed)/)
      expect(snapshotFolder(dir)).toEqual(before)
    })

    it('a SQLite database of another application', async () => {
      const message = await refused((file) => {
        const db = new Database(file)
        db.exec('CREATE TABLE t (x)')
        db.close()
      })
      expect(message).toContain('is a SQLite database but not a Concord store (application_id 0x00000000)')
    })

    it('another format version', async () => {
      const dir = tempDir()
      const file = await writeStore(dir)
      rawExec(file, "UPDATE meta SET value = 99 WHERE key = 'format'")
      const before = snapshotFolder(dir)
      const error = await sqlitePersistence({ path: dir })
        .open('s', opts())
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PersistenceError)
      expect((error as Error).message).toContain(
        `has format version 99, written by a newer @concord/persist-sqlite; this one reads format version ${FORMAT_VERSION}`,
      )
      expect(snapshotFolder(dir)).toEqual(before)
    })

    it('a store file copied under another store name', async () => {
      const dir = tempDir()
      const file = await writeStore(dir)
      const persistence = sqlitePersistence({ path: dir })
      copyFileSync(file, persistence.fileOf('other'))
      const before = snapshotFolder(dir)
      const error = await persistence.open('other', opts()).catch((e: unknown) => e)
      expect((error as Error).message).toMatch(/holds store "s", not 'other'/)
      expect(snapshotFolder(dir)).toEqual(before)
    })

    it('an incompatible fingerprint: names both, asks compatible() once, changes nothing', async () => {
      const dir = tempDir()
      await writeStore(dir, 'old-fp')
      const before = snapshotFolder(dir)
      const seen: string[] = []
      const error = await sqlitePersistence({ path: dir })
        .open('s', {
          fingerprint: 'new-fp',
          compatible: (stored) => {
            seen.push(stored)
            return false
          },
        })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PersistenceError)
      expect((error as Error).message).toContain('old-fp')
      expect((error as Error).message).toContain('new-fp')
      expect(seen).toEqual(['old-fp'])
      expect(snapshotFolder(dir)).toEqual(before)
      const again = await reopen(dir, 's', 'old-fp')
      expect(contents(again)).toEqual({ a: '1' })
      await again.close()
    })

    it('a compatible fingerprint opens the data and records the new fingerprint', async () => {
      const dir = tempDir()
      const file = await writeStore(dir, 'v1')
      const persistence = sqlitePersistence({ path: dir })
      const backend = await persistence.open(
        's',
        opts('v2', (stored) => stored === 'v1'),
      )
      expect(backend.recovered.lastSeq).toBe(1)
      expect(text(backend.get('a')?.value)).toBe('1')
      await persistence.close()
      expect(rawMeta(file).meta.fingerprint).toBe('v2')
    })
  })

  describe('exclusive lock', () => {
    it('a second opener of the store fails naming the holder, until the holder closes', async () => {
      const dir = tempDir()
      const first = sqlitePersistence({ path: dir })
      const backend = await first.open('s', opts())
      // Held from open on, before any commit.
      const early = new Database(backend.file, { timeout: 0 })
      expect(() => early.prepare('SELECT count(*) FROM entries').get()).toThrow(/locked/)
      early.close()
      await backend.commit([put('a', '1', 1)])

      const second = sqlitePersistence({ path: dir })
      const error = await second.open('s', opts()).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PersistenceError)
      expect((error as Error).message).toMatch(
        new RegExp(`store 's' is locked by pid ${process.pid} on host '.+' \\(this process\\) since \\d{4}-`),
      )
      await expect(first.open('s', opts())).rejects.toThrow(/already open in this persistence/)
      // Other stores in the same folder are independent.
      const other = await second.open('t', opts())
      await other.close()

      // A plain SQLite connection cannot read the store file either.
      const raw = new Database(backend.file, { timeout: 0 })
      expect(() => raw.prepare('SELECT count(*) FROM entries').get()).toThrow(/locked/)
      raw.close()

      await first.close()
      const taken = await second.open('s', opts())
      expect(contents(taken)).toEqual({ a: '1' })
      await second.close()
    })

    it('a lock held by another process is refused with its pid, and freed when that process dies', async () => {
      const dir = tempDir()
      const persistence = sqlitePersistence({ path: dir })
      mkdirSync(dir, { recursive: true })
      const lockFile = `${persistence.fileOf('s')}.lock`
      // Another process takes the lock as a hub would, then hangs.
      const child = spawn(
        process.execPath,
        [
          '-e',
          `const D = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
           const db = new D(${JSON.stringify(lockFile)});
           db.exec('CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER, host TEXT, since TEXT)');
           db.prepare('INSERT OR REPLACE INTO holder VALUES (1, ?, ?, ?)').run(process.pid, 'elsewhere', new Date().toISOString());
           db.exec('BEGIN IMMEDIATE');
           console.log('ready');
           setInterval(() => {}, 1000);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      )
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
      const error = await persistence.open('s', opts()).catch((e: unknown) => e)
      expect((error as Error).message).toContain(
        `store 's' is locked by pid ${child.pid} on host 'elsewhere'`,
      )
      expect(existsSync(persistence.fileOf('s'))).toBe(false)

      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
      // No stale lock: the OS released it with the process.
      const backend = await persistence.open('s', opts())
      expect(backend.recovered.lastSeq).toBe(0)
      await persistence.close()
    })
  })

  describe('durability', () => {
    it("'sync' (the default) runs with synchronous=FULL in WAL mode, holding an exclusive lock", async () => {
      const persistence = sqlitePersistence({ path: tempDir() })
      const backend = await persistence.open('s', opts())
      expect(persistence.durability).toBe('sync')
      expect(backend.sqliteSettings()).toEqual({
        journalMode: 'wal',
        lockingMode: 'exclusive',
        synchronous: 'FULL',
        walAutocheckpoint: 4000,
      })
      await persistence.close()
    })

    it('pragmas override the checkpoint bound of the write-ahead log', async () => {
      const persistence = sqlitePersistence({ path: tempDir(), pragmas: { wal_autocheckpoint: 250 } })
      const backend = await persistence.open('s', opts())
      expect(backend.sqliteSettings().walAutocheckpoint).toBe(250)
      await persistence.close()
    })

    it("'relaxed' runs with synchronous=NORMAL, also after a (synced) beginEpoch", async () => {
      const persistence = sqlitePersistence({ path: tempDir(), durability: 'relaxed' })
      const backend = await persistence.open('s', opts())
      expect(backend.sqliteSettings().synchronous).toBe('NORMAL')
      await backend.beginEpoch({ epoch: 'e', startSeq: 0, at: 1 })
      expect(backend.sqliteSettings().synchronous).toBe('NORMAL')
      await persistence.close()
    })

    it('recovers every commit from the files a crash leaves (database + write-ahead log)', async () => {
      const dir = tempDir()
      const persistence = sqlitePersistence({ path: dir })
      const backend = await persistence.open('s', opts())
      await backend.beginEpoch({ epoch: 'e1', startSeq: 0, at: 5 })
      for (let seq = 1; seq <= 50; seq++) await backend.commit([put(`k${seq}`, `v${seq}`, seq, seq * 10)])
      await backend.commit([{ kind: 'remove', key: 'k1', seq: 51 }])
      // Copy the files while the backend is open, as a crash would leave them.
      const image = join(tempDir(), 'image')
      mkdirSync(image)
      const names = readdirSync(dir)
      expect(names).toContain('s.sqlite-wal')
      for (const name of names) copyFileSync(join(dir, name), join(image, name))
      await persistence.close()

      const recovered = await reopen(image)
      expect(recovered.recovered).toEqual({ epochs: [{ epoch: 'e1', startSeq: 0, at: 5 }], lastSeq: 51 })
      expect(recovered.size()).toBe(49)
      expect(recovered.get('k50')).toEqual({ value: bytes('v50'), seq: 50, deadline: 500 })
      expect(recovered.get('k1')).toBeUndefined()
      await recovered.close()
    })
  })

  describe('close', () => {
    it('backend close lets an accepted commit finish, then refuses calls; idempotent', async () => {
      const dir = tempDir()
      const backend = await reopen(dir)
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
      // The log was folded into the file and removed.
      expect(existsSync(`${backend.file}-wal`)).toBe(false)
      const again = await reopen(dir)
      expect(again.recovered.lastSeq).toBe(1)
      await again.close()
    })

    it('persistence close closes every backend and then refuses open; idempotent', async () => {
      const persistence = sqlitePersistence({ path: tempDir() })
      const a = await persistence.open('a', opts())
      const b = await persistence.open('b', opts())
      await persistence.close()
      await persistence.close()
      expect(() => a.size()).toThrow(ClosedError)
      expect(() => b.size()).toThrow(ClosedError)
      await expect(persistence.open('a', opts())).rejects.toBeInstanceOf(ClosedError)
      await using again = sqlitePersistence({ path: persistence.path })
      const reopened = await again.open('a', opts())
      expect(reopened.size()).toBe(0)
    })
  })

  it('open honours an aborted signal, creating nothing, and validates its arguments', async () => {
    const dir = join(tempDir(), 'data')
    const persistence = sqlitePersistence({ path: dir })
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await expect(persistence.open('s', { ...opts(), signal: controller.signal })).rejects.toBeInstanceOf(
      AbortedError,
    )
    expect(existsSync(dir)).toBe(false)
    await expect(persistence.open('', opts())).rejects.toThrow(TypeError)
    await expect(persistence.open('s', {} as never)).rejects.toThrow(TypeError)
  })

  it('keeps stores apart, one file each, whatever their names', async () => {
    const dir = tempDir()
    const persistence = sqlitePersistence({ path: dir })
    const names = ['kv', 'KV', 'a/b', '..', 'x:y.z', 'é']
    for (const [i, name] of names.entries()) {
      const backend = await persistence.open(name, opts())
      await backend.commit([put('k', name, i + 1)])
    }
    await persistence.close()
    const files = readdirSync(dir).filter((f) => f.endsWith('.sqlite'))
    expect(files.sort()).toEqual(
      ['%2E.', '%4B%56', '%C3%A9', 'a%2Fb', 'kv', 'x%3Ay.z'].map((f) => `${f}.sqlite`).sort(),
    )
    const again = sqlitePersistence({ path: dir })
    for (const [i, name] of names.entries()) {
      const backend = await again.open(name, opts())
      expect(backend.get('k')).toEqual({ value: bytes(name), seq: i + 1, deadline: undefined })
    }
    await again.close()
  })
})
