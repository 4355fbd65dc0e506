import { vi } from 'vitest'

/**
 * How long a test waits for what should happen soon. Generous: a loaded machine runs the
 * same steps many times slower, and vi.waitFor's own bound (1 s) is one load breaks.
 */
export const SOON = 5_000

/** Waits until `check` stops throwing (assertions inside it), for up to {@link SOON}. */
export function soon<T>(check: () => T | Promise<T>): Promise<T> {
  return vi.waitFor(check, { timeout: SOON })
}
