import type { Schema } from '@concord/schema/contract'
import { loneSurrogateAt } from '@concord/schema/msgpack'
import { ValidationError } from '../errors.js'

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/

/** Store and group names: 1-200 characters of `A-Z a-z 0-9 . _ : / -`, starting with a letter or digit. */
export function checkName(kind: 'store' | 'group', name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new TypeError(`invalid ${kind} name ${JSON.stringify(name)}: use 1-200 of A-Z a-z 0-9 . _ : / -`)
  }
  return name
}

/** `schema` if it is one (a schema of `@concord/schema`), else a `TypeError` saying whose it should be. */
export function checkSchema<S extends Schema>(whose: string, schema: S | undefined): S {
  const candidate = schema as Partial<Schema> | undefined
  if (typeof candidate?.fingerprint !== 'string' || typeof candidate.decode !== 'function') {
    throw new TypeError(`${whose} needs { schema }: a schema of @concord/schema`)
  }
  return schema as S
}

/**
 * `prefix` if it can be a prefix view's (S2.6): a string of well-formed Unicode. A lone
 * surrogate cannot travel as UTF-8: the hub would serve the view of another prefix, on a
 * broadcast topic the node never subscribed to, and the view would miss every change.
 */
export function checkViewPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string') throw new TypeError(`a view prefix is a string, got ${typeof prefix}`)
  const at = loneSurrogateAt(prefix)
  if (at >= 0)
    throw new TypeError(`view prefix ${JSON.stringify(prefix)} has a lone surrogate at index ${at}`)
  return prefix
}

/**
 * Whether `topic` can be an event topic or prefix: a string without `|` (core's namespace
 * separator on the transport) and without a lone surrogate, which UTF-8 cannot carry (the
 * event would travel on another topic and reach no one).
 */
export function isTopic(topic: unknown): topic is string {
  return typeof topic === 'string' && !topic.includes('|') && loneSurrogateAt(topic) < 0
}

/**
 * Broadcast topic names: core's namespaces on the transport (see docs/ARCHITECTURE.md).
 *
 * Transports match a subscription as a raw prefix; events match on whole `/` segments
 * (S7.1). So an event topic travels with `|` (which no topic holds) at its end, and an event
 * prefix is subscribed to as exactly the raw prefixes that cover what the prefix matches:
 * `a/b` as `e|a/b|` (the topic itself) and `e|a/b/` (below it), `a/` as `e|a/`, and `''` as
 * `e|`. No raw prefix granted for `a/b` can then carry `a/bc` (S8.2).
 */
export const Topics = {
  hub: 'h|',
  store: (store: string) => `s|${store}|`,
  view: (store: string, prefix: string) => `v|${store}|${prefix}`,
  event: (topic: string) => `e|${topic}|`,
  groupEvent: (group: string, topic: string) => `g|${group}|${topic}|`,
  /** The raw prefixes an event subscription to `prefix` needs (`namespace` is `e|` or `g|group|`). */
  eventPrefixes: (namespace: string, prefix: string): string[] =>
    prefix === '' || prefix.endsWith('/')
      ? [`${namespace}${prefix}`]
      : [`${namespace}${prefix}|`, `${namespace}${prefix}/`],
} as const

/**
 * The event prefix a raw subscription (after its `e|` or `g|group|`) covers, the inverse of
 * `Topics.eventPrefixes`; undefined for a raw prefix that does not end on a segment boundary.
 */
export function eventPrefixOf(raw: string): string | undefined {
  if (raw === '' || raw.endsWith('/')) return raw.includes('|') ? undefined : raw
  if (!raw.endsWith('|')) return undefined
  const topic = raw.slice(0, -1)
  return topic.includes('|') ? undefined : topic
}

/**
 * Why `key` cannot be a key, or undefined. A key with a lone surrogate cannot travel as
 * UTF-8: it would arrive as another key (U+FFFD in its place), so the write would land on a
 * key its writer never reads back. (The hub cannot receive one: the wire's decoder turns
 * invalid UTF-8 into U+FFFD.)
 */
export function keyProblem(key: string): ValidationError | undefined {
  const at = loneSurrogateAt(key)
  if (at < 0) return undefined
  return new ValidationError(
    [{ path: '', code: 'format', message: `a lone surrogate at index ${at}; keys are well-formed Unicode` }],
    { context: 'invalid key' },
  )
}
