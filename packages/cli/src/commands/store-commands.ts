/**
 * The store commands: get, put, rm, update, keys, watch.
 *
 * @module
 */
import { type Change, type Store, toMillis } from '@concord/core'
import { type AnySchemaType, t, toJson } from '@concord/schema'
import { isBareNumber } from '../config.js'
import { line, untilAborted } from '../context.js'
import { NotFoundError, UsageError } from '../errors.js'
import { count, formatValue } from '../format.js'
import { unwrap } from '../parse-value.js'
import { withNode } from '../session.js'
import { statsOption, statsPeriod, withNodeStats } from '../stats.js'
import { argValue, type Command } from './command.js'

const expiryOption = {
  type: 'string',
  value: 'DURATION',
  description: "this write's expiry (5m, 30s, 1h), over the store's default",
} as const

/** `--expiry`, checked like the config's durations (a unit is required). */
export function expiryOf(value: string | boolean | undefined): { expiry?: string } {
  if (value === undefined) return {}
  if (typeof value !== 'string') throw new UsageError('--expiry takes a duration like 5m')
  if (isBareNumber(value)) {
    throw new UsageError(
      `--expiry takes a duration like 30s, 5m, 1h; got ${JSON.stringify(value)} (a bare number is ambiguous)`,
    )
  }
  try {
    toMillis(value)
  } catch {
    throw new UsageError(`--expiry takes a duration like 30s, 5m, 1h; got ${JSON.stringify(value)}`)
  }
  return { expiry: value }
}

/** The JSON line of a key and value: `{"key":"k","value":<Zeek JSON>}`. */
export function entryJson(schema: AnySchemaType, key: string, value: unknown): string {
  return `{"key":${JSON.stringify(key)},"value":${toJson(schema, value as never)}}`
}

/** `concord get STORE KEY`: the value, human or Zeek JSON; exit 3 when absent. */
export const get: Command = {
  name: 'get',
  summary: 'print the value of a key',
  usage: 'concord get STORE KEY [--json]',
  details: 'Prints the value in human form, or as Zeek JSON with --json. Exit code 3 when the key is absent.',
  args: { min: 2, max: 2 },
  async run({ globals, args }, ctx) {
    const [name, key] = args as [string, string]
    return withNode(ctx, globals, async (session) => {
      // One key from the hub (node.read): not a clone, not even a view of the key's prefix,
      // which would copy every key starting with it.
      const { result, def } = await session.read(name, key)
      if (!result.found) throw new NotFoundError(`no key '${key}' in store '${name}'`)
      const value = result.value
      await line(
        ctx.stdout,
        globals.json ? toJson(def.schema, value as never) : formatValue(def.schema, value),
      )
      return 0
    })
  },
}

/** `concord put STORE KEY VALUE`: writes a value given in human form or Zeek JSON. */
export const put: Command = {
  name: 'put',
  summary: 'set the value of a key',
  usage: 'concord put STORE KEY VALUE [--expiry DURATION] [--json]',
  details:
    'VALUE is the human form (42, 10.0.0.1, 80/tcp, 1.5s, 2018-03-24T17:15:21Z, {a, b}); with --json a VALUE\nstarting with { is Zeek JSON (needed for records and tables).',
  options: { expiry: expiryOption },
  args: { min: 3, max: 3 },
  async run({ globals, args, options }, ctx) {
    const [name, key, text] = args as [string, string, string]
    const expiry = expiryOf(options.expiry)
    return withNode(ctx, globals, async (session) => {
      const def = session.store(name)
      const value = argValue(def.schema, text, globals.json, 'VALUE', { now: ctx.now })
      const { writer } = await session.writer(name)
      const seq = await session.call(`put '${key}'`, (signal) =>
        writer.put(key, value, { ...expiry, signal }),
      )
      // Not the value back: it was just given, and may be large.
      await line(ctx.stdout, globals.json ? `{"seq":${seq}}` : `put ${key} in ${name} (seq ${seq})`)
      return 0
    })
  },
}

/** `concord rm STORE KEY`: removes a key (without reading the store: it does not tell whether the key was there). */
export const rm: Command = {
  name: 'rm',
  summary: 'remove a key',
  usage: 'concord rm STORE KEY [--json]',
  args: { min: 2, max: 2 },
  async run({ globals, args }, ctx) {
    const [name, key] = args as [string, string]
    return withNode(ctx, globals, async (session) => {
      const { writer } = await session.writer(name)
      const seq = await session.call(`remove '${key}'`, (signal) => writer.remove(key, { signal }))
      await line(ctx.stdout, globals.json ? `{"seq":${seq}}` : `removed ${key} (seq ${seq})`)
      return 0
    })
  },
}

/** The schema of an update's delta, for op `op` on a store of `schema`. */
function deltaSchema(schema: AnySchemaType, op: string): AnySchemaType | 'table-entry' | undefined {
  const s = unwrap(schema)
  const def = s.def
  switch (op) {
    case 'increment':
    case 'decrement':
    case 'append':
    case 'putIfAbsent':
      return s
    case 'insertInto':
      if (def.kind === 'set') return def.element
      if (def.kind === 'table') return 'table-entry'
      return undefined
    case 'removeFrom':
      if (def.kind === 'set') return def.element
      if (def.kind === 'table') return def.key
      return undefined
    case 'push':
      return def.kind === 'vector' ? def.element : undefined
    case 'pop':
      return t.bool()
    default:
      return undefined
  }
}

const OPS = ['increment', 'decrement', 'append', 'insertInto', 'removeFrom', 'push', 'pop', 'putIfAbsent']

/** `concord update STORE KEY [DELTA] --op OP`: a built-in update operation, run on the hub. */
export const update: Command = {
  name: 'update',
  summary: 'run a built-in update operation on the hub (increment, insertInto, push, …)',
  usage: 'concord update STORE KEY [DELTA] --op OP [--expiry DURATION] [--json]',
  details: `OP is one of ${OPS.join(', ')}. DELTA is a value (increment, append, putIfAbsent),
an element (insertInto/removeFrom a set, push), a key (removeFrom a table) or KEY=VALUE
(insertInto a table); pop takes none. Prints the seq of the write (putIfAbsent: whether it
inserted); \`concord get\` shows the value.`,
  options: {
    op: { type: 'string', value: 'OP', description: 'the operation' },
    expiry: expiryOption,
  },
  args: { min: 2, max: 3 },
  async run({ globals, args, options }, ctx) {
    const [name, key, text] = args as [string, string, string | undefined]
    const op = options.op
    if (typeof op !== 'string') throw new UsageError(`update needs --op (${OPS.join(', ')})`)
    if (!OPS.includes(op)) throw new UsageError(`unknown --op '${op}': expected one of ${OPS.join(', ')}`)
    const expiry = expiryOf(options.expiry)
    return withNode(ctx, globals, async (session) => {
      const def = session.store(name)
      const schema = deltaSchema(def.schema, op)
      if (schema === undefined) {
        throw new UsageError(
          `--op ${op} does not apply to store '${name}' of type ${unwrap(def.schema).def.kind}`,
        )
      }
      let delta: unknown
      if (op === 'pop') {
        if (text !== undefined) throw new UsageError('--op pop takes no DELTA')
      } else if (text === undefined) throw new UsageError(`--op ${op} needs a DELTA`)
      else if (schema === 'table-entry') {
        const table = unwrap(def.schema).def as { key: AnySchemaType; value: AnySchemaType }
        const at = text.indexOf('=')
        if (at < 0) throw new UsageError('insertInto a table takes DELTA as KEY=VALUE')
        delta = [
          argValue(table.key, text.slice(0, at), false, 'table key'),
          argValue(table.value, text.slice(at + 1), globals.json, 'table value'),
        ]
      } else {
        const counter = op === 'increment' || op === 'decrement'
        if (counter && unwrap(schema as AnySchemaType).def.kind === 'count' && /^-\d/.test(text)) {
          // A count never goes below 0, nor does its delta: the other op subtracts.
          const other = op === 'increment' ? 'decrement' : 'increment'
          throw new UsageError(
            `bad DELTA: a count's delta is never negative, found "${text}": use --op ${other} ${text.slice(1)}`,
          )
        }
        delta = argValue(schema as AnySchemaType, text, globals.json, 'DELTA', { now: ctx.now })
      }
      const { writer } = await session.writer(name)
      const result = await session.call(`update '${key}'`, (signal) =>
        writer.update(key, delta, { op, ...expiry, signal }),
      )
      if (globals.json) {
        await line(ctx.stdout, typeof result === 'boolean' ? `{"inserted":${result}}` : `{"seq":${result}}`)
      } else if (typeof result === 'boolean') {
        await line(
          ctx.stdout,
          result
            ? `${key} = ${formatValue(def.schema, delta)} (inserted)`
            : `${key} was already there, unchanged`,
        )
      } else await line(ctx.stdout, `${op} ${key} (seq ${result})`)
      return 0
    })
  },
}

/** `concord keys STORE`: the keys, sorted. */
export const keys: Command = {
  name: 'keys',
  summary: 'list the keys of a store, sorted',
  usage: 'concord keys STORE [--prefix P] [--json]',
  options: { prefix: { type: 'string', value: 'P', description: 'only keys starting with P' } },
  args: { min: 1, max: 1 },
  async run({ globals, args, options }, ctx) {
    const [name] = args as [string]
    const prefix = typeof options.prefix === 'string' ? options.prefix : undefined
    return withNode(ctx, globals, async (session) => {
      const { store } = await session.open(name, prefix)
      const all = [...store.keys()].sort()
      for (const key of all) await line(ctx.stdout, globals.json ? `{"key":${JSON.stringify(key)}}` : key)
      return 0
    })
  },
}

/** The human line of a change: `put k = v`, `remove k`, `expire k`, `clear`. */
export function changeLine(schema: AnySchemaType, change: Change<unknown>): string {
  switch (change.kind) {
    case 'put':
      return `put ${change.key} = ${formatValue(schema, change.value)}`
    case 'clear':
      return 'clear'
    default:
      return `${change.kind} ${change.key}`
  }
}

/** The JSON line of a change. */
export function changeJson(schema: AnySchemaType, change: Change<unknown>): string {
  const value = change.kind === 'put' ? `,"value":${toJson(schema, change.value as never)}` : ''
  const key = change.kind === 'clear' ? '' : `,"key":${JSON.stringify(change.key)}`
  return `{"kind":"${change.kind}"${key}${value},"seq":${change.seq}}`
}

/** `concord watch STORE`: changes as they happen, until Ctrl-C. */
export const watch: Command = {
  name: 'watch',
  summary: 'print changes to a store as they happen, until Ctrl-C',
  usage: 'concord watch STORE [--prefix P] [--stats DURATION] [--json]',
  details:
    "One line per change: put k = v, remove k, expire k, clear. --stats (or node.stats) prints the\nnode's counters on stderr; at stop, stderr says whether the clone resynced or its link was lost.",
  options: {
    prefix: { type: 'string', value: 'P', description: 'only keys starting with P' },
    stats: statsOption,
  },
  args: { min: 1, max: 1 },
  async run({ globals, args, options }, ctx) {
    const [name] = args as [string]
    const prefix = typeof options.prefix === 'string' ? options.prefix : undefined
    return withNodeStats(ctx, globals, statsPeriod(options.stats), async (session) => {
      const { store, def } = await session.open(name, prefix)
      const changes = store.changes()
      const status = reportStatus(store, ctx, name)
      await line(
        ctx.stderr,
        `watching ${name}${prefix === undefined ? '' : ` (prefix '${prefix}')`}: ${count(store.size, 'key')}; Ctrl-C to stop`,
      )
      for await (const change of untilAborted(changes, ctx.signal)) {
        await line(ctx.stdout, globals.json ? changeJson(def.schema, change) : changeLine(def.schema, change))
      }
      await status
      return 0
    })
  },
}

/** Reports a clone's link trouble on stderr while a long command runs. */
async function reportStatus(
  store: Store<unknown>,
  ctx: { stderr: import('../context.js').Output; signal: AbortSignal },
  name: string,
): Promise<void> {
  for await (const change of untilAborted(store.statusChanges(), ctx.signal)) {
    if (change.status === 'stale')
      await line(ctx.stderr, `store ${name}: link to the hub lost, reconnecting…`)
    else if (change.status === 'live') await line(ctx.stderr, `store ${name}: live again`)
    else if (change.status === 'closed') return
  }
}
