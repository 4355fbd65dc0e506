/** One Redis server (or Sentinel) a transport address names. */
export interface RedisHost {
  readonly host: string
  readonly port: number
}

/**
 * A parsed hub address:
 * - `redis://host[:port]/<hub>`: a standalone Redis (port 6379 by default);
 * - `rediss://host[:port]/<hub>`: the same over TLS;
 * - `redis+sentinel://host[:port][,host[:port]…]/<master>/<hub>`: the master named `<master>`
 *   as the listed Sentinels report it (port 26379 by default).
 *
 * `<hub>` names the hub on that Redis (`[A-Za-z0-9][A-Za-z0-9._-]*`, at most 128 characters).
 * `listen` also takes `*` there and picks a fresh name. Credentials never go in an address
 * (it is shared with every node): pass them in the transport's options.
 */
export interface RedisAddress {
  readonly scheme: 'redis' | 'rediss' | 'redis+sentinel'
  readonly hosts: readonly RedisHost[]
  /** The Sentinel master name, for `redis+sentinel`. */
  readonly master?: string
  /** The hub name, or `*` (listen only: a fresh name). */
  readonly hub: string
}

const HUB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const MASTER_NAME = /^[A-Za-z0-9._-]{1,128}$/
const ADDRESS = /^(redis|rediss|redis\+sentinel):\/\/([^/]*)\/(.*)$/

/** True when `name` is a valid hub name. */
export function isHubName(name: string): boolean {
  return HUB_NAME.test(name)
}

/** Parses an address (see {@link RedisAddress}); throws `TypeError` when it is not one. */
export function parseAddress(address: string): RedisAddress {
  if (typeof address !== 'string') throw new TypeError('a Redis address must be a string')
  const match = ADDRESS.exec(address)
  if (match === null) {
    throw new TypeError(
      `not a Redis transport address: '${address}' (expected redis://host:port/<hub>, rediss://… or redis+sentinel://host:port,…/<master>/<hub>)`,
    )
  }
  const scheme = match[1] as RedisAddress['scheme']
  const authority = match[2]!
  const path = match[3]!
  if (authority.includes('@')) {
    throw new TypeError(
      `a Redis transport address carries no credentials ('${address}'): pass username/password in the transport options`,
    )
  }
  const defaultPort = scheme === 'redis+sentinel' ? 26379 : 6379
  const parts = authority.split(',')
  if (scheme !== 'redis+sentinel' && parts.length !== 1) {
    throw new TypeError(`'${address}': only redis+sentinel:// addresses list several hosts`)
  }
  const hosts = parts.map((part) => parseHost(part, defaultPort, address))
  let master: string | undefined
  let hub = path
  if (scheme === 'redis+sentinel') {
    const slash = path.indexOf('/')
    master = slash < 0 ? '' : path.slice(0, slash)
    hub = slash < 0 ? '' : path.slice(slash + 1)
    if (!MASTER_NAME.test(master)) {
      throw new TypeError(`'${address}': expected redis+sentinel://host:port,…/<master>/<hub>`)
    }
  }
  if (hub !== '*' && !isHubName(hub)) {
    throw new TypeError(
      `'${address}': the hub name must match [A-Za-z0-9][A-Za-z0-9._-]* (at most 128 characters), got '${hub}'`,
    )
  }
  return master === undefined ? { scheme, hosts, hub } : { scheme, hosts, master, hub }
}

/** The canonical text of an address. */
export function formatAddress(address: RedisAddress): string {
  const hosts = address.hosts
    .map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`)
    .join(',')
  const path = address.master === undefined ? address.hub : `${address.master}/${address.hub}`
  return `${address.scheme}://${hosts}/${path}`
}

function parseHost(text: string, defaultPort: number, address: string): RedisHost {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(text)
  if (match === null) throw new TypeError(`'${address}': '${text}' is not host[:port]`)
  const port = match[3] === undefined ? defaultPort : Number(match[3])
  if (port < 1 || port > 65535) throw new TypeError(`'${address}': port ${port} is out of range`)
  return { host: (match[1] ?? match[2])!, port }
}
