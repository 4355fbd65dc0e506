import type { Hub, Schema, Transport } from '@concord/core'
import { expect, vi } from 'vitest'

/** How long the suites wait for something that should happen soon. Generous for slow CI machines. */
export const SOON = 5_000

/** Waits until `check` stops throwing (assertions inside it), polling often. */
export function eventually<T>(check: () => T | Promise<T>, timeout = SOON): Promise<T> {
  return vi.waitFor(check, { timeout, interval: 5 })
}

/**
 * Resolves or rejects as `promise` does, but fails with a clear message when it has not
 * settled within `ms`: a guard against hanging on a promise that should settle, not a sleep.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer))
}

/** What a promise settled to, without throwing. */
export async function settle<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise }
  } catch (error) {
    return { ok: false, error }
  }
}

/** A running consumer of an async iterable: what it read so far, and how it ended. */
export interface Recording<T> {
  readonly items: T[]
  /** Resolves when the iteration ends: `undefined` when it completed, else the error it threw. */
  readonly ended: Promise<unknown>
}

/** Reads `iterable` in the background as fast as it yields. */
export function record<T>(iterable: AsyncIterable<T>): Recording<T> {
  const items: T[] = []
  const ended = (async () => {
    try {
      for await (const item of iterable) items.push(item)
      return undefined
    } catch (error) {
      return error
    }
  })()
  return { items, ended }
}

/** Reads the next `n` items of `iterator` (failing after {@link SOON} ms). */
export async function take<T>(iterator: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = []
  while (out.length < n) {
    const next = await within(iterator.next(), SOON, `item ${out.length + 1} of ${n}`)
    if (next.done) break
    out.push(next.value)
  }
  return out
}

/** True when `sub` appears in `list` in order (not necessarily contiguously). */
export function isSubsequence<T>(sub: readonly T[], list: readonly T[]): boolean {
  let i = 0
  for (const item of list) if (i < sub.length && item === sub[i]) i++
  return i === sub.length
}

/** Asserts that `values` strictly increase. */
export function expectIncreasing(values: readonly number[]): void {
  for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThan(values[i - 1]!)
}

/** The master's committed state of `store`, decoded: what every clone must converge to. */
export function masterEntries<T>(hub: Hub, store: string, schema: Schema<T, never>): Map<string, T> {
  const master = hub.master(store)
  if (master === undefined) throw new Error(`the hub has no store '${store}'`)
  const cursor = master.backend.snapshot('')
  const out = new Map<string, T>()
  try {
    for (let rows = cursor.next(1024, 1 << 30); rows.length > 0; rows = cursor.next(1024, 1 << 30)) {
      for (const [key, entry] of rows) out.set(key, schema.decode(entry.value))
    }
  } finally {
    cursor.close()
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** A clone's entries as a key-sorted map, for comparing with {@link masterEntries}. */
export function cloneEntries<T>(store: { entries(): Iterable<[string, T]> }): Map<string, T> {
  return new Map([...store.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** The master's committed seq of `store`. */
export function masterSeq(hub: Hub, store: string): number {
  const master = hub.master(store)
  if (master === undefined) throw new Error(`the hub has no store '${store}'`)
  return master.committedSeq
}

/** The sum of a metrics record such as `hub.metrics.refused`. */
export function total(counts: Readonly<Record<string, number>>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0)
}

/** Whether `bytes` contain the ASCII text `text` (to spot an error code in a raw frame). */
export function bytesInclude(bytes: Uint8Array, text: string): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(text, 0, 'latin1')
}

/** `n` bytes, all `fill`. */
export function bytesOf(n: number, fill = 0x61): Uint8Array {
  return new Uint8Array(n).fill(fill)
}

/**
 * A minimal msgpack encoder (nil, booleans, integers, strings, binaries, arrays): enough to
 * build wire frames by hand — valid ones, and ones a hub must refuse (S9.1) — without
 * depending on core's codec.
 */
export function msgpack(value: unknown): Uint8Array {
  const out: number[] = []
  const u32 = (n: number) => out.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
  const write = (v: unknown): void => {
    if (v === null || v === undefined) out.push(0xc0)
    else if (v === false) out.push(0xc2)
    else if (v === true) out.push(0xc3)
    else if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < -32 || v > 0xffffffff) throw new RangeError(`msgpack: ${v}`)
      if (v >= 0 && v < 128) out.push(v)
      else if (v < 0) out.push(v & 0xff)
      else {
        out.push(0xce)
        u32(v)
      }
    } else if (typeof v === 'string') {
      const bytes = Buffer.from(v, 'utf8')
      if (bytes.length < 32) out.push(0xa0 | bytes.length)
      else {
        out.push(0xdb)
        u32(bytes.length)
      }
      out.push(...bytes)
    } else if (v instanceof Uint8Array) {
      out.push(0xc6)
      u32(v.byteLength)
      for (const b of v) out.push(b)
    } else if (Array.isArray(v)) {
      if (v.length < 16) out.push(0x90 | v.length)
      else {
        out.push(0xdd)
        u32(v.length)
      }
      for (const item of v) write(item)
    } else throw new TypeError(`msgpack: cannot encode ${typeof v}`)
  }
  write(value)
  return Uint8Array.from(out)
}

/**
 * A node-side transport whose incoming broadcasts (`holding`), incoming frames sent to it
 * alone (`holdingFrames`) and outgoing transport subscriptions (`holdingSubscribes`) can be
 * held back. Held items wait in `held`, in arrival order: call each to let it through, or
 * drop it.
 */
export interface LinkGate {
  readonly transport: Transport
  holding: boolean
  /**
   * Holds frames sent to this node alone (answers, snapshot chunks, log replays). A function
   * is asked at each such frame, so a test can stop a sync at an exact point (say, once the
   * clone applied some of a replay); once a frame is held, the later ones are held too.
   */
  holdingFrames: boolean | (() => boolean)
  holdingSubscribes: boolean
  readonly held: (() => void)[]
}

/** What a {@link linkGate} changes besides holding: the frame limit its nodes announce (S2.7). */
export interface LinkGateOptions {
  /** The largest frame the node says it accepts (the hub then cuts what it sends it alone to this). */
  readonly maxFrameSize?: number
}

/** A {@link LinkGate} over `inner`. */
export function linkGate(inner: Transport, options: LinkGateOptions = {}): LinkGate {
  let framesHeld = false
  const transport: Transport = {
    capabilities:
      options.maxFrameSize === undefined
        ? inner.capabilities
        : { ...inner.capabilities, maxFrameSize: options.maxFrameSize },
    listen: (at, handlers, listenOptions) => inner.listen(at, handlers, listenOptions),
    connect: async (at, handlers, connectOptions) => {
      const endpoint = await inner.connect(
        at,
        {
          ...handlers,
          frame: (frame) => {
            const hold = gate.holdingFrames
            if (hold === false) framesHeld = false
            else if (!framesHeld) framesHeld = hold === true || hold()
            if (framesHeld) gate.held.push(() => handlers.frame(frame))
            else handlers.frame(frame)
          },
          broadcast: (topic, frame) => {
            if (gate.holding) gate.held.push(() => handlers.broadcast(topic, frame))
            else handlers.broadcast(topic, frame)
          },
        },
        connectOptions,
      )
      return {
        send: (frame) => endpoint.send(frame),
        subscribe: (topic) => {
          if (!gate.holdingSubscribes) return endpoint.subscribe(topic)
          return new Promise<void>((resolve, reject) =>
            gate.held.push(() => endpoint.subscribe(topic).then(resolve, reject)),
          )
        },
        unsubscribe: (topic) => endpoint.unsubscribe(topic),
        reconnect: () => endpoint.reconnect(),
        close: () => endpoint.close(),
      }
    },
  }
  const gate: LinkGate = {
    transport,
    holding: false,
    holdingFrames: false,
    holdingSubscribes: false,
    held: [],
  }
  return gate
}
