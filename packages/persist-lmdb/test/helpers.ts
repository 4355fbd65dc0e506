import { type SpawnOptions, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CommitOp, OpenBackendOptions, Persistence, StoreBackend } from '@concord/core'
import { afterEach } from 'vitest'
import { type LmdbPersistenceInit, lmdbPersistence } from '../src/index.js'

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
export const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value)

export const opts = (fingerprint = 'fp-1', compatible = (_: string) => false): OpenBackendOptions => ({
  fingerprint,
  compatible,
})

export const put = (key: string, value: string, seq: number, deadline?: number): CommitOp => ({
  kind: 'put',
  key,
  value: bytes(value),
  seq,
  deadline,
})

/** Every committed key with its decoded value, through a snapshot cursor. */
export function contents(backend: StoreBackend): Record<string, string> {
  const out: Record<string, string> = {}
  const cursor = backend.snapshot('')
  for (let batch = cursor.next(100, Infinity); batch.length > 0; batch = cursor.next(100, Infinity)) {
    for (const [key, entry] of batch) out[key] = text(entry.value)!
  }
  cursor.close()
  return out
}

/**
 * Fresh temporary folders and LMDB persistences for each test: persistences made through
 * `persistence()` are closed and folders removed after the test.
 */
export function useScratch(): {
  dir(): Promise<string>
  persistence(init: LmdbPersistenceInit): ReturnType<typeof lmdbPersistence>
  track<P extends Persistence>(persistence: P): P
} {
  const dirs: string[] = []
  const persistences: Persistence[] = []
  afterEach(async () => {
    await Promise.allSettled(persistences.splice(0).map((p) => p.close()))
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })
  return {
    async dir() {
      const dir = await mkdtemp(join(tmpdir(), 'concord-lmdb-'))
      dirs.push(dir)
      return dir
    },
    persistence(init) {
      const p = lmdbPersistence(init)
      persistences.push(p)
      return p
    },
    track(persistence) {
      persistences.push(persistence)
      return persistence
    },
  }
}

/** sha256 of every file in `dir` except LMDB's reader table and our lock: what S9.2 must leave alone. */
export async function fingerprintFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const name of (await readdir(dir)).sort()) {
    if (name.endsWith('-lock') || name.endsWith('.hub-lock')) continue
    out[name] = createHash('sha256')
      .update(await readFile(join(dir, name)))
      .digest('hex')
  }
  return out
}

const support = fileURLToPath(new URL('./support/', import.meta.url))

/** The command line that runs the TypeScript file `test/support/<file>` in a child Node process. */
export function supportCommand(file: string, ...args: string[]): string[] {
  return [process.execPath, '--import', join(support, 'register-ts.mjs'), join(support, file), ...args]
}

/**
 * Runs `command` to its end: its exit code, its output, and the JSON of its last line of
 * output (undefined when that is not JSON).
 */
export async function runChild(
  [command, ...args]: readonly string[],
  options: SpawnOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string; result: unknown }> {
  const child = spawn(command!, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  let result: unknown
  try {
    result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '')
  } catch {
    result = undefined
  }
  return { code, stdout, stderr, result }
}
