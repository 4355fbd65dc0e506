/**
 * What every command runs with: its output streams, the signal that stops it (Ctrl-C), where
 * it runs, and the adapters it may use. Tests build one with in-memory streams and inject a
 * transport shared with a hub they created.
 *
 * @module
 */
import { once } from 'node:events'
import type { Persistence, Transport } from '@concord/core'
import { type AdapterRegistry, defaultAdapters } from './adapters.js'

/** A stream commands write text to. */
export interface Output {
  write(chunk: string): boolean
  once(event: 'drain', listener: () => void): unknown
}

/** Everything a command may touch outside itself. */
export interface CommandContext {
  readonly stdout: Output
  readonly stderr: Output
  /** Where `-` reads from. Default `process.stdin`. */
  readonly stdin?: NodeJS.ReadableStream
  /** Aborted when the user asks to stop (SIGINT, SIGTERM). */
  readonly signal: AbortSignal
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly adapters: AdapterRegistry
  /** Used instead of the config's transport (both for `serve` and node commands). */
  readonly transport?: Transport
  /** Used instead of the config's persistence by `serve`. */
  readonly persistence?: Persistence
  /** Milliseconds since the epoch. */
  readonly now: () => number
  /** The period of progress reports on stderr, in ms. Default 1000. */
  readonly progressEvery?: number
}

/** A context for running commands inside this process (defaults: process streams, no signal). */
export function commandContext(overrides: Partial<CommandContext> = {}): CommandContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: new AbortController().signal,
    cwd: process.cwd(),
    env: process.env,
    adapters: defaultAdapters(),
    now: Date.now,
    ...overrides,
  }
}

/** Writes `text` and waits when the stream asks for it (backpressure). */
export async function write(out: Output, text: string): Promise<void> {
  if (!out.write(text)) await once(out as unknown as NodeJS.EventEmitter, 'drain')
}

/** Writes one line. */
export function line(out: Output, text: string): Promise<void> {
  return write(out, `${text}\n`)
}

/**
 * Iterates `source` until it ends or `signal` aborts; then leaves it (which unsubscribes
 * the async iterables core returns).
 */
export async function* untilAborted<T>(source: AsyncIterator<T>, signal: AbortSignal): AsyncGenerator<T> {
  if (signal.aborted) {
    await source.return?.()
    return
  }
  let stop!: () => void
  const stopped = new Promise<{ done: true; value: undefined }>((resolve) => {
    stop = () => resolve({ done: true, value: undefined })
  })
  signal.addEventListener('abort', stop, { once: true })
  try {
    for (;;) {
      const next = source.next()
      // Abandoned when the signal wins; it must not surface as an unhandled rejection then.
      next.catch(() => {})
      const result = await Promise.race([next, stopped])
      if (result.done) return
      yield result.value
    }
  } finally {
    signal.removeEventListener('abort', stop)
    await source.return?.()
  }
}

/** A promise that resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

/** `promise`, or a rejection with the signal's reason once `signal` aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

/**
 * Keeps the process alive until the returned function is called: `serve` holds it while its
 * hub runs, since a hub's timers are unref'd and a transport need not hold the event loop
 * open. (A node holds it itself until it closes.)
 */
export function keepAlive(): () => void {
  const timer = setInterval(() => {}, 2 ** 30)
  return () => clearInterval(timer)
}
