/**
 * Child process of permissions.test.ts: opens store `s` in the folder given (fingerprint
 * `fp-1`) and prints one JSON line, `{ opened: lastSeq }` or the error's name, code and
 * message. The test starts it as an unprivileged user when it runs as root.
 * Run with `node --import ./test/support/register-ts.mjs`.
 */
import { isConcordError } from '@concord/core'
import { lmdbPersistence } from '../../src/index.js'

const persistence = lmdbPersistence({ path: process.argv[2]! })
try {
  const backend = await persistence.open('s', { fingerprint: 'fp-1', compatible: () => false })
  console.log(JSON.stringify({ opened: backend.recovered.lastSeq }))
} catch (error) {
  const { name, message } = error as Error
  console.log(JSON.stringify({ name, code: isConcordError(error) ? error.code : undefined, message }))
} finally {
  await persistence.close()
}
