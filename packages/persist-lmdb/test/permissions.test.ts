/**
 * S9.2 with a folder the hub may not write: `open` fails with `PersistenceError` saying what
 * failed, and changes nothing. Permissions do not bind root, so when the tests run as root
 * the opening process is a child without the capabilities that let root past them
 * (`setpriv`, util-linux). It stays root otherwise: another user could not even read the
 * checkout when it lives in a private folder (a CI's `mktemp -d`).
 */
import { chmod, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { fingerprintFiles, opts, put, runChild, supportCommand, useScratch } from './helpers.js'

const scratch = useScratch()
/** Runs a command as root but bound by file permissions (no CAP_DAC_OVERRIDE / _READ_SEARCH). */
const WITHOUT_ROOT_OVERRIDES = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--']

/** Folders made read-only by a test, given their write permission back for the cleanup. */
const readOnly: string[] = []
afterEach(async () => {
  await Promise.all(readOnly.splice(0).map((path) => chmod(path, 0o755)))
})

/** What open-child.ts printed after opening store `s` in `path`, as a user other than root. */
async function openAsUser(path: string): Promise<Record<string, unknown>> {
  const command = supportCommand('open-child.ts', path)
  const asRoot = process.getuid?.() === 0
  const run = await runChild(asRoot ? [...WITHOUT_ROOT_OVERRIDES, ...command] : command)
  expect(run.code, run.stderr).toBe(0)
  return run.result as Record<string, unknown>
}

async function makeReadOnly(path: string): Promise<void> {
  for (const name of await readdir(path)) await chmod(join(path, name), 0o644)
  await chmod(path, 0o555)
  readOnly.push(path)
}

describe('S9.2 a folder or file the hub may not use', () => {
  it('S9.2 an existing store in a read-only folder: PersistenceError saying what failed, nothing changed', async () => {
    const path = await scratch.dir()
    const persistence = scratch.persistence({ path })
    const backend = await persistence.open('s', opts())
    await backend.commit([put('a', '1', 1)])
    await persistence.close()
    await makeReadOnly(path)
    const names = (await readdir(path)).sort()
    const before = await fingerprintFiles(path)

    const outcome = await openAsUser(path)
    expect(outcome).toMatchObject({ name: 'PersistenceError', code: 'ERR_PERSISTENCE' })
    expect(outcome.message).toMatch(/cannot lock store 's' at .*s\.hub-lock: EACCES: permission denied/)
    expect(outcome.message).toMatch(/nothing was changed/)
    expect((await readdir(path)).sort()).toEqual(names)
    expect(await fingerprintFiles(path)).toEqual(before)
  })

  it('S9.2 a new store in a read-only folder: PersistenceError, no file made', async () => {
    const path = await scratch.dir()
    await makeReadOnly(path)
    const outcome = await openAsUser(path)
    expect(outcome).toMatchObject({ name: 'PersistenceError', code: 'ERR_PERSISTENCE' })
    expect(outcome.message).toMatch(/cannot lock store 's' .*EACCES/)
    expect(await readdir(path)).toEqual([])
  })

  it('S9.2 a store file the hub may not read: PersistenceError saying what failed, nothing changed, lock released', async () => {
    const path = await scratch.dir()
    const persistence = scratch.persistence({ path })
    await (await persistence.open('s', opts())).commit([put('a', '1', 1)])
    await persistence.close()
    await chmod(join(path, 's.mdb'), 0o000)
    await chmod(path, 0o777)
    const names = (await readdir(path)).sort()

    const outcome = await openAsUser(path)
    expect(outcome).toMatchObject({ name: 'PersistenceError', code: 'ERR_PERSISTENCE' })
    expect(outcome.message).toMatch(
      /cannot open store 's': reading .*s\.mdb failed: EACCES: permission denied/,
    )
    expect(outcome.message).toMatch(/nothing was changed/)
    expect((await readdir(path)).sort()).toEqual(names)
    await chmod(join(path, 's.mdb'), 0o644)
    const again = await scratch.persistence({ path }).open('s', opts())
    expect(again.recovered.lastSeq).toBe(1)
  })
})
