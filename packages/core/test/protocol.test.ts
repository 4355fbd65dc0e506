import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { DecodeError, ProtocolError, ValidationError } from '../src/errors.js'
import { decodeFrame, encodeFrame, encodeWireFrame, toWire } from '../src/protocol/codec.js'
import { decodeDelta, encodeDelta, toDynamic } from '../src/protocol/dynamic.js'
import {
  MessageType,
  MutationKind,
  type Mutations,
  PROTOCOL_VERSION,
  WriteKind,
} from '../src/protocol/messages.js'

const packr = new Packr({ useRecords: false })

describe('wire protocol (S9.1)', () => {
  it('S9.1 round-trips every message shape', () => {
    const messages = [
      { type: MessageType.HELLO, version: 1, nodeId: 'n', groups: ['workers'], maxFrameSize: 65536 },
      {
        type: MessageType.WRITE,
        store: 's',
        writeId: 7,
        kind: WriteKind.PUT,
        key: 'k',
        value: new Uint8Array([1]),
        expiry: null,
        op: null,
        expectedSeq: null,
      },
      {
        type: MessageType.MUTATIONS,
        store: 's',
        epoch: 'e',
        from: 0,
        to: 2,
        muts: [1, MutationKind.PUT, 'a', new Uint8Array([2]), 2, MutationKind.REMOVE, 'b', null],
      },
      {
        type: MessageType.WRITE_ERR,
        writeId: 7,
        code: 'ERR_CONFLICT',
        message: 'no',
        details: { actualSeq: 3 },
      },
      { type: MessageType.WRITER, reqId: 4, store: 's', fingerprint: 'f' },
      { type: MessageType.WRITER_READY, reqId: 4 },
      { type: MessageType.READ, reqId: 5, store: 's', fingerprint: 'f', key: 'k' },
      { type: MessageType.READ_VALUE, reqId: 5, seq: 9, value: new Uint8Array([3]) },
      { type: MessageType.READ_VALUE, reqId: 6, seq: 0, value: null },
    ] as const
    const plain = (value: unknown): unknown =>
      value instanceof Uint8Array
        ? [...value]
        : Array.isArray(value)
          ? value.map(plain)
          : typeof value === 'object' && value !== null
            ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
            : value
    const decoded = decodeFrame(encodeFrame(messages as never), 1 << 20)
    expect(plain(decoded)).toEqual(plain(messages))
  })

  it('S9.1 writes WRITE and MUTATIONS field by field into exactly the bytes msgpackr writes', () => {
    // Sizes on both sides of every msgpack header boundary, and characters of 1 to 4 UTF-8 bytes.
    const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))
    const text = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      // Lone surrogates, short and long: written by msgpackr (the fallback).
      fc.tuple(fc.string({ maxLength: 80 }), loneSurrogate).map(([a, b]) => a + b),
      fc.constantFrom(31, 32, 255, 256, 65_535, 65_536).map((n) => 'k'.repeat(n)),
      fc.constantFrom(10, 11, 85, 86, 21_845, 21_846).map((n) => '\u20ac'.repeat(n)),
    )
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      // A Buffer viewing the middle of a larger one, as the hub's values are.
      fc
        .uint8Array({ minLength: 8, maxLength: 40 })
        .map((b) => Buffer.from(b.buffer).subarray(3, b.length - 2)),
      fc.constantFrom(255, 256, 65_535, 65_536).map((n) => new Uint8Array(n).fill(7)),
    )
    const boundaries = [0, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]
    const nat = fc.oneof(fc.constantFrom(...boundaries), fc.nat(), fc.maxSafeNat())
    const int = fc.oneof(
      nat,
      fc.double(),
      fc.constantFrom(-1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1),
      fc.integer(),
    )
    const write = fc.record({
      type: fc.constant(MessageType.WRITE),
      store: text,
      writeId: nat,
      kind: fc.constantFrom(...Object.values(WriteKind)),
      key: text,
      value: fc.option(bytes),
      expiry: fc.option(int),
      op: fc.option(text),
      expectedSeq: fc.option(nat),
    })
    const mutation = fc.oneof(
      fc.tuple(nat, fc.constant(MutationKind.PUT), text, bytes),
      fc.tuple(nat, fc.constantFrom(MutationKind.REMOVE, MutationKind.EXPIRE), text, fc.constant(null)),
    )
    const mutations = fc.record({
      type: fc.constant(MessageType.MUTATIONS),
      store: text,
      epoch: text,
      from: nat,
      to: nat,
      muts: fc.array(mutation, { maxLength: 20 }).map((list) => list.flat()),
    })
    const other = fc.constant({ type: MessageType.PING, nonce: 3 })
    fc.assert(
      fc.property(fc.array(fc.oneof(write, mutations, other), { maxLength: 20 }), (messages) => {
        const viaMsgpackr = encodeWireFrame(messages.map((m) => toWire(m as never)))
        expect(Buffer.from(encodeFrame(messages as never)).equals(Buffer.from(viaMsgpackr))).toBe(true)
      }),
      { numRuns: 300 },
    )
  })

  it("S9.1 an optional trailing field (PUBLISH's fingerprint) is sent, and reads as null from an older node that ends before it", () => {
    const publish = {
      type: MessageType.PUBLISH,
      pubId: 1,
      topic: 't',
      group: null,
      payload: new Uint8Array([1]),
    }
    expect(toWire({ ...publish, fingerprint: 'cs1:ab' })).toEqual([
      MessageType.PUBLISH,
      1,
      't',
      null,
      publish.payload,
      'cs1:ab',
    ])
    expect(toWire(publish as never)).toEqual([MessageType.PUBLISH, 1, 't', null, publish.payload, null])
    const older = packr.pack([PROTOCOL_VERSION, [MessageType.PUBLISH, 1, 't', null, new Uint8Array([1])]])
    const [decoded] = decodeFrame(older, 1 << 20) as unknown as [Record<string, unknown>]
    expect({ ...decoded, payload: [...(decoded.payload as Uint8Array)] }).toEqual({
      ...publish,
      payload: [1],
      fingerprint: null,
    })
    const bad = packr.pack([PROTOCOL_VERSION, [MessageType.PUBLISH, 1, 't', null, new Uint8Array([1]), 5]])
    expect(() => decodeFrame(bad, 1 << 20)).toThrow(/fingerprint/)
    // The fields before it are not optional.
    expect(() =>
      decodeFrame(packr.pack([PROTOCOL_VERSION, [MessageType.PUBLISH, 1, 't', null]]), 1 << 20),
    ).toThrow(/truncated/)
  })

  it('S9.1 refuses a wrong version, an unknown type, a bad field, garbage and oversized frames with ProtocolError', () => {
    expect(() => decodeFrame(packr.pack([PROTOCOL_VERSION + 1, [MessageType.PING, 1]]), 1 << 20)).toThrow(
      /version/,
    )
    expect(() => decodeFrame(packr.pack([PROTOCOL_VERSION, [99]]), 1 << 20)).toThrow(/unknown message type/)
    expect(() => decodeFrame(packr.pack([PROTOCOL_VERSION, [MessageType.PING, 'x']]), 1 << 20)).toThrow(
      /nonce/,
    )
    expect(() => decodeFrame(packr.pack([PROTOCOL_VERSION, [MessageType.OPEN, 1]]), 1 << 20)).toThrow(
      /truncated/,
    )
    expect(() => decodeFrame(new Uint8Array([0xc1]), 1 << 20)).toThrow(ProtocolError)
    expect(() => decodeFrame(new Uint8Array(100), 10)).toThrow(/exceeds/)
    // Mutation lists must be well-formed: increasing seqs, values exactly on puts.
    const bad = [
      PROTOCOL_VERSION,
      [MessageType.MUTATIONS, 's', 'e', 0, 2, [2, 0, 'a', new Uint8Array(1), 1, 0, 'b', new Uint8Array(1)]],
    ]
    expect(() => decodeFrame(packr.pack(bad), 1 << 20)).toThrow(/muts/)
  })

  it("decodes byte fields as copies of their own, or as views of the frame when asked ('views')", () => {
    const value = new Uint8Array(200).fill(9)
    const frame = encodeFrame([
      {
        type: MessageType.MUTATIONS,
        store: 's',
        epoch: 'e',
        from: 0,
        to: 1,
        muts: [1, MutationKind.PUT, 'k', value],
      },
    ])
    const field = (bytes: 'copies' | 'views') => {
      const [message] = decodeFrame(frame, 1 << 20, bytes)
      return (message as Mutations).muts[3] as Uint8Array
    }
    const copy = field('copies')
    const view = field('views')
    expect([...copy]).toEqual([...value])
    expect([...view]).toEqual([...value])
    expect(copy.buffer).not.toBe(frame.buffer)
    expect(copy.buffer.byteLength).toBe(200)
    expect(view.buffer).toBe(frame.buffer)
    const [byDefault] = decodeFrame(frame, 1 << 20)
    expect(((byDefault as Mutations).muts[3] as Uint8Array).buffer).not.toBe(frame.buffer)
  })

  it('S9.1 never throws anything but ProtocolError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeFrame(bytes, 1 << 20)
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError)
        }
      }),
      { numRuns: 2000 },
    )
  })
})

describe('update deltas', () => {
  it('S3.5 carry bigint, Set, Map, records and undefined exactly', () => {
    const value = {
      a: 1n,
      s: new Set(['x']),
      m: new Map([[{ k: 1 }, [2n]]]),
      u: undefined,
      b: new Uint8Array([1]),
    }
    expect(decodeDelta(encodeDelta(value))).toEqual(value)
  })

  /** Values an update delta may hold (well-formed text); with `-0` among the doubles when asked. */
  const deltaValue = (withNegativeZero: boolean) =>
    fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ maxLength: 300 }),
        fc.double({ noDefaultInfinity: false }).filter((x) => withNegativeZero || !Object.is(x, -0)),
        fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
        fc.bigInt(),
        fc.boolean(),
        fc.constantFrom(null, undefined),
        fc.uint8Array({ maxLength: 300 }),
        fc.array(tie('value'), { maxLength: 20 }),
        fc.array(tie('value'), { maxLength: 5 }).map((items) => new Set(items)),
        fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 5 }).map((pairs) => new Map(pairs)),
        fc.dictionary(
          fc.string({ unit: 'binary', maxLength: 10 }).filter((k) => k !== '__proto__'),
          tie('value'),
          { maxKeys: 5 },
        ),
      ),
    })).value

  it('S3.5 round-trip exactly, -0 included (msgpackr alone writes -0 as the integer 0)', () => {
    fc.assert(
      fc.property(deltaValue(true), (value) => {
        expect(decodeDelta(encodeDelta(value))).toEqual(value)
      }),
      { numRuns: 500 },
    )
    for (const value of [-0, [-0, 1.5], { x: -0 }, new Set([-0]), new Map([[-0, -0]])]) {
      expect(decodeDelta(encodeDelta(value))).toEqual(value)
    }
    expect(Object.is(decodeDelta(encodeDelta(-0)), -0)).toBe(true)
  })

  it('S3.5 are the bytes msgpackr writes for the same form, but for -0', () => {
    fc.assert(
      fc.property(deltaValue(false), (value) => {
        expect(encodeDelta(value)).toEqual(new Uint8Array(packr.pack(toDynamic(value))))
      }),
      { numRuns: 500 },
    )
    const big = new Uint8Array(70_000).fill(7)
    expect(encodeDelta(big)).toEqual(new Uint8Array(packr.pack(big)))
  })

  it('S3.1 a string or object key with a lone surrogate is refused with ValidationError at its path', () => {
    const cases: [unknown, string][] = [
      ['a\ud800', ''],
      [['ok', ['x', '\udc00']], '[1][1]'],
      [{ a: { 'b c': 'x\ud800y' } }, 'a["b c"]'],
      [{ '\ud800': 1 }, '["\\ud800"]'],
      [
        new Map([
          ['k', 'v'],
          ['\ud800', 'v'],
        ]),
        '[1][0]',
      ],
    ]
    for (const [value, path] of cases) {
      let error: unknown
      try {
        encodeDelta(value)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(ValidationError)
      expect((error as ValidationError).issues).toEqual([
        { path, code: 'format', message: expect.stringMatching(/lone surrogate at index \d/) },
      ])
    }
    expect(decodeDelta(encodeDelta('\ud83d\ude00'))).toBe('\ud83d\ude00')
  })

  it('S9.1 refuse malformed deltas with DecodeError', () => {
    expect(() => decodeDelta(packr.pack(['zz']))).toThrow(DecodeError)
    expect(() => decodeDelta(packr.pack(['b', 'x1']))).toThrow(DecodeError)
    expect(() => decodeDelta(packr.pack(['o', '__proto__', 1]))).toThrow(DecodeError)
    expect(() => encodeDelta(() => 1)).toThrow(TypeError)
  })
})
