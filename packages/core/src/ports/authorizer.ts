/** What an identity wants to do (S8.2). */
export type Action = 'read' | 'write' | 'publish' | 'subscribe'

/** The store or topic an action is on. Exactly one of the two is set. */
export type Resource =
  | { readonly store: string; readonly topic?: undefined }
  | { readonly topic: string; readonly store?: undefined }

/**
 * Decides, on the hub, whether an identity may act on a store or topic. Called on every
 * open, write batch, publish and subscribe; keep it fast and pure.
 *
 * For `subscribe`, `topic` is a prefix: `a/b` for the topic `a/b` and everything below it;
 * a prefix ending in `/` (`a/b/`) for everything below `a/b` but not `a/b` itself; `''` for
 * every topic. A subscription to `a/b` is asked as `a/b` and as `a/b/`.
 */
export interface Authorizer {
  authorize(identity: string, action: Action, resource: Resource): boolean
}

/** Lets everyone do everything. The default on loopback-only transports. */
export const allowAll: Authorizer = { authorize: () => true }

/** One rule of {@link rulesAuthorizer}. */
export interface AccessRule {
  /** Identities the rule applies to; `*` matches any. */
  readonly identities: readonly string[]
  /** Actions granted. */
  readonly allow: readonly Action[]
  /** Store names granted (`*` for all). */
  readonly stores?: readonly string[]
  /** Topic prefixes granted, matched on whole `/` segments (`''` for all). */
  readonly topics?: readonly string[]
}

/** True when `prefix` matches `topic` on whole `/`-separated segments (S7.1). */
export function topicMatches(prefix: string, topic: string): boolean {
  if (prefix === '') return true
  if (!topic.startsWith(prefix)) return false
  return topic.length === prefix.length || topic.charCodeAt(prefix.length) === 47 || prefix.endsWith('/')
}

/**
 * The entry registered under the longest prefix that matches `topic` on whole segments (the
 * payload schema of a topic, S7.4), or undefined when none does.
 */
export function longestTopicMatch<V>(entries: Iterable<readonly [string, V]>, topic: string): V | undefined {
  let best: readonly [string, V] | undefined
  for (const entry of entries) {
    if (topicMatches(entry[0], topic) && (best === undefined || entry[0].length > best[0].length))
      best = entry
  }
  return best?.[1]
}

/**
 * An authorizer from a list of allow rules: an action is allowed when some rule names the
 * identity (or `*`), the action, and the store (or `*`) / a topic prefix of the topic.
 * Everything else is denied.
 */
export function rulesAuthorizer(rules: readonly AccessRule[]): Authorizer {
  return {
    authorize(identity, action, resource) {
      return rules.some((rule) => {
        if (!rule.identities.includes('*') && !rule.identities.includes(identity)) return false
        if (!rule.allow.includes(action)) return false
        if (resource.store !== undefined) {
          return (
            rule.stores !== undefined && (rule.stores.includes('*') || rule.stores.includes(resource.store))
          )
        }
        return rule.topics?.some((p) => topicMatches(p, resource.topic)) ?? false
      })
    },
  }
}
