/**
 * A reconnect policy: the delay in milliseconds before attempt `attempt` (1 for the first
 * retry). A pure function, so tests can replace it with a seeded or constant one.
 */
export type Backoff = (attempt: number) => number

/** Options of {@link exponentialBackoff}. */
export interface ExponentialBackoffOptions {
  /** First delay in ms. Default 50. */
  readonly initial?: number
  /** Largest delay in ms. Default 5000. */
  readonly max?: number
  /** Growth factor per attempt. Default 2. */
  readonly factor?: number
  /** Fraction of each delay drawn at random, 0..1. Default 0.2. */
  readonly jitter?: number
  /** Source of randomness in [0, 1). Default `Math.random`; inject a seeded one in tests. */
  readonly random?: () => number
}

/** Exponential backoff with jitter, capped. */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): Backoff {
  const { initial = 50, max = 5000, factor = 2, jitter = 0.2, random = Math.random } = options
  return (attempt) => {
    const base = Math.min(max, initial * factor ** Math.max(0, attempt - 1))
    return Math.round(base * (1 - jitter + jitter * random()))
  }
}

/** The same delay every time. Handy in tests. */
export function constantBackoff(delay: number): Backoff {
  return () => delay
}
