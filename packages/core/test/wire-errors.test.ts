import { describe, expect, it } from 'vitest'
import { ConflictError } from '../src/errors.js'
import { errorFromWire } from '../src/node/wire-errors.js'

describe('errors from the wire (S9.1)', () => {
  it('S9.1 a conflict keeps actualSeq only when it is a seq: the node waits for it before reporting', () => {
    const conflict = (actualSeq: unknown) =>
      errorFromWire(ConflictError.code, 'lost', { actualSeq }) as ConflictError
    expect(conflict(7)).toBeInstanceOf(ConflictError)
    expect(conflict(7).actualSeq).toBe(7)
    expect(conflict(0).actualSeq).toBe(0)
    for (const bad of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY, 2 ** 60, '7', null, undefined]) {
      expect(conflict(bad)).toBeInstanceOf(ConflictError)
      expect(conflict(bad).actualSeq).toBeUndefined()
    }
  })
})
