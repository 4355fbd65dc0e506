/**
 * S3.3 with a real write failure: a hub whose LMDB file cannot grow (the child process runs
 * under a file size limit, `ulimit -f`, so LMDB's page writes past it fail with EFBIG as they
 * would with ENOSPC on a full disk) refuses the batch that does not fit with PersistenceError
 * and keeps serving; everything acknowledged before is on disk.
 */
import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { opts, runChild, supportCommand, useScratch } from './helpers.js'

const scratch = useScratch()

/** Runs full-disk-child.ts in `path` with files limited to 1 MiB (2048 blocks of 512 bytes, POSIX sh). */
function runLimited(path: string, durability: string) {
  return runChild([
    'sh',
    '-c',
    'ulimit -f 2048 && exec "$@"',
    'sh',
    ...supportCommand('full-disk-child.ts', path, durability),
  ])
}

describe('a full disk under an LMDB hub', () => {
  for (const durability of ['sync', 'relaxed'] as const) {
    it(`S3.3 S9.2 (${durability}) refuses the batch that does not fit with PersistenceError; the hub keeps serving, acknowledged writes stay`, async () => {
      const path = await scratch.dir()
      const run = await runLimited(path, durability)
      // An unhandled rejection inside lmdb-js ended the process here ('sync').
      expect(run.code, run.stderr).toBe(0)
      const seen = run.result as { refused: { message: string }; acked: number }
      expect(seen.refused).toMatchObject({ name: 'PersistenceError', code: 'ERR_PERSISTENCE' })
      expect(seen.refused.message).toMatch(/failed, nothing applied: File too large/)
      expect(seen.acked).toBeGreaterThan(100)
      expect(seen).toMatchObject({
        reads: true,
        lateSize: seen.acked,
        masterSeq: seen.acked,
        persistenceFailures: 1,
      })
      const backend = await scratch.persistence({ path }).open('kv', opts(t.string().fingerprint))
      expect(backend.recovered.lastSeq).toBe(seen.acked)
      expect(backend.size()).toBe(seen.acked)
    })
  }
})
