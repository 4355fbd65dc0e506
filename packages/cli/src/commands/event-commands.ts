/**
 * The event commands: pub and sub.
 *
 * @module
 */
import type { ConcordEvent } from '@concord/core'
import { type AnySchemaType, toJson } from '@concord/schema'
import { line, raceAbort, untilAborted } from '../context.js'
import { UsageError } from '../errors.js'
import { formatValue, untypedJson } from '../format.js'
import { withNode } from '../session.js'
import { statsOption, statsPeriod, withNodeStats } from '../stats.js'
import { argValue, type Command } from './command.js'

/** `concord pub TOPIC VALUE`: publishes one event. */
export const pub: Command = {
  name: 'pub',
  summary: 'publish an event',
  usage: 'concord pub TOPIC VALUE [--group G] [--json]',
  details:
    "VALUE is read with the payload schema of the topic's longest prefix in the config (human form,\nor Zeek JSON with --json); a topic without a schema carries VALUE as a string.",
  options: { group: { type: 'string', value: 'G', description: 'deliver only to members of group G' } },
  args: { min: 2, max: 2 },
  async run({ globals, args, options }, ctx) {
    const [topic, text] = args as [string, string]
    const group = options.group
    if (group !== undefined && typeof group !== 'string') throw new UsageError('--group takes a name')
    return withNode(ctx, globals, async (session) => {
      const schema = session.topicSchema(topic)
      // Without a schema the event carries the text's UTF-8 bytes (core takes bytes then).
      const payload =
        schema === undefined
          ? new TextEncoder().encode(text)
          : argValue(schema, text, globals.json, 'VALUE', { now: ctx.now })
      await session.call(`publish to '${topic}'`, (signal) =>
        session.node.publish(topic, payload, { signal, ...(group === undefined ? {} : { group }) }),
      )
      // publish resolves to nothing but the hub's word that it routed the event: say that.
      if (globals.json) {
        await line(
          ctx.stdout,
          JSON.stringify({ published: true, topic, ...(group === undefined ? {} : { group }) }),
        )
      } else await line(ctx.stderr, `published to ${topic}`)
      return 0
    })
  },
}

/** The human line of an event: `topic: payload`. */
export function eventLine(schema: AnySchemaType | undefined, event: ConcordEvent): string {
  const group = event.group === undefined ? '' : ` [group ${event.group}]`
  return `${event.topic}${group}: ${formatValue(schema, untypedText(schema, event.payload))}`
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** An untyped payload that is UTF-8 text (what `pub` sends on such a topic) as that text. */
function untypedText(schema: AnySchemaType | undefined, payload: unknown): unknown {
  if (schema !== undefined || !(payload instanceof Uint8Array)) return payload
  try {
    return utf8.decode(payload)
  } catch {
    return payload
  }
}

/** The JSON line of an event: `{"topic":…,"payload":<Zeek JSON>}` (plain JSON for untyped payloads). */
export function eventJson(schema: AnySchemaType | undefined, event: ConcordEvent): string {
  const payload =
    schema === undefined
      ? untypedJson(untypedText(schema, event.payload))
      : toJson(schema, event.payload as never)
  const group = event.group === undefined ? '' : `,"group":${JSON.stringify(event.group)}`
  return `{"topic":${JSON.stringify(event.topic)}${group},"payload":${payload}}`
}

/** `concord sub [TOPIC]`: events as they arrive, until Ctrl-C. */
export const sub: Command = {
  name: 'sub',
  summary: 'print events on a topic prefix as they arrive, until Ctrl-C',
  usage: 'concord sub [TOPIC] [--stats DURATION] [--json]',
  details:
    "Matches whole segments: 'zeek/conn' gets zeek/conn and zeek/conn/new, not zeek/connection.\nWithout TOPIC, every event. --stats (or node.stats) prints the node's counters on stderr; at stop,\nstderr says whether events were lost on the way.",
  options: { stats: statsOption },
  args: { min: 0, max: 1 },
  async run({ globals, args, options }, ctx) {
    const prefix = args[0] ?? ''
    return withNodeStats(ctx, globals, statsPeriod(options.stats), async (session) => {
      const subscription = session.node.subscribe(prefix)
      try {
        await session.call(`subscribe to '${prefix}'`, (signal) => raceAbort(subscription.ready, signal))
        await line(
          ctx.stderr,
          `subscribed to ${prefix === '' ? 'every topic' : `'${prefix}'`}; Ctrl-C to stop`,
        )
        for await (const event of untilAborted(subscription, ctx.signal)) {
          const schema = session.topicSchema(event.topic)
          await line(ctx.stdout, globals.json ? eventJson(schema, event) : eventLine(schema, event))
        }
      } finally {
        subscription.unsubscribe()
      }
      return 0
    })
  },
}
