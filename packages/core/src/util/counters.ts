/** Adds one to `counters[key]` (a metrics record by error code or cause). */
export function count(counters: Record<string, number>, key: string): void {
  counters[key] = (counters[key] ?? 0) + 1
}

/** The sum of a metrics record. */
export function total(counters: Readonly<Record<string, number>>): number {
  let sum = 0
  for (const key in counters) sum += counters[key]!
  return sum
}
