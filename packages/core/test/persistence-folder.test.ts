/**
 * makeDataFolder, the data folder of a persistence adapter (S9.2): made level by level, or a
 * PersistenceError saying why not. The /proc case, where Node's own recursive mkdir spins for
 * ever, is proved end to end by the CLI's process tests (a child process, so a hang cannot
 * block this one).
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { PersistenceError } from '../src/errors.js'
import { makeDataFolder } from '../src/persistence-folder.js'

const scratch: string[] = []
afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true })
})
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'concord-folder-'))
  scratch.push(dir)
  return dir
}

describe('makeDataFolder (S9.2)', () => {
  it('makes the missing folders of the path, and leaves an existing one as it is', () => {
    const root = tempDir()
    const path = join(root, 'a', 'b', 'c')
    makeDataFolder(path)
    expect(statSync(path).isDirectory()).toBe(true)
    writeFileSync(join(path, 'kept'), 'x')
    makeDataFolder(path)
    expect(readdirSync(path)).toEqual(['kept'])
  })

  it('S9.2 a file in the way: PersistenceError naming it, no folder made', () => {
    const root = tempDir()
    writeFileSync(join(root, 'file'), 'x')
    const error = (() => {
      try {
        makeDataFolder(join(root, 'file', 'data'))
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(PersistenceError)
    expect((error as PersistenceError).code).toBe('ERR_PERSISTENCE')
    expect((error as Error).message).toBe(
      `cannot create the data folder ${join(root, 'file', 'data')}: ENOTDIR: not a directory, stat '${join(root, 'file', 'data')}'`,
    )
    expect(() => makeDataFolder(join(root, 'file'))).toThrow(
      `cannot use the data folder ${join(root, 'file')}: it is a file, not a folder`,
    )
    expect(readdirSync(root)).toEqual(['file'])
  })
})
