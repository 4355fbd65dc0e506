/**
 * A line about a thrown value, for an error message: its `message` when that is a string,
 * else its string form. Never throws, whatever user code threw (an object whose getters
 * throw, one without a prototype, a symbol).
 */
export function describeThrown(thrown: unknown): string {
  try {
    const message = (thrown as { message?: unknown } | null | undefined)?.message
    if (typeof message === 'string') return message
  } catch {
    // A throwing getter: fall back to the value itself.
  }
  try {
    return String(thrown)
  } catch {
    return `a thrown ${typeof thrown}`
  }
}
