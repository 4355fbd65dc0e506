/**
 * Child process of lock.test.ts: opens store `s` in each folder given (with its durability),
 * commits `count` single-put batches to each, printing `acked <folder index> <seq>` once a
 * commit resolved, then prints `idle` and waits to be killed (SIGKILL: a process crash).
 * Run with `node --import ./test/support/register-ts.mjs`.
 */
import type { LmdbDurability } from '../../src/index.js'
import { lmdbPersistence } from '../../src/index.js'

const [spec, countText] = process.argv.slice(2)
const stores = JSON.parse(spec!) as { path: string; durability: LmdbDurability }[]
const backends = await Promise.all(
  stores.map(({ path, durability }) =>
    // syncInterval 0: in relaxed mode nothing is flushed before the kill.
    lmdbPersistence({ path, durability, syncInterval: 0 }).open('s', {
      fingerprint: 'fp-1',
      compatible: () => false,
    }),
  ),
)
console.log(`open ${process.pid}`)
for (let seq = 1; seq <= Number(countText); seq++) {
  await Promise.all(
    backends.map(async (backend, index) => {
      const deadline = seq % 2 === 0 ? 4_000_000_000_000 + seq : undefined
      await backend.commit([
        { kind: 'put', key: `k${seq}`, value: new TextEncoder().encode(`v${seq}`), seq, deadline },
      ])
      console.log(`acked ${index} ${seq}`)
    }),
  )
}
console.log('idle')
setInterval(() => {}, 60_000)
