import { encodeIdentity, escapeGlob, isChannelPrefix } from './channels.js'

/** Options of {@link redisAclRules}. */
export interface AclRulesOptions {
  /** The channel prefix the transport uses. Default `concord`. */
  readonly prefix?: string
  /**
   * The hub name the rules are for. Default: any hub (nodes), all channels (hubs: a hub
   * listening on `*` has a name nobody knows in advance).
   */
  readonly hub?: string
}

/**
 * The ACL rules that confine a Redis user to what this transport needs, for
 * `ACL SETUSER <user> on >password …rules`:
 *
 * - `node`: PUBLISH on its own request channels and SUBSCRIBE to its own reply channels only,
 *   so Redis itself guarantees that a request arriving on `…:req:<link>:<user>` was sent by
 *   `<user>` (the identity the hub's authorizer sees) and that no other user reads its replies.
 * - `hub`: PSUBSCRIBE to its hub's requests and PUBLISH to its hub's channels.
 *
 * Commands the user does not need are removed (`-@all`); key access is not granted.
 *
 * @example
 * await admin.call('ACL', 'SETUSER', 'alice', 'reset', 'on', '>secret', ...redisAclRules('node', 'alice'))
 */
export function redisAclRules(role: 'node' | 'hub', user: string, options: AclRulesOptions = {}): string[] {
  const prefix = options.prefix ?? 'concord'
  if (!isChannelPrefix(prefix)) throw new TypeError(`invalid channel prefix '${prefix}'`)
  if (typeof user !== 'string' || user === '') throw new TypeError('user must be a non-empty string')
  const hub = options.hub === undefined ? undefined : escapeGlob(options.hub)
  if (role === 'node') {
    const base = `${prefix}:${hub ?? '*'}`
    const me = encodeIdentity(user)
    return [
      'resetchannels',
      `&${base}:req:*:${me}`,
      `&${base}:to:*:${me}`,
      'resetkeys',
      '-@all',
      '+publish',
      '+subscribe',
      '+unsubscribe',
    ]
  }
  if (role === 'hub') {
    const channels =
      hub === undefined
        ? ['allchannels']
        : ['resetchannels', `&${prefix}:${hub}:*`, `&${prefix}:${hub}:req:*`]
    return [...channels, 'resetkeys', '-@all', '+publish', '+psubscribe', '+punsubscribe']
  }
  throw new TypeError(`role must be 'node' or 'hub', got '${String(role)}'`)
}
