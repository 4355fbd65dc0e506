/**
 * `--stats DURATION`: the counters of a running hub (`hub.metrics`) or node (`node.metrics`)
 * for an operator, as they move. Every period one line with the counters that moved since
 * the line before (with rates for the throughput counters), and at stop a summary of every
 * counter that is not 0; with `--json` one JSON object per line instead.
 *
 * Counters are found by name, not listed here: every numeric field of the metrics object,
 * and every field that is a record of numbers (`refused.ERR_PROTOCOL`), so a counter core
 * adds later shows without a change here.
 *
 * @module
 */
import type { NodeMetrics } from '@concord/core'
import { durationOption, type OptionDef } from './commands/command.js'
import { STATS_MIN_MS } from './config.js'
import { type CommandContext, line, type Output, write } from './context.js'
import { formatInterval } from './format.js'
import { type GlobalOptions, type NodeSession, withNode } from './session.js'

/** The `--stats DURATION` option of `serve`, `watch` and `sub`. */
export const statsOption: OptionDef = {
  type: 'string',
  value: 'DURATION',
  description: 'every DURATION (10s), a line of the counters that moved; a summary at stop',
}

/** Reads `--stats`: a period in ms (from 10ms), or undefined when not given. */
export function statsPeriod(value: string | boolean | undefined): number | undefined {
  return durationOption(value, 'stats', STATS_MIN_MS)
}

/** Every counter of a metrics object, by name: `field` for a number, `field.key` for a record of numbers. */
export function countersOf(metrics: object): Map<string, number> {
  const out = new Map<string, number>()
  for (const [name, value] of Object.entries(metrics)) {
    if (typeof value === 'number') out.set(name, value)
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, n] of Object.entries(value as Record<string, unknown>)) {
        if (typeof n === 'number') out.set(`${name}.${key}`, n)
      }
    }
  }
  return out
}

/** The counters of `now` that differ from `before` (a counter absent before counts from 0), by how much. */
export function countersMoved(
  before: ReadonlyMap<string, number>,
  now: ReadonlyMap<string, number>,
): Map<string, number> {
  const out = new Map<string, number>()
  for (const [name, n] of now) {
    const delta = n - (before.get(name) ?? 0)
    if (delta !== 0) out.set(name, delta)
  }
  return out
}

/** What a {@link StatsReporter} reads and where it writes. */
export interface StatsOptions {
  /** `hub` or `node`: the `source` of the JSON lines. */
  readonly source: 'hub' | 'node'
  /** Reads the metrics object (`hub.metrics`, `node.metrics`). */
  readonly read: () => object
  /** The period of the lines, in ms. */
  readonly every: number
  readonly out: Output
  /** One JSON object per line instead of human text. */
  readonly json: boolean
  /** Milliseconds since the epoch. */
  readonly now: () => number
  /** The counters whose human line also shows a rate per second. */
  readonly rates: readonly string[]
}

/** The throughput counters of a hub, shown with a rate. */
export const HUB_RATES = ['mutations', 'commits', 'framesIn', 'framesOut', 'broadcasts', 'events'] as const
/** The throughput counters of a node, shown with a rate. */
export const NODE_RATES = ['writesSent', 'events'] as const

function perSecond(n: number, ms: number): number {
  return ms <= 0 ? 0 : (n * 1000) / ms
}

function rateText(rate: number): string {
  return rate >= 100 ? `${Math.round(rate)}/s` : `${rate.toFixed(1)}/s`
}

/** A time span in ms for humans, to a tenth of a second past 1s: `250ms`, `10.2s`, `1m30s`. */
export function formatMillis(ms: number): string {
  const rounded = ms < 1000 ? Math.round(ms) : Math.round(ms / 100) * 100
  return formatInterval(BigInt(Math.max(0, rounded)) * 1_000_000n)
}

function toObject(counters: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries(counters)
}

/**
 * Prints the counters of a metrics object every `every` ms until {@link StatsReporter.stop},
 * which prints the summary. While a line waits for a slow reader, the next periods print
 * nothing: the line after covers the counters since the last one printed, so nothing
 * queues up and nothing is missed.
 */
export class StatsReporter {
  readonly #options: StatsOptions
  readonly #started: number
  #last: Map<string, number>
  #lastAt: number
  #timer: NodeJS.Timeout | undefined
  #writing: Promise<void> | undefined
  #stopped = false

  constructor(options: StatsOptions) {
    this.#options = options
    this.#started = options.now()
    this.#lastAt = this.#started
    // What happened before the first line (a clone's snapshot, the hub's recovery) is in the summary, not in a line.
    this.#last = countersOf(options.read())
  }

  /** Starts the periodic lines. */
  start(): this {
    this.#timer ??= setInterval(() => this.#tick(), this.#options.every)
    // The command holds the process open while it runs; the reporter does not.
    this.#timer.unref()
    return this
  }

  #tick(): void {
    if (this.#stopped || this.#writing !== undefined) return
    const o = this.#options
    const now = o.now()
    const counters = countersOf(o.read())
    const moved = countersMoved(this.#last, counters)
    const ms = now - this.#lastAt
    this.#last = counters
    this.#lastAt = now
    const text = o.json ? this.#jsonLine('interval', now, ms, moved, counters) : this.#humanLine(ms, moved)
    const done = write(o.out, `${text}\n`)
    this.#writing = done
    // A write only fails when the stream is gone; the command's own output reports that.
    done
      .catch(() => {})
      .finally(() => {
        if (this.#writing === done) this.#writing = undefined
      })
  }

  #humanLine(ms: number, moved: ReadonlyMap<string, number>): string {
    const head = `stats ${formatMillis(ms)}:`
    if (moved.size === 0) return `${head} no change`
    const parts: string[] = []
    for (const [name, delta] of moved) {
      const rate = this.#options.rates.includes(name) ? ` (${rateText(perSecond(delta, ms))})` : ''
      parts.push(`${name} ${delta > 0 ? '+' : ''}${delta}${rate}`)
    }
    return `${head} ${parts.join(', ')}`
  }

  #jsonLine(
    stats: 'interval' | 'summary',
    now: number,
    ms: number,
    changed: ReadonlyMap<string, number> | undefined,
    totals: ReadonlyMap<string, number>,
  ): string {
    const rates: Record<string, number> = {}
    const base = changed ?? totals
    for (const name of this.#options.rates) {
      const n = base.get(name)
      if (n !== undefined && n !== 0) rates[name] = Math.round(perSecond(n, ms) * 10) / 10
    }
    return JSON.stringify({
      stats,
      source: this.#options.source,
      time: new Date(now).toISOString(),
      seconds: ms / 1000,
      ...(changed === undefined ? {} : { changed: toObject(changed) }),
      rates,
      totals: toObject(totals),
    })
  }

  /** Stops the lines and prints the summary: every counter that is not 0, over the whole run. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#writing?.catch(() => {})
    const o = this.#options
    const now = o.now()
    const ms = now - this.#started
    const counters = countersOf(o.read())
    if (o.json) {
      await write(o.out, `${this.#jsonLine('summary', now, ms, undefined, counters)}\n`)
      return
    }
    const parts: string[] = []
    for (const [name, n] of counters) {
      if (n === 0) continue
      const rate = o.rates.includes(name) ? ` (${rateText(perSecond(n, ms))})` : ''
      parts.push(`${name} ${n}${rate}`)
    }
    const head = `stats at stop, over ${formatMillis(ms)}:`
    await write(o.out, `${head} ${parts.length === 0 ? 'every counter 0' : parts.join(', ')}\n`)
  }

  /** Stops the lines without a summary (the command failed: its error says what happened). */
  cancel(): void {
    this.#stopped = true
    clearInterval(this.#timer)
  }
}

/**
 * The line a long-running node command prints on stderr when it stops, whether or not
 * `--stats` was given, if its clone resynced, its link was lost or events were lost on
 * their way; undefined when none of that happened.
 */
export function troubleAtStop(
  metrics: Pick<NodeMetrics, 'resyncs' | 'linksLost' | 'eventsLost'>,
): string | undefined {
  const parts: string[] = []
  const causes = Object.entries(metrics.resyncs).filter(([, n]) => n > 0)
  const resyncs = causes.reduce((sum, [, n]) => sum + n, 0)
  if (resyncs > 0) {
    const why = causes.map(([cause, n]) => `${cause} ${n}`).join(', ')
    parts.push(`the clone resynced ${times(resyncs)} (${why})`)
  }
  if (metrics.linksLost > 0) parts.push(`the link to the hub was lost ${times(metrics.linksLost)}`)
  if (metrics.eventsLost > 0) {
    parts.push(`${metrics.eventsLost} event${metrics.eventsLost === 1 ? ' was' : 's were'} lost on the way`)
  }
  return parts.length === 0 ? undefined : `at stop: ${parts.join('; ')}`
}

function times(n: number): string {
  return n === 1 ? 'once' : `${n} times`
}

/**
 * {@link withNode} for `watch` and `sub`: runs `body` with the node's stats on stderr (every
 * `every` ms, or the config's `node.stats`), then prints the summary and
 * {@link troubleAtStop}. stdout stays the data stream. A body that fails prints neither:
 * its error says what happened.
 */
export function withNodeStats<T>(
  ctx: CommandContext,
  globals: GlobalOptions,
  every: number | undefined,
  body: (session: NodeSession) => Promise<T>,
): Promise<T> {
  return withNode(ctx, globals, async (session) => {
    const { node } = session
    const period = every ?? session.config.node.stats
    const reporter =
      period === undefined
        ? undefined
        : new StatsReporter({
            source: 'node',
            read: () => node.metrics,
            every: period,
            out: ctx.stderr,
            json: globals.json,
            now: ctx.now,
            rates: NODE_RATES,
          }).start()
    let result: T
    try {
      result = await body(session)
    } catch (error) {
      reporter?.cancel()
      throw error
    }
    await reporter?.stop()
    const trouble = troubleAtStop(node.metrics)
    if (trouble !== undefined) await line(ctx.stderr, trouble)
    return result
  })
}
