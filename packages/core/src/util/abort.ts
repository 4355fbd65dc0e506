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

/** The two ends of a wait made with {@link abortableWait}. */
export interface Waiting {
  resolve(): void
  reject(error: Error): void
}

/**
 * A promise, and the `Waiting` that settles it and stops listening to `signal`. When the
 * signal fires first, the promise rejects with an {@link AbortedError} and `aborted` runs
 * (to forget the `Waiting` and undo what was under way).
 */
export function abortableWait(
  signal: AbortSignal | undefined,
  aborted: () => void,
): { readonly promise: Promise<void>; readonly waiting: Waiting } {
  let waiting!: Waiting
  const promise = new Promise<void>((resolve, reject) => {
    const stop = onAbort(signal, (error) => {
      reject(error)
      aborted()
    })
    waiting = {
      resolve: () => {
        stop()
        resolve()
      },
      reject: (error) => {
        stop()
        reject(error)
      },
    }
  })
  return { promise, waiting }
}
