import { AbortedError } from '../errors.js'

/** Throws {@link AbortedError} when the signal already fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('aborted', { cause: signal.reason })
}

/**
 * Calls `onAbort` with an {@link AbortedError} when the signal fires; returns a function that
 * stops listening (call it when the operation settles, so listeners never pile up).
 */
export function onAbort(signal: AbortSignal | undefined, onAbort: (error: AbortedError) => void): () => void {
  if (signal === undefined) return noop
  const listener = () => onAbort(new AbortedError('aborted', { cause: signal.reason }))
  signal.addEventListener('abort', listener, { once: true })
  return () => signal.removeEventListener('abort', listener)
}

function noop(): void {}
