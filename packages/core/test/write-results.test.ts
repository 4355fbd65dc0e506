import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEPARTED_WHOLE_ERRORS,
  WHOLE_ERRORS,
  type WriteResult,
  WriteResults,
} from '../src/hub/write-results.js'

const error = (n: number) => ({ code: 'VALIDATION', message: `bad ${n}` })

describe('WriteResults: outcomes of resent writes (S3.7)', () => {
  it('S3.7 answers a pending, applied, unapplied or failed write, and forgets beyond the limit', () => {
    const results = new WriteResults(4)
    results.record(1)
    results.record(2)
    results.record(3, error(3))
    results.record(4)
    expect(results.has(1)).toBe(true)
    expect(results.get(1)).toBeUndefined() // pending
    results.settle(1, 10, true)
    results.settle(2, 11, false)
    expect(results.get(1)).toEqual({ seq: 10, applied: true })
    expect(results.get(2)).toEqual({ seq: 11, applied: false })
    expect(results.get(3)).toEqual(error(3))
    results.record(5)
    expect(results.has(1)).toBe(false) // the limit is 4 ids
    expect(results.get(1)).toBeUndefined()
    results.settle(1, 12, true) // forgotten stays forgotten
    expect(results.has(1)).toBe(false)
    expect(results.has(6)).toBe(false) // never recorded
  })

  it('S3.7 agrees with a map of the last `limit` ids under random records, jumps and settlements', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(
          fc.oneof(
            fc.tuple(fc.constant('next' as const), fc.integer({ min: 1, max: 3 })),
            fc.tuple(fc.constant('fail' as const), fc.integer({ min: 1, max: 3 })),
            fc.tuple(fc.constant('settle' as const), fc.integer({ min: 0, max: 400 })),
            fc.tuple(fc.constant('error' as const), fc.integer({ min: 0, max: 400 })),
          ),
          { maxLength: 600 },
        ),
        (limit, ops) => {
          // Every refusal whole (compaction has its own test).
          const results = new WriteResults(limit, Number.POSITIVE_INFINITY)
          const model = new Map<number, WriteResult | undefined>()
          let id = 2 ** 31 - 100 // ids past int32 work the same
          const start = id
          for (const [op, n] of ops) {
            if (op === 'next' || op === 'fail') {
              id += n
              const e = op === 'fail' ? error(id) : undefined
              results.record(id, e)
              model.set(id, e)
              for (const old of [...model.keys()]) if (old <= id - limit) model.delete(old)
            } else {
              const target = id - n
              if (op === 'settle') results.settle(target, target * 2, target % 2 === 0)
              else results.fail(target, error(target))
              if (model.has(target))
                model.set(
                  target,
                  op === 'settle' ? { seq: target * 2, applied: target % 2 === 0 } : error(target),
                )
            }
          }
          for (let probe = start - 2; probe <= id + 2; probe++) {
            expect(results.has(probe)).toBe(model.has(probe))
            expect(results.get(probe)).toEqual(model.get(probe))
          }
        },
      ),
    )
  })

  it('S3.7 keeps the latest refusals whole; older ones answer with their code and actualSeq, in 18 bytes a slot', () => {
    const results = new WriteResults(64, 2)
    results.record(1, { code: 'ERR_CONFLICT', message: 'lost to seq 7', actualSeq: 7 })
    results.record(2, {
      code: 'ERR_SCHEMA_INVALID',
      message: 'bad',
      issues: [{ path: 'a', code: 'type', message: 'x' }],
    })
    results.record(3)
    results.fail(3, { code: 'ERR_FORBIDDEN', message: 'may not' })
    results.record(4, { code: 'ERR_CONFLICT', message: 'lost to seq 0', actualSeq: 0 })
    const compact = 'the hub no longer keeps the rest of its answer'
    expect(results.get(1)).toEqual({
      code: 'ERR_CONFLICT',
      message: expect.stringContaining(compact),
      actualSeq: 7,
    })
    expect(results.get(2)).toEqual({ code: 'ERR_SCHEMA_INVALID', message: expect.stringContaining(compact) })
    expect(results.get(3)).toEqual({ code: 'ERR_FORBIDDEN', message: 'may not' })
    expect(results.get(4)).toEqual({ code: 'ERR_CONFLICT', message: 'lost to seq 0', actualSeq: 0 })
    // Settled or recorded again, a slot forgets its refusal.
    results.settle(1, 9, true)
    expect(results.get(1)).toEqual({ seq: 9, applied: true })
  })

  it('S3.7 a table of 65 536 refusals holds no more than its slots and its whole refusals', () => {
    const results = new WriteResults(65_536)
    for (let id = 1; id <= 70_000; id++)
      results.record(id, {
        code: 'ERR_CONFLICT',
        message: `compareAndSet of k${id} lost to seq ${id}`,
        actualSeq: id,
      })
    expect(results.capacity).toBe(65_536)
    expect(results.get(70_000)).toEqual({
      code: 'ERR_CONFLICT',
      message: 'compareAndSet of k70000 lost to seq 70000',
      actualSeq: 70_000,
    })
    expect(results.get(10_000)).toMatchObject({ code: 'ERR_CONFLICT', actualSeq: 10_000 })
    expect(results.wholeRefusals).toBe(256)
  })
})

describe('WriteResults.keepWhole', () => {
  it('S3.7 a table told to keep fewer refusals whole (its node left) keeps the latest, the older by code and actualSeq, and takes the old bound again when told', () => {
    const results = new WriteResults(1024)
    for (let id = 1; id <= 300; id++)
      results.record(id, { code: 'ERR_CONFLICT', message: `lost ${id}`, actualSeq: id })
    expect(results.wholeRefusals).toBe(WHOLE_ERRORS)
    results.keepWhole(DEPARTED_WHOLE_ERRORS)
    expect(results.wholeRefusals).toBe(DEPARTED_WHOLE_ERRORS)
    expect(results.get(300)).toEqual({ code: 'ERR_CONFLICT', message: 'lost 300', actualSeq: 300 })
    expect(results.get(285)).toEqual({ code: 'ERR_CONFLICT', message: 'lost 285', actualSeq: 285 })
    expect(results.get(284)).toEqual({
      code: 'ERR_CONFLICT',
      message: expect.stringContaining('the hub no longer keeps the rest of its answer'),
      actualSeq: 284,
    })
    results.keepWhole(WHOLE_ERRORS)
    for (let id = 301; id <= 600; id++) results.record(id, { code: 'ERR_FORBIDDEN', message: `no ${id}` })
    expect(results.wholeRefusals).toBe(WHOLE_ERRORS)
    expect(results.get(345)).toEqual({ code: 'ERR_FORBIDDEN', message: 'no 345' })
  })
})
