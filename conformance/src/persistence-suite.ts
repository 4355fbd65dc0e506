import {
  type CommitOp,
  type OpenBackendOptions,
  type Persistence,
  PersistenceError,
  type StoreBackend,
  type StoredEntry,
} from '@concord/core'
import { describe, expect, it } from 'vitest'
import type { PersistenceEnv, SuiteOptions } from './env.js'
import { expectPersistenceCapabilities, probe, useHarness } from './harness.js'
import { settle } from './helpers.js'

const FP_A = 'conformance-fingerprint-a'
const FP_B = 'conformance-fingerprint-b'

const opts = (
  fingerprint = FP_A,
  compatible = (stored: string) => stored === fingerprint,
): OpenBackendOptions => ({
  fingerprint,
  compatible,
})
const val = (s: string) => new TextEncoder().encode(s)
const str = (b: Uint8Array) => new TextDecoder().decode(b)
const put = (key: string, value: string, seq: number, deadline?: number): CommitOp => ({
  kind: 'put',
  key,
  value: val(value),
  seq,
  deadline,
})
const remove = (key: string, seq: number): CommitOp => ({ kind: 'remove', key, seq })
const clear = (seq: number): CommitOp => ({ kind: 'clear', seq })

/** Every committed entry of a backend, through a snapshot cursor, as `key -> value@seq`. */
function dump(backend: StoreBackend, prefix = ''): Map<string, string> {
  const cursor = backend.snapshot(prefix)
  const out = new Map<string, string>()
  try {
    for (let rows = cursor.next(100, 1 << 30); rows.length > 0; rows = cursor.next(100, 1 << 30)) {
      for (const [key, entry] of rows) {
        expect(out.has(key)).toBe(false)
        out.set(key, `${str(entry.value)}@${entry.seq}`)
      }
    }
  } finally {
    cursor.close()
  }
  return out
}

const sortedDeadlines = (backend: StoreBackend) =>
  [...backend.deadlines()].map(([k, d]) => [k, d] as const).sort(([a], [b]) => (a < b ? -1 : 1))

/**
 * The persistence suite: the `Persistence` port itself (docs/custom-persistence.md), with no
 * hub on top. Values are opaque bytes here.
 */
export function persistenceSuite<E extends PersistenceEnv>(options: SuiteOptions<E>): void {
  describe(options.name, async () => {
    const probed = await probe(options)
    const caps = probed.persistence!
    const h = useHarness(options)
    const env = () => h().env
    const instance = (): Persistence => h().persistence()

    /** Opens `store` on a fresh instance, as a restarted process would. */
    const reopen = async (previous: Persistence | undefined, store: string, options = opts()) => {
      await previous?.close()
      const persistence = instance()
      return { persistence, backend: await persistence.open(store, options) }
    }

    describe('persistence suite', () => {
      it('S6.4 S9.2 the persistence declares well-formed capabilities', () => {
        const persistence = instance()
        expectPersistenceCapabilities(persistence.capabilities)
        expect(persistence.capabilities).toEqual(caps)
      })

      it('S6.4 a new store opens empty', async () => {
        const backend = await instance().open('fresh', opts())
        expect(backend.recovered.epochs).toEqual([])
        expect(backend.recovered.lastSeq).toBe(0)
        expect(backend.size()).toBe(0)
        expect(backend.get('a')).toBeUndefined()
        expect([...backend.deadlines()]).toEqual([])
        expect(dump(backend)).toEqual(new Map())
      })

      it('S6.4 a commit applies its ops in order, and reads see exactly the result', async () => {
        const backend = await instance().open('s', opts())
        await backend.commit([
          put('a', '1', 1),
          put('b', '2', 2),
          remove('a', 3),
          put('c', '3', 4, 5000),
          put('b', '4', 5),
        ])
        expect(backend.get('a')).toBeUndefined()
        const b = backend.get('b') as StoredEntry
        expect(str(b.value)).toBe('4')
        expect(b.seq).toBe(5)
        expect(b.deadline).toBeUndefined()
        expect(backend.get('c')?.deadline).toBe(5000)
        expect(backend.size()).toBe(2)
        expect(dump(backend)).toEqual(
          new Map([
            ['b', '4@5'],
            ['c', '3@4'],
          ]),
        )
        await backend.commit([put('d', '5', 6), clear(7), put('e', '6', 8)])
        expect(dump(backend)).toEqual(new Map([['e', '6@8']]))
        expect(backend.size()).toBe(1)
        expect([...backend.deadlines()]).toEqual([])
      })

      it('S6.4 commits apply in the order they were made', async () => {
        const backend = await instance().open('s', opts())
        let seq = 0
        for (let i = 0; i < 20; i++)
          await backend.commit([put('k', `v${i}`, ++seq), put(`k${i}`, 'x', ++seq)])
        expect(str(backend.get('k')!.value)).toBe('v19')
        expect(backend.get('k')!.seq).toBe(39)
        expect(backend.size()).toBe(21)
      })

      it('S4.1 deadlines() lists exactly the committed entries that have a deadline', async () => {
        const backend = await instance().open('s', opts())
        await backend.commit([
          put('a', '1', 1, 100),
          put('b', '2', 2, 200),
          put('c', '3', 3),
          put('d', '4', 4, 400),
        ])
        expect(sortedDeadlines(backend)).toEqual([
          ['a', 100],
          ['b', 200],
          ['d', 400],
        ])
        await backend.commit([put('a', '1', 5), remove('b', 6), put('c', '3', 7, 700), put('d', '4', 8, 800)])
        expect(sortedDeadlines(backend)).toEqual([
          ['c', 700],
          ['d', 800],
        ])
      })

      it('S6.4 S4.4 committed entries, deadlines, the last seq and epochs survive a new instance over the same data', async () => {
        const first = instance()
        const backend = await first.open('s', opts())
        await backend.beginEpoch({ epoch: 'e1', startSeq: 0, at: 1000 })
        await backend.commit([put('a', '1', 1, 9000), put('b', '2', 2), remove('b', 3)])
        await backend.beginEpoch({ epoch: 'e2', startSeq: 3, at: 2000 })
        await backend.commit([put('c', '3', 4)])
        await backend.close()
        const { backend: again } = await reopen(first, 's')
        expect(again.recovered.lastSeq).toBe(4)
        expect(again.recovered.epochs).toEqual([
          { epoch: 'e1', startSeq: 0, at: 1000 },
          { epoch: 'e2', startSeq: 3, at: 2000 },
        ])
        expect(dump(again)).toEqual(
          new Map([
            ['a', '1@1'],
            ['c', '3@4'],
          ]),
        )
        expect(again.get('a')?.deadline).toBe(9000)
        expect(sortedDeadlines(again)).toEqual([['a', 9000]])
      })

      it('S6.4 stores are independent of each other', async () => {
        const persistence = instance()
        const one = await persistence.open('one', opts())
        const two = await persistence.open('two', opts(FP_B))
        await one.commit([put('k', 'one', 1)])
        await two.commit([put('k', 'two', 1), put('j', 'two', 2)])
        expect(str(one.get('k')!.value)).toBe('one')
        expect(one.size()).toBe(1)
        expect(two.size()).toBe(2)
        await one.close()
        await two.close()
        const { persistence: next, backend: oneAgain } = await reopen(persistence, 'one')
        expect(oneAgain.recovered.lastSeq).toBe(1)
        const twoAgain = await next.open('two', opts(FP_B))
        expect(twoAgain.recovered.lastSeq).toBe(2)
      })

      if (probed.has.failCommits) {
        it('S3.3 a failed commit rejects with PersistenceError and applies nothing', async () => {
          const backend = await instance().open('s', opts())
          await backend.commit([put('a', '1', 1)])
          env().failCommits!(1)
          const error = await backend.commit([put('a', '2', 2), put('b', '3', 3)]).catch((e: unknown) => e)
          expect(error).toBeInstanceOf(PersistenceError)
          expect(dump(backend)).toEqual(new Map([['a', '1@1']]))
          await backend.commit([put('c', '4', 2)])
          expect(dump(backend)).toEqual(
            new Map([
              ['a', '1@1'],
              ['c', '4@2'],
            ]),
          )
        })
      }

      it('S2.7 a snapshot cursor returns bounded chunks, no key twice, then an empty array', async () => {
        const backend = await instance().open('s', opts())
        const ops: CommitOp[] = []
        for (let i = 0; i < 50; i++) ops.push(put(`k${String(i).padStart(2, '0')}`, 'x'.repeat(10), i + 1))
        await backend.commit(ops)
        const cursor = backend.snapshot('')
        const seen: string[] = []
        for (let rows = cursor.next(7, 1 << 20); rows.length > 0; rows = cursor.next(7, 1 << 20)) {
          expect(rows.length).toBeLessThanOrEqual(7)
          seen.push(...rows.map(([key]) => key))
        }
        expect(cursor.next(7, 1 << 20)).toEqual([])
        cursor.close()
        cursor.close()
        expect(new Set(seen).size).toBe(50)
        expect(seen).toHaveLength(50)
        // A byte bound stops a chunk once exceeded, but always returns something while entries remain.
        const bounded = backend.snapshot('')
        let total = 0
        for (let rows = bounded.next(100, 25); rows.length > 0; rows = bounded.next(100, 25)) {
          const sizes = rows.map(([, entry]) => entry.value.byteLength)
          expect(sizes.slice(0, -1).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(25)
          total += rows.length
        }
        expect(total).toBe(50)
        bounded.close()
        const tiny = backend.snapshot('')
        expect(tiny.next(100, 1)).toHaveLength(1)
        tiny.close()
      })

      it('S2.7 a snapshot cursor never misses a key present throughout, whatever is committed meanwhile', async () => {
        const backend = await instance().open('s', opts())
        const ops: CommitOp[] = []
        for (let i = 0; i < 40; i++) ops.push(put(`k${String(i).padStart(2, '0')}`, `v${i}`, i + 1))
        await backend.commit(ops)
        let seq = 40
        const cursor = backend.snapshot('')
        const seen: string[] = []
        let round = 0
        for (let rows = cursor.next(5, 1 << 20); rows.length > 0; rows = cursor.next(5, 1 << 20)) {
          seen.push(...rows.map(([key]) => key))
          round++
          // Remove keys ending in 7, add new ones, and rewrite keys ending in 3, between chunks.
          await backend.commit([
            remove(`k${round}7`, ++seq),
            put(`new${round}`, 'n', ++seq),
            put(`k${(round + 1) % 4}3`, 'rewritten', ++seq),
          ])
        }
        cursor.close()
        expect(new Set(seen).size).toBe(seen.length)
        const untouched = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`).filter(
          (key) => !key.endsWith('7'),
        )
        for (const key of untouched) expect(seen).toContain(key)
      })

      it('S2.6 a snapshot cursor with a prefix returns exactly the keys under it', async () => {
        const backend = await instance().open('s', opts())
        await backend.commit([put('a/1', '1', 1), put('a/2', '2', 2), put('ab', '3', 3), put('b/1', '4', 4)])
        expect([...dump(backend, 'a/').keys()].sort()).toEqual(['a/1', 'a/2'])
        expect([...dump(backend, 'zz').keys()]).toEqual([])
        expect([...dump(backend, '').keys()].sort()).toEqual(['a/1', 'a/2', 'ab', 'b/1'])
      })

      it('S9.2 an incompatible schema fingerprint fails open with PersistenceError naming it, and overwrites nothing', async () => {
        const first = instance()
        const backend = await first.open('s', opts(FP_A))
        await backend.beginEpoch({ epoch: 'e1', startSeq: 0, at: 1 })
        await backend.commit([put('a', '1', 1)])
        await backend.close()
        await first.close()
        const second = instance()
        const refused = await second
          .open(
            's',
            opts(FP_B, () => false),
          )
          .catch((e: unknown) => e)
        expect(refused).toBeInstanceOf(PersistenceError)
        expect((refused as PersistenceError).code).toBe('ERR_PERSISTENCE')
        expect((refused as PersistenceError).message).toContain(FP_A)
        const { persistence: third, backend: same } = await reopen(second, 's', opts(FP_A))
        expect(same.recovered.lastSeq).toBe(1)
        expect(same.recovered.epochs).toHaveLength(1)
        expect(dump(same)).toEqual(new Map([['a', '1@1']]))
        await same.close()
        const asked: string[] = []
        const { backend: evolved } = await reopen(
          third,
          's',
          opts(FP_B, (stored) => {
            asked.push(stored)
            return true
          }),
        )
        expect(asked).toEqual([FP_A])
        expect(dump(evolved)).toEqual(new Map([['a', '1@1']]))
      })

      if (probed.has.corrupt) {
        it('S9.2 corrupt data fails open with PersistenceError', async () => {
          const first = instance()
          const backend = await first.open('s', opts())
          await backend.commit([put('a', '1', 1)])
          await backend.close()
          await first.close()
          await env().corrupt!('s')
          const error = await instance()
            .open('s', opts())
            .catch((e: unknown) => e)
          expect(error).toBeInstanceOf(PersistenceError)
          expect((error as PersistenceError).message.length).toBeGreaterThan(0)
        })
      }

      it('S10.1 close is idempotent for backends and persistence; a closed persistence opens nothing', async () => {
        const persistence = instance()
        const backend = await persistence.open('s', opts())
        await backend.commit([put('a', '1', 1)])
        await Promise.all([backend.close(), backend.close()])
        await backend.close()
        await Promise.all([persistence.close(), persistence.close()])
        await persistence.close()
        expect((await settle(persistence.open('s', opts()))).ok).toBe(false)
      })

      it('S10.1 open honours an aborted signal', async () => {
        const controller = new AbortController()
        controller.abort()
        const result = await settle(instance().open('s', { ...opts(), signal: controller.signal }))
        expect(result.ok).toBe(false)
      })

      if (probed.has.crash && caps.crashable) {
        it('S6.4 a crash loses only what was not committed', async () => {
          const persistence = instance()
          const backend = await persistence.open('s', opts())
          await backend.commit([put('a', '1', 1)])
          const inFlight = settle(backend.commit([put('b', '2', 2)]))
          env().crash!()
          const outcome = await inFlight
          if (!outcome.ok) expect(outcome.error).toBeInstanceOf(PersistenceError)
          await backend.close()
          const { backend: again } = await reopen(persistence, 's')
          const expected = new Map([['a', '1@1']])
          if (outcome.ok) expected.set('b', '2@2')
          expect(dump(again)).toEqual(expected)
          expect(again.recovered.lastSeq).toBe(outcome.ok ? 2 : 1)
        })
      }
    })
  })
}
