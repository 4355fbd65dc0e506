import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CommitOp, OpenBackendOptions, StoreBackend } from '@concord/core'
import { afterEach } from 'vitest'

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

/** Every committed key with its decoded value, through a cursor. */
export function contents(backend: StoreBackend, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {}
  const cursor = backend.snapshot(prefix)
  for (let batch = cursor.next(100, Infinity); batch.length > 0; batch = cursor.next(100, Infinity)) {
    for (const [key, entry] of batch) out[key] = text(entry.value)!
  }
  cursor.close()
  return out
}

const folders: string[] = []

/** A fresh temporary folder, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'concord-sqlite-'))
  folders.push(dir)
  return dir
}

afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/**
 * Every file of `dir` with its bytes, to show that a failed open changed nothing. Lock files
 * count by name only: each open records its process in the lock file it takes.
 */
export function snapshotFolder(dir: string): Map<string, Buffer | 'lock file'> {
  return new Map(
    readdirSync(dir).map((name) => [
      name,
      name.endsWith('.lock') ? 'lock file' : readFileSync(join(dir, name)),
    ]),
  )
}
