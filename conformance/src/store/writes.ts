import {
  AbortedError,
  ClosedError,
  ConflictError,
  ForbiddenError,
  PersistenceError,
  REMOVE,
  TooLargeError,
  UNCHANGED,
  UnavailableError,
  UnknownOperationError,
  UpdateError,
  type UpdateOp,
  ValidationError,
} from '@concord/core'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../harness.js'
import {
  cloneEntries,
  eventually,
  expectIncreasing,
  masterEntries,
  masterSeq,
  record,
  settle,
  total,
  within,
} from '../helpers.js'
import { Count, Ints, MaybeText, Point, Real, Reals, Scores, Tags, Text, Visit } from '../schemas.js'

/** S3: writing. */
export function writeTests({ h, probe }: SuiteContext): void {
  describe('S3 writing', () => {
    it('S3.1 a value that fails the schema rejects locally with ValidationError, each issue with its path; nothing is sent', async () => {
      const hub = await h().hub({ stores: { visits: { schema: Visit } } })
      const store = await (await h().node(hub)).open('visits', { schema: Visit })
      const seq = await store.put('ok', { name: 'a', hits: 1n })
      const bad = { name: 7, hits: 'many' } as unknown as { name: string; hits: bigint }
      for (const attempt of [store.put('x', bad), store.compareAndSet('x', 0, bad)]) {
        const error = await attempt.catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ValidationError)
        const validation = error as ValidationError
        expect(validation.code).toBe('ERR_SCHEMA_INVALID')
        const paths = validation.issues.map((issue) => issue.path)
        expect(paths.some((p) => p.includes('name'))).toBe(true)
        expect(paths.some((p) => p.includes('hits'))).toBe(true)
      }
      expect(store.has('x')).toBe(false)
      expect(masterSeq(hub, 'visits')).toBe(seq)
      expect(total(hub.metrics.writeErrors)).toBe(0)
      expect(await store.put('ok', { name: 'b', hits: 2n })).toBe(seq + 1)
    })

    it('S3.1 a key with a lone surrogate rejects locally with ValidationError; nothing is sent', async () => {
      // UTF-8 cannot carry it: sent, it would land on another key (U+FFFD in its place).
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const seq = await store.put('ok', 'fine')
      for (const key of ['a\ud800', `${'x'.repeat(70)}\udc00`, '\udc00\ud800']) {
        for (const attempt of [
          store.put(key, 'v'),
          store.remove(key),
          store.update(key, 'v', { op: 'append' }),
          store.compareAndSet(key, 0, 'v'),
        ]) {
          const error = await attempt.catch((e: unknown) => e)
          expect(error).toBeInstanceOf(ValidationError)
          expect((error as ValidationError).code).toBe('ERR_SCHEMA_INVALID')
          expect((error as ValidationError).message).toMatch(/invalid key: .*lone surrogate/)
        }
      }
      // A well-formed pair is a key like any other.
      expect(await store.put('emoji \ud83d\ude00', 'v')).toBe(seq + 1)
      expect(store.get('emoji \ud83d\ude00')).toBe('v')
      expect(masterSeq(hub, 'kv')).toBe(seq + 1)
      expect(total(hub.metrics.writeErrors)).toBe(0)
      expect([...store.keys()].sort()).toEqual(['emoji \ud83d\ude00', 'ok'])
    })

    it('S3.1 S3.5 an update delta with a lone surrogate rejects locally with ValidationError at its path; nothing is sent', async () => {
      // UTF-8 cannot carry it: sent, it would be stored with U+FFFD in its place.
      const hub = await h().hub({
        stores: { kv: { schema: Text }, tags: { schema: Tags }, visits: { schema: Visit } },
      })
      const node = await h().node(hub)
      const kv = await node.open('kv', { schema: Text })
      const tags = await node.open('tags', { schema: Tags })
      const visits = await node.open('visits', { schema: Visit })
      const seq = await kv.put('ok', 'fine')
      const attempts: [Promise<unknown>, string][] = [
        [kv.update('a', 'a\ud800', { op: 'putIfAbsent' }), ''],
        [kv.update('ok', `${'x'.repeat(70)}\udc00`, { op: 'append' }), ''],
        [tags.update('t', '\udc00\ud800', { op: 'insertInto' }), ''],
        [tags.update('t', new Set(['fine', 'b\ud800']), { op: 'putIfAbsent' }), '[1]'],
        [visits.update('v', { name: 'a\ud800', hits: 1n }, { op: 'putIfAbsent' }), 'name'],
        [visits.update('v', { '\ud800': 'x' }, { op: 'putIfAbsent' }), '["\\ud800"]'],
      ]
      for (const [attempt, path] of attempts) {
        const error = await attempt.catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ValidationError)
        expect((error as ValidationError).code).toBe('ERR_SCHEMA_INVALID')
        expect((error as ValidationError).issues).toEqual([
          { path, code: 'format', message: expect.stringMatching(/lone surrogate at index \d+/) },
        ])
      }
      // A well-formed pair is text like any other.
      expect(await kv.update('e', 'emoji \ud83d\ude00', { op: 'putIfAbsent' })).toBe(true)
      expect(kv.get('e')).toBe('emoji \ud83d\ude00')
      expect(masterSeq(hub, 'kv')).toBe(seq + 1)
      expect(masterSeq(hub, 'tags') + masterSeq(hub, 'visits')).toBe(0)
      expect(total(hub.metrics.writeErrors)).toBe(0)
      expect(kv.get('ok')).toBe('fine')
    })

    it('S3.5 -0 in an update delta arrives as -0, as a put of -0 does', async () => {
      const hub = await h().hub({
        stores: { d: { schema: Real }, v: { schema: Reals }, p: { schema: Point } },
      })
      const node = await h().node(hub)
      const d = await node.open('d', { schema: Real })
      const v = await node.open('v', { schema: Reals })
      const p = await node.open('p', { schema: Point })
      await d.put('put', -0)
      expect(await d.update('putIfAbsent', -0, { op: 'putIfAbsent' })).toBe(true)
      await v.update('push', -0, { op: 'push' })
      await v.update('append', [-0, 1.5], { op: 'append' })
      await p.update('record', { x: -0 }, { op: 'putIfAbsent' })
      const late = await h().node(hub)
      for (const [store, schema] of [
        [d, Real],
        [await late.open('d', { schema: Real }), Real],
      ] as const) {
        expect(Object.is(store.get('put'), -0)).toBe(true)
        expect(Object.is(store.get('putIfAbsent'), -0)).toBe(true)
        expect(Object.is(masterEntries(hub, 'd', schema).get('putIfAbsent'), -0)).toBe(true)
      }
      expect(v.get('push')).toEqual([-0])
      expect(v.get('append')).toEqual([-0, 1.5])
      expect(p.get('record')).toEqual({ x: -0 })
      expect((await late.open('v', { schema: Reals })).get('append')).toEqual([-0, 1.5])
    })

    it('S3.3 a key or value over the size limit rejects locally with TooLargeError; writes sent with it succeed', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const huge = 'k'.repeat(17 * 2 ** 20) // past any frame limit the environments use
      const results = await Promise.all([
        settle(store.put('before', 'x')),
        settle(store.put(huge, 'x')),
        settle(store.remove(huge)),
        settle(store.put('big', huge)),
        settle(store.put('after', 'y')),
      ])
      for (const i of [1, 2, 3]) {
        const result = results[i]!
        expect(!result.ok && result.error instanceof TooLargeError).toBe(true)
      }
      expect(results[0]!.ok && results[4]!.ok).toBe(true)
      expect(store.get('before')).toBe('x')
      expect(store.get('after')).toBe('y')
      expect(store.has('big')).toBe(false)
    })

    it('S3.1 put, remove, update, compareAndSet and clear are asynchronous', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const calls = [
        store.put('a', '1'),
        store.update('a', '2', { op: 'append' }),
        store.compareAndSet('b', 0, '3'),
        store.remove('a'),
        store.clear(),
      ]
      for (const call of calls) expect(call).toBeInstanceOf(Promise)
      await Promise.all(calls)
    })

    it('S3.2 the local state changes when the broadcast is applied, not when the call is made; the write resolves to its seq', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const other = await (await h().node(hub)).open('kv', { schema: Text })
      const pending = store.put('a', 'one')
      expect(store.has('a')).toBe(false)
      const seq = await pending
      expect(store.get('a')).toBe('one')
      expect(store.seqOf('a')).toBe(seq)
      expect(store.seq).toBeGreaterThanOrEqual(seq)
      expect(seq).toBe(masterSeq(hub, 'kv'))
      await eventually(() => expect(other.get('a')).toBe('one'))
    })

    it('S3.2 seqs start at 1 and number every mutation', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      expect(await store.put('a', '1')).toBe(1)
      expect(await store.put('b', '2')).toBe(2)
      expect(await store.update('a', '+', { op: 'append' })).toBe(3)
      expect(await store.remove('a')).toBe(4)
      expect(await store.clear()).toBe(5)
    })

    it('S3.2 after a write resolves, get shows it or a later write', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const a = await (await h().node(hub)).open('kv', { schema: Text })
      const b = await (await h().node(hub)).open('kv', { schema: Text })
      const check = async (store: typeof a, value: string) => {
        const seq = await store.put('k', value)
        expect(store.seqOf('k')).toBeGreaterThanOrEqual(seq)
        if (store.seqOf('k') === seq) expect(store.get('k')).toBe(value)
      }
      await Promise.all(Array.from({ length: 40 }, (_, i) => check(i % 2 === 0 ? a : b, `v${i}`)))
    })

    it('S3.2 reached(seq) resolves once another clone has applied a write: read your writes across nodes', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      const reader = await (await h().node(hub)).open('kv', { schema: Text })
      await reader.reached(0)
      const seqs = await Promise.all(Array.from({ length: 20 }, (_, i) => writer.put(`k${i}`, `v${i}`)))
      const last = Math.max(...seqs)
      await reader.reached(last)
      expect(reader.seq).toBeGreaterThanOrEqual(last)
      expect(reader.get('k19')).toBe('v19')
      expect(reader.size).toBe(20)

      const later = reader.reached(last + 1)
      const aborted = new AbortController()
      const never = reader.reached(last + 1000, { signal: aborted.signal })
      aborted.abort()
      await expect(never).rejects.toBeInstanceOf(AbortedError)
      await expect(reader.reached(1, { signal: aborted.signal })).rejects.toBeInstanceOf(AbortedError)
      await expect(reader.reached(-1)).rejects.toBeInstanceOf(RangeError)
      await writer.put('next', 'n')
      await later
      expect(reader.get('next')).toBe('n')

      const closed = reader.reached(last + 1000)
      await reader.close()
      await expect(closed).rejects.toBeInstanceOf(ClosedError)
      await expect(reader.reached(0)).rejects.toBeInstanceOf(ClosedError)
    })

    it('S3.3 an update whose callback throws a ConflictError rejects with it at once, whatever seq it names', async () => {
      const versioned: UpdateOp = () => {
        throw new ConflictError('version mismatch', 1_000_000)
      }
      const hub = await h().hub({ stores: { kv: { schema: Text, ops: { versioned } } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await store.put('a', 'one')
      const error = await within(
        store.update('a', 'x', { op: 'versioned' }).catch((e: unknown) => e),
        5_000,
        'the refused update',
      )
      expect(error).toBeInstanceOf(ConflictError)
      expect((error as ConflictError).message).toMatch(/version mismatch/)
      expect((error as ConflictError).actualSeq).toBeUndefined()
      expect(store.get('a')).toBe('one')
    })

    it('S3.3 an update whose callback throws rejects with UpdateError; nothing changes and nothing is broadcast', async () => {
      const boom: UpdateOp = () => {
        throw new Error('boom')
      }
      const hub = await h().hub({ stores: { kv: { schema: Text, ops: { boom } } } })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      const observer = await (await h().node(hub)).open('kv', { schema: Text })
      const seq = await writer.put('a', 'one')
      await eventually(() => expect(observer.seq).toBe(seq))
      const changes = record(observer.changes())
      const error = await writer.update('a', 'x', { op: 'boom' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UpdateError)
      expect((error as UpdateError).code).toBe('ERR_UPDATE_FAILED')
      expect(writer.get('a')).toBe('one')
      expect(masterSeq(hub, 'kv')).toBe(seq)
      expect(hub.metrics.writeErrors.ERR_UPDATE_FAILED).toBe(1)
      await writer.put('sentinel', 's')
      await eventually(() => expect(observer.has('sentinel')).toBe(true))
      expect(changes.items.map((c) => c.key)).toEqual(['sentinel'])
    })

    it('S3.3 an update callback throwing something that is hard to describe still rejects with UpdateError', async () => {
      const thrown: Record<string, () => unknown> = {
        getter: () => ({
          get message(): string {
            throw new Error('no message for you')
          },
        }),
        bare: () => Object.create(null),
        symbol: () => Symbol('boom'),
        nothing: () => undefined,
        // A Concord error that is no decision of the op's would tell the writer something
        // false (a ClosedError: its node closed; an UnavailableError: maybe applied).
        closed: () => new ClosedError('the op closed something of its own'),
        unavailable: () => new UnavailableError('the op could not reach something'),
      }
      const ops = Object.fromEntries(
        Object.entries(thrown).map(([name, make]): [string, UpdateOp] => [
          name,
          () => {
            throw make()
          },
        ]),
      )
      const hub = await h().hub({ stores: { kv: { schema: Text, ops } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const seq = await store.put('a', 'one')
      for (const op of Object.keys(ops)) {
        const error = await store.update('a', 'x', { op }).catch((e: unknown) => e)
        expect(error, op).toBeInstanceOf(UpdateError)
        expect((error as UpdateError).message, op).toContain(`update '${op}' on 'a' failed`)
      }
      expect(store.get('a')).toBe('one')
      expect(masterSeq(hub, 'kv')).toBe(seq)
      expect(hub.metrics.writeErrors.ERR_UPDATE_FAILED).toBe(6)
    })

    it('S3.3 S3.5 an update callback may refuse with ForbiddenError or ValidationError, which reach the writer as they are', async () => {
      const ops: Record<string, UpdateOp> = {
        deny: (_current, _delta, ctx) => {
          throw new ForbiddenError(`'${ctx.identity}' may not do this`)
        },
        invalid: () => {
          throw new ValidationError([{ path: '', code: 'type', message: 'not like this' }])
        },
      }
      const hub = await h().hub({ stores: { kv: { schema: Text, ops } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const seq = await store.put('a', 'one')
      expect(await store.update('a', 'x', { op: 'deny' }).catch((e: unknown) => e)).toBeInstanceOf(
        ForbiddenError,
      )
      expect(await store.update('a', 'x', { op: 'invalid' }).catch((e: unknown) => e)).toBeInstanceOf(
        ValidationError,
      )
      expect(masterSeq(hub, 'kv')).toBe(seq)
    })

    it('S3.3 S3.5 an update whose result fails the schema rejects with ValidationError; nothing changes', async () => {
      const wrong: UpdateOp = () => 'not a count'
      const hub = await h().hub({ stores: { hits: { schema: Count, ops: { wrong } } } })
      const store = await (await h().node(hub)).open('hits', { schema: Count })
      const seq = await store.put('a', 1n)
      const error = await store.update('a', 1n, { op: 'wrong' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ValidationError)
      expect(store.get('a')).toBe(1n)
      expect(masterSeq(hub, 'hits')).toBe(seq)
    })

    if (probe.has.failCommits) {
      it('S3.3 a persistence failure rejects the write with PersistenceError; nothing changes or is broadcast; later writes work', async () => {
        const hub = await h().hub({ stores: { kv: { schema: Text } } })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        const observer = await (await h().node(hub)).open('kv', { schema: Text })
        const seq = await writer.put('a', 'one')
        await eventually(() => expect(observer.seq).toBe(seq))
        const changes = record(observer.changes())
        h().env.failCommits!(1)
        const error = await writer.put('a', 'two').catch((e: unknown) => e)
        expect(error).toBeInstanceOf(PersistenceError)
        expect((error as PersistenceError).code).toBe('ERR_PERSISTENCE')
        expect(writer.get('a')).toBe('one')
        expect(masterSeq(hub, 'kv')).toBe(seq)
        expect(masterEntries(hub, 'kv', Text)).toEqual(new Map([['a', 'one']]))
        expect(await writer.put('b', 'three')).toBe(seq + 1)
        await eventually(() => expect(observer.has('b')).toBe(true))
        expect(changes.items.map((c) => `${c.key}=${c.value}`)).toEqual(['b=three'])
        expect(observer.get('a')).toBe('one')
      })
    }

    if (probe.has.failCommits) {
      it('S3.3 S3.6 a compareAndSet refused on a write whose commit then fails rejects with that PersistenceError', async () => {
        // Issued in one turn: the first is applied (not committed yet) and the second loses
        // to it; the commit fails, so the second never lost to anything that survived.
        const hub = await h().hub({ stores: { kv: { schema: Text } } })
        const store = await (await h().node(hub)).open('kv', { schema: Text })
        const first = await store.put('k', 'start')
        h().env.failCommits!(1)
        const results = await Promise.all([
          settle(store.compareAndSet('k', first, 'a')),
          settle(store.compareAndSet('k', first, 'b')),
        ])
        for (const result of results) {
          expect(!result.ok && result.error instanceof PersistenceError).toBe(true)
        }
        expect(store.get('k')).toBe('start')
        expect(store.seqOf('k')).toBe(first)
        // The seq the failed commit would have used goes to the next write, on another key.
        const next = await store.put('other', 'x')
        expect(next).toBe(first + 1)
        expect(await store.compareAndSet('k', first, 'c')).toBe(first + 2)
      })
    }

    it('S3.6 a compareAndSet that loses to a write of the same turn is refused with that write seq, once its clone shows it', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const first = await store.put('k', 'start')
      const [won, lost] = await Promise.all([
        settle(store.compareAndSet('k', first, 'a')),
        settle(store.compareAndSet('k', first, 'b')),
      ])
      expect(won.ok && won.value).toBe(first + 1)
      const conflict = !lost.ok ? lost.error : undefined
      expect(conflict).toBeInstanceOf(ConflictError)
      expect((conflict as ConflictError).actualSeq).toBe(first + 1)
      expect(store.get('k')).toBe('a')
      expect(store.seqOf('k')).toBe(first + 1)
    })

    it('S3.4 every clone applies every mutation in the same order, the master seq order', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const stores = await Promise.all(
        [0, 1, 2].map(async () => (await h().node(hub)).open('kv', { schema: Text })),
      )
      const logs = stores.map((store) => record(store.changes()))
      await Promise.all(
        stores.map((store, n) =>
          Promise.all(Array.from({ length: 30 }, (_, i) => store.put(`k${i % 5}`, `${n}:${i}`))),
        ),
      )
      const last = masterSeq(hub, 'kv')
      // Wait for the consumers too: they read their iterators after the stores applied.
      await eventually(() => {
        for (const store of stores) expect(store.seq).toBe(last)
        for (const log of logs) expect(log.items).toHaveLength(90)
      })
      const seen = logs.map((log) => log.items.map((c) => `${c.seq} ${c.key}=${c.value}`))
      expect(seen[1]).toEqual(seen[0])
      expect(seen[2]).toEqual(seen[0])
      expectIncreasing(logs[0]!.items.map((c) => c.seq))
      for (const store of stores) expect(cloneEntries(store)).toEqual(masterEntries(hub, 'kv', Text))
    })

    it('S3.4 writes from one clone are applied in the order they were issued', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const seqs = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          i % 10 === 9 ? store.remove('k') : store.put(i % 3 === 0 ? 'k' : `k${i}`, `v${i}`),
        ),
      )
      expectIncreasing(seqs)
      expect(seqs[49]! - seqs[0]!).toBe(49)
      await store.put('k', 'last')
      expect(store.get('k')).toBe('last')
    })

    it('S3.5 increment and decrement', async () => {
      const hub = await h().hub({ stores: { hits: { schema: Count } } })
      const store = await (await h().node(hub)).open('hits', { schema: Count })
      await store.update('a', 5n, { op: 'increment' })
      expect(store.get('a')).toBe(5n)
      await store.update('a', 2n, { op: 'increment' })
      await store.update('a', 3n, { op: 'decrement' })
      expect(store.get('a')).toBe(4n)
    })

    it('S3.5 append to strings and vectors', async () => {
      const hub = await h().hub({ stores: { text: { schema: Text }, ints: { schema: Ints } } })
      const node = await h().node(hub)
      const text = await node.open('text', { schema: Text })
      const ints = await node.open('ints', { schema: Ints })
      await text.update('a', 'ab', { op: 'append' })
      await text.update('a', 'cd', { op: 'append' })
      expect(text.get('a')).toBe('abcd')
      await ints.update('v', [1n, 2n], { op: 'append' })
      await ints.update('v', [3n], { op: 'append' })
      expect(ints.get('v')).toEqual([1n, 2n, 3n])
    })

    it('S3.5 insertInto and removeFrom on sets', async () => {
      const hub = await h().hub({ stores: { tags: { schema: Tags } } })
      const tags = await (await h().node(hub)).open('tags', { schema: Tags })
      await tags.update('t', 'x', { op: 'insertInto' })
      await tags.update('t', 'y', { op: 'insertInto' })
      expect(tags.get('t')).toEqual(new Set(['x', 'y']))
      await tags.update('t', 'x', { op: 'removeFrom' })
      expect(tags.get('t')).toEqual(new Set(['y']))
    })

    it('S3.5 insertInto and removeFrom on tables', async () => {
      const hub = await h().hub({ stores: { scores: { schema: Scores } } })
      const scores = await (await h().node(hub)).open('scores', { schema: Scores })
      await scores.put('existing', new Map([['a', 1n]]))
      await scores.update('existing', ['b', 2n], { op: 'insertInto' })
      expect(scores.get('existing')).toEqual(
        new Map([
          ['a', 1n],
          ['b', 2n],
        ]),
      )
      await scores.update('existing', 'a', { op: 'removeFrom' })
      expect(scores.get('existing')).toEqual(new Map([['b', 2n]]))
      // From an absent key, as a set starts empty: the table is created.
      await scores.update('fresh', ['a', 1n], { op: 'insertInto' })
      expect(scores.get('fresh')).toEqual(new Map([['a', 1n]]))
    })

    it('S3.5 push and pop on vectors', async () => {
      const hub = await h().hub({ stores: { ints: { schema: Ints } } })
      const ints = await (await h().node(hub)).open('ints', { schema: Ints })
      await ints.update('v', 1n, { op: 'push' })
      await ints.update('v', 2n, { op: 'push' })
      expect(ints.get('v')).toEqual([1n, 2n])
      await ints.update('v', undefined, { op: 'pop' })
      expect(ints.get('v')).toEqual([1n])
    })

    it('S3.5 putIfAbsent resolves to whether it inserted', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      expect(await store.update('a', 'first', { op: 'putIfAbsent' })).toBe(true)
      const seq = masterSeq(hub, 'kv')
      expect(await store.update('a', 'second', { op: 'putIfAbsent' })).toBe(false)
      expect(store.get('a')).toBe('first')
      expect(masterSeq(hub, 'kv')).toBe(seq)
    })

    it('S3.5 putIfAbsent counts a key holding undefined as present, in a store whose schema allows it', async () => {
      const hub = await h().hub({ stores: { kv: { schema: MaybeText } } })
      const store = await (await h().node(hub)).open('kv', { schema: MaybeText })
      expect(await store.update('a', undefined, { op: 'putIfAbsent' })).toBe(true)
      expect(store.has('a')).toBe(true)
      const seq = masterSeq(hub, 'kv')
      expect(await store.update('a', 'second', { op: 'putIfAbsent' })).toBe(false)
      expect(store.get('a', 'fallback')).toBeUndefined()
      expect(masterSeq(hub, 'kv')).toBe(seq)
    })

    it('S3.5 user ops registered on the master run there with their context, and their result is broadcast as a plain put', async () => {
      const calls: string[] = []
      const max: UpdateOp = (current, delta, ctx) => {
        calls.push(`${ctx.store}/${ctx.key}`)
        return current === undefined || (delta as bigint) > (current as bigint) ? delta : UNCHANGED
      }
      const drop: UpdateOp = () => REMOVE
      const hub = await h().hub({ stores: { hits: { schema: Count, ops: { max, drop } } } })
      const writer = await (await h().node(hub)).open('hits', { schema: Count })
      const observer = await (await h().node(hub)).open('hits', { schema: Count })
      const changes = record(observer.changes())
      await writer.update('a', 5n, { op: 'max' })
      await writer.update('a', 3n, { op: 'max' })
      expect(writer.get('a')).toBe(5n)
      await writer.update('a', 9n, { op: 'max' })
      expect(writer.get('a')).toBe(9n)
      await writer.update('a', null, { op: 'drop' })
      expect(writer.has('a')).toBe(false)
      await eventually(() => expect(changes.items).toHaveLength(3))
      expect(changes.items.map((c) => [c.kind, c.value])).toEqual([
        ['put', 5n],
        ['put', 9n],
        ['remove', undefined],
      ])
      expect(calls).toEqual(['hits/a', 'hits/a', 'hits/a'])
    })

    it('S3.5 an unknown op rejects with UnknownOperationError, and nothing changes', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const seq = await store.put('a', 'one')
      const error = await store.update('a', 'x', { op: 'noSuchOp' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UnknownOperationError)
      expect((error as UnknownOperationError).code).toBe('ERR_UNKNOWN_OPERATION')
      expect(store.get('a')).toBe('one')
      expect(masterSeq(hub, 'kv')).toBe(seq)
    })

    it('S3.3 S3.5 a built-in op that does not apply to the value rejects with a typed error; nothing changes', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const seq = await store.put('a', 'text')
      const error = await store.update('a', 1n, { op: 'increment' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UpdateError)
      expect(store.get('a')).toBe('text')
      expect(masterSeq(hub, 'kv')).toBe(seq)
    })

    it('S3.6 compareAndSet applies when the key was last written at expectedSeq', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const seq = await store.put('a', 'one')
      expect(store.seqOf('a')).toBe(seq)
      const next = await store.compareAndSet('a', store.seqOf('a'), 'two')
      expect(next).toBeGreaterThan(seq)
      expect(store.get('a')).toBe('two')
      expect(store.seqOf('a')).toBe(next)
    })

    it('S3.6 compareAndSet with another seq rejects with ConflictError and changes nothing', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const first = await store.put('a', 'one')
      const second = await store.put('a', 'two')
      const error = await store.compareAndSet('a', first, 'three').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConflictError)
      expect((error as ConflictError).code).toBe('ERR_CONFLICT')
      expect((error as ConflictError).actualSeq).toBe(second)
      expect(store.get('a')).toBe('two')
      expect(masterSeq(hub, 'kv')).toBe(second)
    })

    it('S3.6 expectedSeq 0 means the key is absent', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      expect(store.seqOf('a')).toBe(0)
      await store.compareAndSet('a', 0, 'created')
      expect(store.get('a')).toBe('created')
      await expect(store.compareAndSet('a', 0, 'again')).rejects.toBeInstanceOf(ConflictError)
      await store.remove('a')
      await store.compareAndSet('a', 0, 'recreated')
      expect(store.get('a')).toBe('recreated')
    })

    it('S3.6 a compareAndSet that lost rejects only once its clone shows the write that won', async () => {
      // The losing clone's broadcasts are held back: the ConflictError (sent to it alone)
      // arrives first, and must wait for the winning write to be applied locally.
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const winner = await (await h().node(hub)).open('kv', { schema: Text })
      const first = await winner.put('k', 'start')
      const { node, gate } = await h().gatedNode(hub)
      const loser = await node.open('kv', { schema: Text })
      await eventually(() => expect(loser.seqOf('k')).toBe(first))
      gate.holding = true
      const won = await winner.compareAndSet('k', first, 'won')
      let outcome: unknown
      const attempt = loser.compareAndSet('k', first, 'lost').then(
        () => (outcome = 'resolved'),
        (error: unknown) => (outcome = error),
      )
      // An event published after the compareAndSet is acknowledged on the same ordered
      // channel as the refusal: once it is, the refusal has been delivered too.
      const abort = new AbortController()
      const aborted = settle(loser.compareAndSet('k', first, 'lost too', { signal: abort.signal }))
      await node.publish('probe/after-conflict', new Uint8Array([1]))
      expect(hub.metrics.writeErrors.ERR_CONFLICT).toBe(2)
      expect(loser.get('k')).toBe('start')
      expect(outcome).toBeUndefined()
      // Aborted while waiting for the write it lost to: an abort, like any aborted call.
      abort.abort()
      const abortedResult = await aborted
      expect(!abortedResult.ok && abortedResult.error instanceof AbortedError).toBe(true)
      gate.holding = false
      for (const deliver of gate.held.splice(0)) deliver()
      await attempt
      expect(outcome).toBeInstanceOf(ConflictError)
      expect((outcome as ConflictError).actualSeq).toBe(won)
      expect(loser.get('k')).toBe('won')
      expect(loser.seqOf('k')).toBe(won)
    })

    it('S3.6 of compareAndSets racing from two clones with the same expectedSeq, exactly one wins', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const a = await (await h().node(hub)).open('kv', { schema: Text })
      const b = await (await h().node(hub)).open('kv', { schema: Text })
      const seq = await a.put('k', 'start')
      await eventually(() => expect(b.seqOf('k')).toBe(seq))
      const results = await Promise.all([
        settle(a.compareAndSet('k', seq, 'a')),
        settle(b.compareAndSet('k', seq, 'b')),
      ])
      expect(results.filter((r) => r.ok)).toHaveLength(1)
      const lost = results.find((r) => !r.ok)
      expect(lost !== undefined && !lost.ok && lost.error instanceof ConflictError).toBe(true)
      // Both calls settle only once their own clone shows the winning write: the winner's
      // as S3.2 says, the loser's so that a retry reads what won (see the README's S3.6).
      const winner = results[0]!.ok ? 'a' : 'b'
      const loser = winner === 'a' ? b : a
      expect(a.get('k')).toBe(winner)
      expect(b.get('k')).toBe(winner)
      const conflict = (lost as { error: ConflictError }).error
      expect(conflict.actualSeq).toBe(loser.seqOf('k'))
    })

    it('S3.7 writes issued while the master is unreachable queue, and are applied in order once it is back', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      await store.put('a', 'zero')
      const address = hub.address
      await h().stopHub(hub)
      await eventually(() => expect(store.status).toBe('stale'))
      const pending = [
        store.put('a', 'one'),
        store.put('b', 'two'),
        store.put('a', 'three'),
        store.remove('b'),
      ]
      const back = await h().hub({ stores, listen: address })
      const seqs = await within(Promise.all(pending), 10_000, 'queued writes')
      expectIncreasing(seqs)
      expect(store.get('a')).toBe('three')
      expect(store.has('b')).toBe(false)
      expect(masterEntries(back, 'kv', Text)).toEqual(new Map([['a', 'three']]))
    })

    it('S3.7 beyond maxPendingWrites, writes reject at once with UnavailableError', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const store = await (await h().node(hub, { maxPendingWrites: 3 })).open('kv', { schema: Text })
      const address = hub.address
      await h().stopHub(hub)
      await eventually(() => expect(store.status).toBe('stale'))
      const queued = [store.put('a', '1'), store.put('b', '2'), store.put('c', '3')]
      const error = await within(
        store.put('d', '4').catch((e: unknown) => e),
        1_000,
        'the write over the bound',
      )
      expect(error).toBeInstanceOf(UnavailableError)
      expect((error as UnavailableError).code).toBe('ERR_UNAVAILABLE')
      await h().hub({ stores, listen: address })
      await within(Promise.all(queued), 10_000, 'queued writes')
      expect(cloneEntries(store)).toEqual(
        new Map([
          ['a', '1'],
          ['b', '2'],
          ['c', '3'],
        ]),
      )
    })

    it('S3.7 a write that waits longer than writeTimeout rejects with UnavailableError', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub, { writeTimeout: 200 })).open('kv', { schema: Text })
      await h().stopHub(hub)
      await eventually(() => expect(store.status).toBe('stale'))
      const started = Date.now()
      const error = await within(
        store.put('a', '1').catch((e: unknown) => e),
        5_000,
        'the timed-out write',
      )
      expect(error).toBeInstanceOf(UnavailableError)
      expect(Date.now() - started).toBeGreaterThanOrEqual(150)
      expect(store.has('a')).toBe(false)
    })
  })
}
