import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { PersistenceError } from '@concord/core'
import { describe, expect, it } from 'vitest'
import { opts, put, text, useScratch } from './helpers.js'

const scratch = useScratch()
const here = fileURLToPath(new URL('.', import.meta.url))

/** A pid that was running a moment ago and is not any more. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid!
}

async function bootId(): Promise<string | undefined> {
  return readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (s) => s.trim(),
    () => undefined,
  )
}

const lockFile = (path: string) => join(path, 's.hub-lock')
const writeLock = (path: string, owner: object) =>
  writeFile(lockFile(path), JSON.stringify({ token: 'someone-else', store: 's', at: 0, ...owner }))

describe('one master per store: the lock', () => {
  it('a second open of an open store fails, in the same persistence or another; close frees it', async () => {
    const path = await scratch.dir()
    const first = scratch.persistence({ path })
    const backend = await first.open('s', opts())
    await expect(first.open('s', opts())).rejects.toThrow(PersistenceError)
    const error = await scratch
      .persistence({ path })
      .open('s', opts())
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PersistenceError)
    expect((error as Error).message).toMatch(
      /store 's' is already open \(by this process; lock file .*s\.hub-lock\)/,
    )
    // Other stores of the folder are not affected.
    await scratch.persistence({ path }).open('t', opts())
    await backend.close()
    const again = await scratch.persistence({ path }).open('s', opts())
    expect(again.size()).toBe(0)
  })

  it('takes over a stale lock: dead pid, earlier boot, our pid from an earlier process, unreadable file', async () => {
    const path = await scratch.dir()
    const stale: object[] = [
      { pid: await deadPid() },
      { pid: 1, boot: 'a-boot-long-ago' },
      { pid: process.pid },
      {},
    ]
    if ((await bootId()) === undefined) stale.splice(1, 1)
    for (const owner of stale) {
      await writeLock(path, owner)
      const persistence = scratch.persistence({ path })
      const backend = await persistence.open('s', opts())
      expect(JSON.parse(await readFile(lockFile(path), 'utf8')).pid).toBe(process.pid)
      await backend.commit([put('k', 'v', backend.recovered.lastSeq + 1)])
      await persistence.close()
    }
    await writeFile(lockFile(path), '{garbage')
    await (await scratch.persistence({ path }).open('s', opts())).close()
  })

  it('a live process holding the lock keeps it', async () => {
    const path = await scratch.dir()
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60000)'], { stdio: 'ignore' })
    try {
      await writeLock(path, { pid: holder.pid, boot: await bootId() })
      await expect(scratch.persistence({ path }).open('s', opts())).rejects.toThrow(
        new RegExp(`already open \\(by pid ${holder.pid} since`),
      )
    } finally {
      holder.kill('SIGKILL')
    }
  })

  it('S6.4 a process crash (SIGKILL) loses no acknowledged commit, in both durability modes; the lock holds until then', async () => {
    const folders = [
      { path: await scratch.dir(), durability: 'sync' },
      { path: await scratch.dir(), durability: 'relaxed' },
    ]
    const count = 40
    const child = spawn(
      process.execPath,
      [
        '--import',
        join(here, 'support/register-ts.mjs'),
        join(here, 'support/crash-child.ts'),
        JSON.stringify(folders),
        String(count),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const exited = new Promise((resolve) => child.once('exit', resolve))
    const acked = folders.map(() => 0)
    try {
      for await (const line of createInterface({ input: child.stdout! })) {
        const [word, index, seq] = line.split(' ')
        if (word === 'acked') acked[Number(index)] = Math.max(acked[Number(index)]!, Number(seq))
        if (word === 'idle') break
      }
      expect(acked).toEqual([count, count])
      for (const { path } of folders) {
        await expect(scratch.persistence({ path }).open('s', opts())).rejects.toThrow(
          new RegExp(`already open \\(by pid ${child.pid} since`),
        )
      }
    } finally {
      child.kill('SIGKILL')
      await exited
    }
    for (const { path } of folders) {
      const backend = await scratch.persistence({ path }).open('s', opts())
      expect(backend.recovered.lastSeq).toBe(count)
      expect(backend.size()).toBe(count)
      for (let seq = 1; seq <= count; seq++) expect(text(backend.get(`k${seq}`)?.value)).toBe(`v${seq}`)
      expect([...backend.deadlines()]).toHaveLength(count / 2)
      await backend.commit([put('next', 'x', count + 1)])
    }
  })
})
