/**
 * S9.2: a corrupt file, a file of another format or version, another store's file, or a
 * store whose schema fingerprint `compatible` refuses fails `open` with `PersistenceError`
 * saying what was found, and changes no byte of it.
 */
import { copyFile, open as openFile, readdir, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isConcordError, PersistenceError } from '@concord/core'
import { open as openLmdb } from 'lmdb'
import { describe, expect, it } from 'vitest'
import { fingerprintFiles, opts, put, text, useScratch } from './helpers.js'

const scratch = useScratch()

/** A folder with store `s` holding two entries, closed. */
async function stored(store = 's'): Promise<string> {
  const path = await scratch.dir()
  const persistence = scratch.persistence({ path })
  const backend = await persistence.open(store, opts('fp-1'))
  await backend.beginEpoch({ epoch: 'e1', startSeq: 0, at: 1 })
  await backend.commit([put('a', '1', 1), put('b', '2', 2, 99)])
  await persistence.close()
  return path
}

/** Changes `store`'s meta db with raw lmdb-js, as another program (or version) would. */
async function tamper(path: string, change: (meta: { putSync(k: string, v: Buffer): void }) => void) {
  const root = openLmdb({ path: join(path, 's.mdb'), noSubdir: true, maxDbs: 8, keyEncoding: 'binary' })
  const meta = root.openDB({ name: 'meta', encoding: 'binary' }) as unknown as {
    putSync(k: string, v: Buffer): void
  }
  root.transactionSync(() => change(meta))
  await root.close()
}

async function overwrite(file: string, offset: number, length: number): Promise<void> {
  const handle = await openFile(file, 'r+')
  await handle.write(Buffer.alloc(length, 0xab), 0, length, offset)
  await handle.close()
}

/** Opens `s` in `path`, expecting a PersistenceError matching `message`, with every file left as it was. */
async function expectRefused(path: string, message: RegExp, fingerprint = 'fp-1'): Promise<void> {
  const before = await fingerprintFiles(path)
  for (let attempt = 0; attempt < 2; attempt++) {
    // The second attempt shows the failure released the lock (else: "already open").
    const error = await scratch
      .persistence({ path })
      .open('s', opts(fingerprint))
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PersistenceError)
    expect(isConcordError(error, 'ERR_PERSISTENCE')).toBe(true)
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).toMatch(/nothing was changed/)
  }
  expect(await fingerprintFiles(path)).toEqual(before)
  expect((await readdir(path)).filter((f) => f.endsWith('.hub-lock'))).toEqual([])
}

describe('S9.2 open refuses what it cannot trust, changing nothing', () => {
  it('S9.2 a file that is not an LMDB environment', async () => {
    const path = await scratch.dir()
    await writeFile(join(path, 's.mdb'), Buffer.alloc(50_000, 0x5a))
    await expectRefused(path, /s\.mdb holds 50000 bytes that are not an LMDB environment/)
    await writeFile(join(path, 's.mdb'), 'hello')
    await expectRefused(path, /5 bytes that are not an LMDB environment/)
  })

  it('S9.2 an SQLite database where the LMDB file should be', async () => {
    const path = await scratch.dir()
    await writeFile(
      join(path, 's.mdb'),
      Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4080)]),
    )
    await expectRefused(path, /holds an SQLite database \(4096 bytes\), not an LMDB environment/)
  })

  it('S9.2 damaged meta pages', async () => {
    const path = await stored()
    await overwrite(join(path, 's.mdb'), 4096, 4096)
    await expectRefused(path, /a damaged LMDB environment \(no LMDB meta page at page 1/)
    await overwrite(join(path, 's.mdb'), 0, 4096)
    await expectRefused(path, /not an LMDB environment \(no LMDB meta page at page 0/)
  })

  it('S9.2 a truncated file', async () => {
    const path = await stored()
    await truncate(join(path, 's.mdb'), 12_288)
    await expectRefused(path, /a truncated LMDB environment \(12288 bytes; its last page ends at byte \d+\)/)
  })

  it('S9.2 an empty file (0 bytes): truncated, never a store being created', async () => {
    const path = await stored()
    await truncate(join(path, 's.mdb'), 0)
    await expectRefused(path, /s\.mdb holds nothing: the file is empty \(0 bytes\), truncated/)
  })

  it('S9.2 a Concord store of another format version', async () => {
    const path = await stored()
    await tamper(path, (meta) => meta.putSync('format', Buffer.from('{"name":"concord-lmdb","version":2}')))
    await expectRefused(
      path,
      /is in concord-lmdb format version 2, this version of @concord\/persist-lmdb reads version 1 only/,
    )
  })

  it('S9.2 an LMDB environment that is not a Concord store', async () => {
    const path = await scratch.dir()
    const root = openLmdb({ path: join(path, 's.mdb'), noSubdir: true, maxDbs: 8 })
    root.openDB({ name: 'users' })
    await root.close()
    await expectRefused(
      path,
      /is an LMDB environment but not a Concord store \(it holds "users", no 'meta'\)/,
    )

    await tamper(path, (meta) => meta.putSync('format', Buffer.from('{"name":"something-else","version":1}')))
    await expectRefused(path, /holds format "something-else", not concord-lmdb/)
  })

  it("S9.2 another store's file", async () => {
    const path = await stored('other')
    await copyFile(join(path, 'other.mdb'), join(path, 's.mdb'))
    await expectRefused(path, /s\.mdb holds store "other"/)
  })

  it('S9.2 inconsistent meta: entry count, last seq, format record', async () => {
    const path = await stored()
    const count = Buffer.alloc(8)
    count.writeDoubleLE(5)
    await tamper(path, (meta) => meta.putSync('count', count))
    await expectRefused(
      path,
      /corrupt store 's' .*: its meta counts 5 entries but the entries database holds 2/,
    )
    count.writeDoubleLE(2)
    await tamper(path, (meta) => {
      meta.putSync('count', count)
      meta.putSync('lastSeq', Buffer.from('x'))
    })
    await expectRefused(path, /corrupt store 's' .*: its last seq is unreadable/)
    await tamper(path, (meta) => meta.putSync('format', Buffer.from('{not json')))
    await expectRefused(path, /its meta database has no readable format record/)
  })

  it('S9.2 an incompatible schema fingerprint: names both, asks compatible once, changes nothing', async () => {
    const path = await stored()
    const before = await fingerprintFiles(path)
    const seen: string[] = []
    const error = await scratch
      .persistence({ path })
      .open('s', {
        fingerprint: 'fp-2',
        compatible: (storedFingerprint) => {
          seen.push(storedFingerprint)
          return false
        },
      })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PersistenceError)
    expect((error as Error).message).toContain('fp-1')
    expect((error as Error).message).toContain('fp-2')
    expect(seen).toEqual(['fp-1'])
    expect(await fingerprintFiles(path)).toEqual(before)
    // The data is still there under the old fingerprint.
    const again = await scratch.persistence({ path }).open('s', opts('fp-1'))
    expect(again.recovered.lastSeq).toBe(2)
    expect(text(again.get('a')?.value)).toBe('1')
  })

  it('S9.2 a compatible fingerprint opens the data and records the new fingerprint', async () => {
    const path = await stored()
    const next = await scratch.persistence({ path }).open(
      's',
      opts('fp-2', (s) => s === 'fp-1'),
    )
    expect(next.recovered.lastSeq).toBe(2)
    expect(text(next.get('a')?.value)).toBe('1')
    await next.close()
    // fp-2 is stored now: opening with fp-2 asks nothing, opening with fp-1 is refused.
    await (await scratch.persistence({ path }).open('s', opts('fp-2'))).close()
    await expectRefused(
      path,
      /written with schema fingerprint fp-2, incompatible with the current fingerprint fp-1/,
    )
  })
})
