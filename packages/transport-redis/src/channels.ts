/**
 * Channel names. Every link has two Pub/Sub channels, named after the hub, a random link id
 * and the identity (the Redis ACL user) of the node:
 *
 *   <prefix>:<hub>:req:<link>:<identity>   node → hub  (the hub PSUBSCRIBEs <prefix>:<hub>:req:*)
 *   <prefix>:<hub>:to:<link>:<identity>    hub → node  (the node SUBSCRIBEs its own)
 *
 * The identity is the last segment, percent-encoded so that it holds no `:` and no glob
 * metacharacter: ACL rules such as `&concord:*:req:*:alice` then let only `alice` publish
 * requests as `alice` (see {@link redisAclRules}).
 */

/** Link ids: random, alphanumeric. */
const LINK_ID = /^[A-Za-z0-9]{1,64}$/
const PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** True when `prefix` may prefix channel names. */
export function isChannelPrefix(prefix: string): boolean {
  return PREFIX.test(prefix)
}

/**
 * Percent-encodes everything but `A-Z a-z 0-9 . _ ~ + = @ -` (UTF-8 bytes), so the result
 * holds no `:` and none of the glob metacharacters `* ? [ ] \`.
 */
export function encodeIdentity(identity: string): string {
  let out = ''
  for (const byte of new TextEncoder().encode(identity)) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9._~+=@-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** The inverse of {@link encodeIdentity}; undefined when `text` is not such an encoding. */
export function decodeIdentity(text: string): string | undefined {
  if (!/^(?:[A-Za-z0-9._~+=@-]|%[0-9A-F]{2})+$/.test(text)) return undefined
  try {
    const identity = decodeURIComponent(text)
    return encodeIdentity(identity) === text ? identity : undefined
  } catch {
    return undefined
  }
}

/** Escapes the Redis glob metacharacters `* ? [ ] \` so that a pattern matches `text` literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

/** The channels of one hub. */
export class HubChannels {
  readonly base: string
  /** The pattern the hub PSUBSCRIBEs to. */
  readonly requestPattern: string
  /**
   * The channel where hubs of this name claim it when starting (see `NameClaim`): a request
   * channel, so every hub of the name hears it, that no node uses.
   */
  readonly claims: string

  constructor(
    readonly prefix: string,
    readonly hub: string,
  ) {
    this.base = `${prefix}:${hub}`
    this.requestPattern = `${escapeGlob(this.base)}:req:*`
    this.claims = `${this.base}:req:probe:-`
  }

  request(link: string, identity: string): string {
    return `${this.base}:req:${link}:${encodeIdentity(identity)}`
  }

  reply(link: string, identity: string): string {
    return `${this.base}:to:${link}:${encodeIdentity(identity)}`
  }

  /** The link and identity a request channel names; undefined when it is not one of ours. */
  parseRequest(channel: string): { link: string; identity: string; reply: string } | undefined {
    const head = `${this.base}:req:`
    if (!channel.startsWith(head)) return undefined
    const rest = channel.slice(head.length)
    const colon = rest.indexOf(':')
    if (colon < 0) return undefined
    const link = rest.slice(0, colon)
    const encoded = rest.slice(colon + 1)
    if (!LINK_ID.test(link)) return undefined
    const identity = decodeIdentity(encoded)
    if (identity === undefined) return undefined
    return { link, identity, reply: `${this.base}:to:${link}:${encoded}` }
  }
}
