import { mkdirSync, rmdirSync, type Stats, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { PersistenceError } from './errors.js'
import { describeThrown } from './util/describe.js'

/**
 * Makes the data folder `path` of a persistence, and the folders above it that are missing,
 * one `mkdir` each: a persistence adapter calls it before it opens a store's files. Throws
 * `PersistenceError` (`ERR_PERSISTENCE`) saying why when the folder cannot be made — a file
 * in the way, no permission, a file system that holds no folders (`/proc`, `/sys`) — and
 * then leaves no folder it made behind.
 *
 * Node's own `mkdir(path, { recursive: true })` is not used: on a file system whose `mkdir`
 * answers `ENOENT` although the parent exists (Linux's `/proc`), it tries the parent and the
 * folder again for ever, spinning the process (or a thread of libuv's pool), which then
 * ignores `SIGTERM`. This walks the path once: at most one `stat` and one `mkdir` a level.
 */
export function makeDataFolder(path: string): void {
  const target = resolve(path)
  const missing: string[] = []
  for (let at = target; ; ) {
    const found = statOrMissing(target, at)
    if (found === 'missing') {
      missing.push(at)
      const parent = dirname(at)
      // The root is there on any working system; a missing one is reported by mkdir below.
      if (parent === at) break
      at = parent
      continue
    }
    if (!found.isDirectory()) {
      throw new PersistenceError(`cannot use the data folder ${target}: it is a file, not a folder`)
    }
    break
  }
  const made: string[] = []
  for (const folder of missing.reverse()) {
    try {
      mkdirSync(folder)
      made.push(folder)
    } catch (error) {
      if (codeOf(error) === 'EEXIST' && isFolder(folder)) continue // made by someone else meanwhile
      for (const own of made.reverse()) {
        try {
          rmdirSync(own)
        } catch {
          // Someone put something in it meanwhile: it is theirs now.
        }
      }
      throw new PersistenceError(`cannot create the data folder ${target}: ${whyNot(folder, error)}`, {
        cause: error,
      })
    }
  }
}

function statOrMissing(target: string, at: string): Stats | 'missing' {
  try {
    return statSync(at)
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return 'missing'
    throw new PersistenceError(`cannot create the data folder ${target}: ${describeThrown(error)}`, {
      cause: error,
    })
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** What a failed `mkdir` of `folder` means, in words: ENOENT with the parent there is the puzzling one. */
function whyNot(folder: string, error: unknown): string {
  if (codeOf(error) === 'ENOENT' && isFolder(dirname(folder))) {
    return (
      `mkdir ${folder} failed with ENOENT although ${dirname(folder)} is a folder: ` +
      'that file system makes no folders (a virtual one such as /proc or /sys)'
    )
  }
  return describeThrown(error)
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code
}
