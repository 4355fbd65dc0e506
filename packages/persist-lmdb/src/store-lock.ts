import { randomUUID } from 'node:crypto'
import { link, readFile, unlink, writeFile } from 'node:fs/promises'
import { PersistenceError } from '@concord/core'

/**
 * One token per process, shared by every copy of this package loaded in it, so a lock file
 * written by this process is recognised as ours even when its pid was reused by an earlier
 * process (containers restart with the same small pids).
 */
const TOKEN_KEY = Symbol.for('@concord/persist-lmdb:process-token')
const processToken: string = ((globalThis as Record<symbol, unknown>)[TOKEN_KEY] ??= randomUUID()) as string

/** What a lock file holds. */
interface LockOwner {
  readonly pid: number
  readonly token: string
  /** The kernel boot id, when readable: a lock from before a reboot is stale. */
  readonly boot: string | undefined
  /** The owner's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  readonly start: string | undefined
  readonly store: string
  readonly at: number
}

/**
 * An exclusive claim on one store's files, held by one backend. lmdb-js lets several
 * processes open one environment by design; two masters of one store must not, so each open
 * creates `<store>.hub-lock` atomically (written to a temporary file, then hard-linked into
 * place, which fails when the lock exists) and `close` removes it.
 *
 * A lock whose owner is gone (crash, `kill -9`) is taken over: the owner is gone when the
 * machine rebooted since (boot id), when its pid is not running, or when that pid now
 * belongs to a process that started later (Linux `/proc/<pid>/stat`). A lock written by this
 * very process (same token) is held: the store is open in another backend here.
 */
export class StoreLock {
  #released = false

  private constructor(
    /** The lock file. */
    readonly path: string,
  ) {}

  /**
   * Takes the lock at `path` for `store`. Rejects with `PersistenceError` naming the holder
   * when it is held, or saying what failed when the folder cannot be written or the lock
   * read (a read-only folder, no permission); nothing is changed then.
   */
  static async acquire(path: string, store: string): Promise<StoreLock> {
    try {
      return await StoreLock.#acquire(path, store)
    } catch (error) {
      if (error instanceof PersistenceError) throw error
      throw new PersistenceError(
        `cannot lock store '${store}' at ${path}: ${(error as Error)?.message ?? error}; nothing was changed`,
        { cause: error },
      )
    }
  }

  static async #acquire(path: string, store: string): Promise<StoreLock> {
    const owner: LockOwner = {
      pid: process.pid,
      token: processToken,
      boot: await readBootId(),
      start: await readStartTime(process.pid),
      store,
      at: Date.now(),
    }
    const body = `${JSON.stringify(owner)}\n`
    const temp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`
    await writeFile(temp, body, { flag: 'wx' })
    try {
      // Two tries: the second after removing a stale lock.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await link(temp, path)
          return new StoreLock(path)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
            throw new PersistenceError(
              `cannot lock store '${store}' at ${path}: ${(error as Error).message}`,
              {
                cause: error,
              },
            )
          }
        }
        const held = await readLock(path)
        if (held === undefined) continue // removed meanwhile
        const holder = await describeHolder(held.owner, owner)
        if (holder !== undefined) {
          throw new PersistenceError(
            `store '${store}' is already open (${holder}; lock file ${path}). ` +
              'Two hubs must not be master of one store; if no hub holds it, delete the lock file.',
          )
        }
        // Stale. Remove it only if it is still the file we judged.
        const again = await readLock(path)
        if (again?.text === held.text) await unlink(path).catch(() => undefined)
      }
      throw new PersistenceError(`cannot lock store '${store}' at ${path}: another process keeps taking it`)
    } finally {
      await unlink(temp).catch(() => undefined)
    }
  }

  /** Removes the lock file if it is still ours. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return
    this.#released = true
    const held = await readLock(this.path)
    if (held?.owner?.token === processToken && held.owner.pid === process.pid) {
      await unlink(this.path).catch(() => undefined)
    }
  }
}

/** The lock file's text and parsed owner (undefined owner when unreadable), or undefined when absent. */
async function readLock(path: string): Promise<{ text: string; owner: LockOwner | undefined } | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    const owner = JSON.parse(text) as LockOwner
    if (typeof owner?.pid !== 'number' || typeof owner.token !== 'string') return { text, owner: undefined }
    return { text, owner }
  } catch {
    return { text, owner: undefined }
  }
}

/** Who holds the lock, when its holder is alive; undefined when the lock is stale. */
async function describeHolder(held: LockOwner | undefined, self: LockOwner): Promise<string | undefined> {
  // The file is always complete when it appears (hard link of a written file): unreadable means damaged.
  if (held === undefined) return undefined
  if (held.token === self.token) return 'by this process'
  if (held.boot !== undefined && self.boot !== undefined && held.boot !== self.boot) return undefined
  if (held.pid === self.pid) return undefined // our pid, not our token: an earlier process
  if (!pidAlive(held.pid)) return undefined
  if (held.start !== undefined) {
    const start = await readStartTime(held.pid)
    if (start !== undefined && start !== held.start) return undefined
  }
  return `by pid ${held.pid} since ${new Date(held.at).toISOString()}`
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function readBootId(): Promise<string | undefined> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()
  } catch {
    return undefined
  }
}

/** Field 22 of `/proc/<pid>/stat` (after the parenthesised command name, which may hold spaces). */
async function readStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    return stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .at(19)
  } catch {
    return undefined
  }
}
