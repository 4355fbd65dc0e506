/**
 * `concord serve`: a hub with the stores, topics and access rules of the config, until
 * Ctrl-C (SIGINT) or SIGTERM, then a clean close.
 *
 * @module
 */
import { createHub, type Hub, type Persistence, type StoreConfig } from '@concord/core'
import type { AdapterChoice, ConcordConfig } from '../config.js'
import { aborted, type CommandContext, keepAlive, line } from '../context.js'
import { refusedValue, UsageError } from '../errors.js'
import { commandConfig, configTransport } from '../session.js'
import { formatMillis, HUB_RATES, StatsReporter, statsOption, statsPeriod } from '../stats.js'
import type { Command } from './command.js'

/** A hub started from a config, with the persistences it opened. */
export interface RunningHub {
  readonly hub: Hub
  /** Where the default persistence keeps data, for humans. */
  readonly data: string
  /** Entries of each store after recovery. */
  readonly counts: ReadonlyMap<string, number>
  /** Closes the hub, then every persistence it used. Idempotent. */
  close(): Promise<void>
}

async function persistenceOf(
  ctx: CommandContext,
  config: ConcordConfig,
  choice: AdapterChoice,
  path: string,
): Promise<Persistence> {
  const adapter = ctx.adapters.persistences[choice.kind]
  if (adapter === undefined) throw new UsageError(`unknown persistence kind '${choice.kind}'`)
  try {
    return await adapter.create(choice.options)
  } catch (error) {
    // SQLite's pragmas, for one, are checked by the adapter, not by the config's loader.
    throw refusedValue(error, { file: config.file, path })
  }
}

/** Starts a hub as `config` describes (the context may inject the transport and persistence). */
export async function startHub(
  ctx: CommandContext,
  config: ConcordConfig,
  listen = config.listen,
): Promise<RunningHub> {
  const transport = await configTransport(ctx, config, 'hub')
  const opened: Persistence[] = []
  const closeAll = async () => {
    for (const p of opened.splice(0)) await p.close()
  }
  try {
    const persistence =
      ctx.persistence ?? (await persistenceOf(ctx, config, config.persistence, 'persistence'))
    if (ctx.persistence === undefined) opened.push(persistence)
    const stores: Record<string, StoreConfig> = {}
    for (const [name, def] of Object.entries(config.stores)) {
      let own: Persistence | undefined
      if (def.persistence !== undefined) {
        own = await persistenceOf(ctx, config, def.persistence, `stores.${name}.persistence`)
        opened.push(own)
      }
      stores[name] = {
        schema: def.schema,
        ...(def.expiry === undefined ? {} : { expiry: def.expiry }),
        ...(def.expiryTolerance === undefined ? {} : { expiryTolerance: def.expiryTolerance }),
        ...(def.maxValueSize === undefined ? {} : { maxValueSize: def.maxValueSize }),
        ...(own === undefined ? {} : { persistence: own }),
      }
    }
    const topics = Object.fromEntries(
      Object.entries(config.topics).map(([p, d]) => [p, { schema: d.schema }]),
    )
    const hub = await createHub({
      transport,
      listen,
      persistence,
      stores,
      topics,
      signal: ctx.signal,
      ...(config.access === undefined ? {} : { access: config.access }),
      ...(config.heartbeat === undefined ? {} : { heartbeat: config.heartbeat }),
    }).catch((error: unknown) => {
      // Everything else in this call was checked with the config: what the transport refuses
      // here is the address (not its form, or not one it may listen on without CURVE).
      throw refusedValue(
        error,
        listen === config.listen
          ? { file: config.file, path: 'hub.listen' }
          : { commandLine: `--listen ${listen}` },
      )
    })
    const counts = new Map<string, number>()
    for (const name of hub.storeNames) counts.set(name, hub.master(name)?.backend.size() ?? 0)
    const adapter = ctx.adapters.persistences[config.persistence.kind]
    const data =
      ctx.persistence !== undefined
        ? `${ctx.persistence.capabilities.name} (injected)`
        : (adapter?.describe(config.persistence.options) ?? config.persistence.kind)
    let closing: Promise<void> | undefined
    return {
      hub,
      data,
      counts,
      close: () => {
        closing ??= (async () => {
          try {
            await hub.close()
          } finally {
            await closeAll()
          }
        })()
        return closing
      },
    }
  } catch (error) {
    await closeAll()
    throw error
  }
}

function entries(n: number): string {
  return n === 1 ? '1 entry' : `${n} entries`
}

/** `concord serve`: the hub of the config until Ctrl-C or SIGTERM. */
export const serve: Command = {
  name: 'serve',
  summary: 'run a hub: the stores, topics and access rules of the config',
  usage: 'concord serve [--config FILE] [--listen ADDRESS] [--stats DURATION] [--json]',
  details:
    "Listens where the config says (default tcp://127.0.0.1:7420, ZeroMQ; data in ./concord-data, SQLite),\nprints each store with its entry count after recovery, and stops cleanly on Ctrl-C or SIGTERM.\n--stats (or hub.stats) prints the hub's counters that moved every DURATION and a summary at stop;\nwith --json they are JSON objects on stdout, and the other lines go to stderr.",
  options: {
    listen: {
      type: 'string',
      value: 'ADDRESS',
      description: "where to listen, over the config's hub.listen",
    },
    stats: statsOption,
  },
  args: { min: 0, max: 0 },
  async run({ globals, options }, ctx) {
    const every = statsPeriod(options.stats)
    const config = await commandConfig(ctx, globals)
    const listen = typeof options.listen === 'string' ? options.listen : config.listen
    // With --json, stdout carries JSON objects only (the stats): the lines for humans go to stderr.
    const say = (text: string) => line(globals.json ? ctx.stderr : ctx.stdout, text)
    const running = await startHub(ctx, config, listen)
    try {
      await say(`listening on ${running.hub.address} (${config.transport.kind})`)
      await say(`data: ${running.data}`)
      for (const [name, count] of running.counts) {
        const def = config.stores[name]!
        const expiry = def.expiry === undefined ? '' : `, expiry ${def.expiry}`
        await say(`store ${name}: ${entries(count)}${expiry}`)
      }
      const topics = Object.keys(config.topics)
      if (topics.length > 0) await say(`topics: ${topics.join(', ')}`)
      if (config.access !== undefined) {
        await say(`access: ${config.access.length} rule${config.access.length === 1 ? '' : 's'}`)
      }
      const period = every ?? config.hubStats
      const stats =
        period === undefined
          ? undefined
          : new StatsReporter({
              source: 'hub',
              read: () => running.hub.metrics,
              every: period,
              out: ctx.stdout,
              json: globals.json,
              now: ctx.now,
              rates: HUB_RATES,
            })
      await say(`ready; Ctrl-C to stop${stats === undefined ? '' : `; stats every ${formatMillis(period!)}`}`)
      const release = keepAlive()
      stats?.start()
      try {
        await aborted(ctx.signal)
      } finally {
        release()
      }
      await stats?.stop()
      await say('stopping…')
    } finally {
      await running.close()
    }
    await say('stopped')
    return 0
  },
}
