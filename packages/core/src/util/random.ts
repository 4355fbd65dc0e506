/**
 * A seeded source of randomness: call it for a float in [0, 1), or use the helpers. The same
 * seed and the same sequence of calls always give the same numbers, so a failing randomized
 * test can be replayed from its seed.
 */
export interface SeededRandom {
  /** A float in [0, 1). Draws one number. */
  (): number
  /** The seed it was created with. */
  readonly seed: number
  /** An integer in [0, n). Draws one number. Throws `RangeError` unless `n` is a positive integer. */
  int(n: number): number
  /** A float in [min, max]. Draws one number. */
  between(min: number, max: number): number
  /** An element of `items`, uniformly. Draws one number. Throws `RangeError` when `items` is empty. */
  pick<T>(items: readonly T[]): T
  /** True with probability `p` (clamped to [0, 1]). Always draws exactly one number, whatever `p`. */
  chance(p: number): boolean
  /** An independent generator seeded from this one (draws one number). */
  fork(): SeededRandom
}

/**
 * A small, fast, seeded PRNG (xoshiro128**, seeded through splitmix32). Not cryptographic:
 * for tests, fault injection and jitter only.
 *
 * @example
 * const random = seededRandom(42)
 * random.int(6) // the same die roll every run
 */
export function seededRandom(seed: number): SeededRandom {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`)
  // splitmix32 spreads any 32-bit seed (even 0) over the 128-bit state.
  let s = seed >>> 0
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix()
  let b = splitmix()
  let c = splitmix()
  let d = splitmix()

  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0
    const t = b << 9
    c ^= a
    d ^= b
    b ^= c
    a ^= d
    c ^= t
    d = rotl(d, 11)
    return result / 4294967296
  }

  const random = next as SeededRandom
  Object.defineProperties(random, {
    seed: { value: seed, enumerable: true },
    int: {
      value(n: number): number {
        if (!Number.isInteger(n) || n <= 0) throw new RangeError(`int(n) needs a positive integer, got ${n}`)
        return Math.floor(next() * n)
      },
    },
    between: {
      value(min: number, max: number): number {
        if (!(min <= max)) throw new RangeError(`between(min, max) needs min <= max, got ${min}, ${max}`)
        return min + next() * (max - min)
      },
    },
    pick: {
      value<T>(items: readonly T[]): T {
        if (items.length === 0) throw new RangeError('pick() needs a non-empty array')
        return items[Math.floor(next() * items.length)] as T
      },
    },
    chance: {
      value(p: number): boolean {
        return next() < p
      },
    },
    fork: {
      value(): SeededRandom {
        return seededRandom(Math.floor(next() * 4294967296))
      },
    },
  })
  return random
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
