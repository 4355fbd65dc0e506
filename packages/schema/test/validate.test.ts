/**
 * Validation: issue paths and codes, containers, records, and hostile inputs that must never
 * make `validate` throw.
 */
import { describe, expect, test } from 'vitest'
import { isConcordError, t, ValidationError, validate } from '../src/index.js'
import { codes, issuesOf } from './helpers.js'

const Id = t.record({ orig_h: t.addr(), orig_p: t.port(), resp_h: t.addr(), resp_p: t.port() })
const Log = t.record({
  conns: t.vector(t.record({ uid: t.string(), id: Id, tags: t.set(t.string()).optional() })),
  byKey: t.table(t.string(), t.count()),
  byId: t.table(Id, t.string()),
  ports: t.set(t.port()),
})

const id = (h: string, p: number) => ({
  orig_h: h,
  orig_p: { port: p, proto: 'tcp' as const },
  resp_h: '10.0.0.2',
  resp_p: { port: 80, proto: 'tcp' as const },
})
const valid = () => ({
  conns: [
    { uid: 'a', id: id('10.0.0.1', 1) },
    { uid: 'b', id: id('10.0.0.1', 2), tags: new Set(['x']) },
  ],
  byKey: new Map([['k', 1n]]),
  byId: new Map([[id('10.0.0.1', 1), 'one']]),
  ports: new Set([{ port: 80, proto: 'tcp' as const }]),
})

describe('paths and codes', () => {
  test('a valid value has no issues', () => {
    expect(validate(Log, valid())).toEqual([])
  })

  test('nested record fields, vector elements, table values and keys', () => {
    const v = valid() as Record<string, unknown>
    ;(v.conns as { id: { orig_h: string } }[])[1]!.id.orig_h = '::FFFF:10.0.0.1'
    ;(v.byKey as Map<string, unknown>).set('bad', -1n)
    ;(v.byKey as Map<unknown, unknown>).set(7, 1n)
    ;(v.byId as Map<unknown, unknown>).set(id('10.0.0.3', 99999), 'x')
    ;(v.byId as Map<unknown, unknown>).set(id('10.0.0.4', 4), 5)
    expect(codes(Log, v)).toEqual([
      ['conns[1].id.orig_h', 'format'],
      ['byKey{"bad"}', 'range'],
      ['byKey{key #2}', 'type'],
      ['byId{key #1}.orig_p', 'range'],
      ['byId{#2}', 'type'],
    ])
  })

  test('records: missing, extra, wrong type; optional fields may be absent or undefined', () => {
    const R = t.record({ a: t.string(), b: t.count().optional(), c: t.bool().default(true) })
    expect(codes(R, { a: 'x' })).toEqual([])
    expect(codes(R, { a: 'x', b: undefined, c: undefined })).toEqual([])
    expect(codes(R, { b: 1n, d: 1, 'odd name': 2 })).toEqual([
      ['d', 'extra'],
      ['["odd name"]', 'extra'],
      ['a', 'missing'],
    ])
    expect(codes(R, { a: 1 })).toEqual([['a', 'type']])
    expect(codes(R, [])).toEqual([['', 'type']])
    expect(codes(R, new Map())).toEqual([['', 'type']])
    expect(codes(R, null)).toEqual([['', 'type']])
    expect(codes(R, Object.assign(Object.create(null), { a: 'x' }))).toEqual([])
  })

  test('sets and tables of composite values compare by value', () => {
    expect(
      codes(
        t.set(t.port()),
        new Set([
          { port: 1, proto: 'tcp' },
          { port: 1, proto: 'tcp' },
        ]),
      ),
    ).toEqual([['[1]', 'duplicate']])
    const Keyed = t.table(t.record({ a: t.string(), b: t.vector(t.count()) }), t.bool())
    const m = new Map([
      [{ a: 'x', b: [1n] }, true],
      [{ a: 'x', b: [1n] }, false],
      [{ a: 'x', b: [2n] }, false],
    ])
    expect(codes(Keyed, m)).toEqual([['{key #1}', 'duplicate']])
    // Sets inside keys compare regardless of order.
    const BySet = t.table(t.set(t.string()), t.bool())
    expect(
      codes(
        BySet,
        new Map([
          [new Set(['a', 'b']), true],
          [new Set(['b', 'a']), true],
        ]),
      ),
    ).toEqual([['{key #1}', 'duplicate']])
    // A defaulted field left out equals the default written out.
    const D = t.set(t.record({ a: t.count().default(1n) }))
    expect(codes(D, new Set([{}, { a: 1n }]))).toEqual([['[1]', 'duplicate']])
  })

  test('containers of the wrong kind', () => {
    expect(codes(t.set(t.string()), ['a'])).toEqual([['', 'type']])
    expect(codes(t.vector(t.string()), new Set(['a']))).toEqual([['', 'type']])
    expect(codes(t.table(t.string(), t.string()), { a: 'b' })).toEqual([['', 'type']])
    expect(codes(t.vector(t.string()), [1, 'a', 2])).toEqual([
      ['[0]', 'type'],
      ['[2]', 'type'],
    ])
  })

  test('encode throws ValidationError with every issue', () => {
    const issues = issuesOf(() => Log.encode({ conns: [{ uid: 1, id: {} }], byKey: 1 } as never))
    expect(issues.map((i) => i.path)).toEqual([
      'conns[0].uid',
      'conns[0].id.orig_h',
      'conns[0].id.orig_p',
      'conns[0].id.resp_h',
      'conns[0].id.resp_p',
      'byKey',
      'byId',
      'ports',
    ])
    try {
      Log.encode({} as never)
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError)
      expect(isConcordError(error, 'ERR_SCHEMA_INVALID')).toBe(true)
      expect((error as Error).message).toMatch(/^invalid value: conns: required field/)
    }
  })
})

describe('hostile values never make validate throw', () => {
  const R = t.record({
    a: t.string(),
    next: t.record({ a: t.string(), next: t.record({ a: t.string() }).optional() }),
  })
  const all = (schema: { validate(v: unknown): unknown[] }, value: unknown) => {
    expect(() => schema.validate(value)).not.toThrow()
    return schema.validate(value)
  }

  test('cyclic values are bounded by the schema', () => {
    const cyclic: Record<string, unknown> = { a: 'x' }
    cyclic.next = cyclic
    expect(codes(R, cyclic)).toEqual([['next.next.next', 'extra']])
    const arr: unknown[] = []
    arr.push(arr)
    expect(codes(t.vector(t.vector(t.vector(t.string()))), arr)).toEqual([['[0][0][0]', 'type']])
  })

  test('throwing getters, Proxies and revoked Proxies', () => {
    const getter = {
      get a(): string {
        throw new Error('boom')
      },
      next: { a: 'y' },
    }
    expect(codes(R, getter)).toEqual([['a', 'type']])
    expect(
      all(
        R,
        new Proxy(
          {},
          {
            ownKeys: () => {
              throw new Error('no keys')
            },
          },
        ),
      ),
    ).toHaveLength(1)
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    expect(all(R, proxy)).toHaveLength(1)
    expect(all(t.vector(t.string()), proxy)).toHaveLength(1)
    expect(all(t.set(t.string()), proxy)).toHaveLength(1)
    expect(all(t.port(), proxy)).toHaveLength(1)
    expect(all(t.set(t.string()), new Proxy(new Set(['a']), {}))).toHaveLength(1)
    const hostileError = {
      get message(): string {
        throw new Error('again')
      },
    }
    const nasty = {
      get a(): string {
        throw hostileError
      },
      next: { a: 'x' },
    }
    expect(all(R, nasty)).toHaveLength(1)
  })

  test('sparse arrays, huge sparse arrays and exotic objects', () => {
    const sparse = new Array<string>(2)
    sparse[1] = 'a'
    expect(codes(t.vector(t.string()), sparse)).toEqual([['[0]', 'type']])
    const issues = all(t.vector(t.string()), new Array(10_000_000))
    expect(issues.length).toBeLessThanOrEqual(1001)
    expect(issues.at(-1)).toMatchObject({ code: 'size' })
    for (const v of [Symbol('s'), () => 1, 1n, new Date(), /x/, new Uint8Array(2), Object.create(null)]) {
      all(R, v)
      all(t.port(), v)
      all(t.set(t.port()), v)
    }
  })

  test('encode of hostile values throws ValidationError, never something else', () => {
    const getter = {
      get a(): string {
        throw new Error('boom')
      },
      next: { a: 'y' },
    }
    expect(() => R.encode(getter as never)).toThrow(ValidationError)
    expect(() => t.set(t.string()).encode(new Proxy(new Set(['a']), {}) as never)).toThrow(ValidationError)
  })
})

describe('builders refuse programmer mistakes', () => {
  test('TypeErrors', () => {
    expect(() => t.vector('x' as never)).toThrow(TypeError)
    expect(() => t.record({ a: 1 } as never)).toThrow(TypeError)
    expect(() => t.record({ ['__proto__']: t.string() })).toThrow(TypeError)
    expect(() => t.record({ 0: t.string() })).toThrow(TypeError)
    expect(() => t.string().default(1 as never)).toThrow(TypeError)
    const optional = t.string().optional() as unknown as ReturnType<typeof t.string>
    expect(() => optional.default('x')).toThrow(TypeError)
  })

  test('a field named like an Object.prototype member is read as an own property only', () => {
    const R = t.record({ constructor: t.string().optional(), toString: t.string() })
    expect(codes(R, { toString: 'x' })).toEqual([])
    expect(R.decode(R.encode({ toString: 'x' } as never))).toEqual({ toString: 'x' })
    expect(R.decode(R.encode({ constructor: 'c', toString: 'x' }))).toEqual({
      constructor: 'c',
      toString: 'x',
    })
  })
})
