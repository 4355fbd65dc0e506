import { Redis, type RedisOptions } from 'ioredis'
import type { RedisAddress } from './address.js'

/** What every connection of the transport shares, from the transport's options. */
export interface ConnectionSettings {
  readonly username: string | undefined
  readonly password: string | undefined
  readonly tls: RedisOptions['tls'] | undefined
  readonly redis: RedisOptions
}

/**
 * A new, not yet connected ioredis client for `address` (the factory does no I/O).
 *
 * Fixed options, whatever `settings.redis` says: `lazyConnect` (connect explicitly),
 * `enableAutoPipelining: false` (it defers commands to the next turn, so a QUIT could overtake
 * a last frame; and it measured no faster here, see the README),
 * `enableOfflineQueue: false` (a command while disconnected fails at once instead of waiting in
 * an unbounded queue), `autoResubscribe: false` and `autoResendUnfulfilledCommands: false` (a
 * reconnect is a new link: the endpoints subscribe again themselves and never replay a frame
 * that may already have been delivered), `retryStrategy` from the transport's backoff, and
 * `sentinelRetryStrategy` likewise: ioredis' default retries forever when no listed Sentinel
 * answers or none knows the master, so a hub's `listen` would never settle (with the
 * transport's strategy it rejects while starting, and retries per the backoff afterwards).
 * `enableReadyCheck` defaults to false (its INFO needs an ACL permission nodes do not have).
 */
export function createRedis(
  address: RedisAddress,
  settings: ConnectionSettings,
  retryStrategy: (attempt: number) => number | null,
): Redis {
  const options: RedisOptions = {
    enableReadyCheck: false,
    ...settings.redis,
    lazyConnect: true,
    enableAutoPipelining: false,
    enableOfflineQueue: false,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    disableClientInfo: true,
    maxRetriesPerRequest: null,
    retryStrategy,
    sentinelRetryStrategy: retryStrategy,
  }
  if (address.scheme === 'redis+sentinel') {
    options.sentinels = address.hosts.map(({ host, port }) => ({ host, port }))
    options.name = address.master!
  } else {
    options.host = address.hosts[0]!.host
    options.port = address.hosts[0]!.port
  }
  if (settings.username !== undefined) options.username = settings.username
  if (settings.password !== undefined) options.password = settings.password
  if (address.scheme === 'rediss' || settings.tls !== undefined) {
    options.tls = { ...(settings.tls ?? {}), ...(settings.redis.tls ?? {}) }
  }
  const redis = new Redis(options)
  // ioredis prints unhandled 'error' events; the endpoints learn of trouble from 'close'.
  redis.on('error', noop)
  guardSockets(redis)
  return redis
}

/**
 * Keeps a second 'error' of a connection's socket from crashing the process. ioredis listens
 * for a socket's errors with `once`, but a TLS socket can emit two (seen here: `write
 * ECONNRESET` then the server's alert, when Redis refuses a client certificate), and the second
 * became an uncaught exception (ioredis PRs #961/#962, not merged). So every socket gets a
 * permanent no-op listener as soon as the client reports it: at 'connect' (and 'error' or
 * 'close' for one that failed before), while ioredis' own handling of the first error is
 * unchanged. `redis.stream` is the socket those events are about: a new one is made only for
 * the next attempt.
 */
function guardSockets(redis: Redis): void {
  let guarded: object | undefined
  const guard = () => {
    const socket = redis.stream as typeof redis.stream | undefined
    if (socket === undefined || socket === guarded) return
    guarded = socket
    socket.on('error', noop)
  }
  redis.on('connect', guard)
  redis.on('error', guard)
  redis.on('close', guard)
}

/**
 * Whether the current connection of `redis` had its login refused. With the ready check off,
 * ioredis reports 'ready' before AUTH is answered, and where the `default` user needs no
 * password a refused AUTH leaves the connection working as `default` until ioredis drops it:
 * so an endpoint makes one round trip, lets pending callbacks run, then asks this.
 *
 * `failure` is the last other error of the connection (a refused TCP connection, a TLS handshake
 * that failed: an untrusted certificate, a client certificate the server required…), a TLS error
 * winning over a later ECONNRESET. ioredis reports it only as an 'error' event and rejects the
 * pending `connect()` or command with a bare "Connection is closed.": see {@link explain}.
 */
export function loginWatch(redis: Redis): {
  readonly refused: Error | undefined
  readonly failure: Error | undefined
} {
  const watch: { refused: Error | undefined; failure: Error | undefined } = {
    refused: undefined,
    failure: undefined,
  }
  redis.on('connect', () => {
    watch.refused = undefined
  })
  redis.on('error', (error: Error) => {
    if (/^(WRONGPASS|NOAUTH|NOPERM|ERR AUTH)/.test(error.message)) watch.refused = error
    // A TLS error says more than the ECONNRESET that may follow (or precede) it.
    else if (watch.failure === undefined || !isTlsError(watch.failure) || isTlsError(error)) {
      watch.failure = error
    }
  })
  return watch
}

/** A TLS handshake or certificate error (Node's `ERR_SSL_…`, `ERR_TLS_…`, `SELF_SIGNED_…` codes). */
function isTlsError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return typeof code === 'string' && /^(ERR_SSL_|ERR_TLS_)|CERT|SELF_SIGNED|UNABLE_TO_/.test(code)
}

/**
 * The error to report for `error`, thrown by a connect or a command while connecting: a refused
 * login of one of `watches` first; for ioredis' bare "Connection is closed." the connection error
 * behind it, when one was seen (e.g. `self-signed certificate in certificate chain`); else `error`.
 */
export function explain(
  error: unknown,
  watches: ReadonlyArray<{ readonly refused: Error | undefined; readonly failure: Error | undefined }>,
): unknown {
  const refused = watches.find((watch) => watch.refused !== undefined)?.refused
  if (refused !== undefined) return refused
  if (error instanceof Error && error.message === CONNECTION_CLOSED) {
    const failures = watches.flatMap((watch) => (watch.failure === undefined ? [] : [watch.failure]))
    const failure = failures.find(isTlsError) ?? failures[0]
    if (failure !== undefined) return failure
  }
  return error
}

/** ioredis' message when a connection closes under a pending connect or command. */
const CONNECTION_CLOSED = 'Connection is closed.'

/** Resolves after the callbacks pending now (ioredis' AUTH callback among them) have run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Closes a client for good: QUIT when connected (the commands written before it, e.g. a BYE,
 * still reach Redis), else disconnect; falls back to disconnect after `timeoutMs`.
 */
export async function shutdown(redis: Redis, timeoutMs: number): Promise<void> {
  const status = redis.status
  if (status === 'end') return
  if (status !== 'ready' && status !== 'connect' && status !== 'connecting') {
    // 'wait', 'close', 'reconnecting': no socket is open; stop any reconnect timer.
    redis.disconnect()
    return
  }
  const ended = new Promise<void>((resolve) => redis.once('end', resolve))
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs)
  })
  if (status === 'ready') redis.quit().catch(() => redis.disconnect())
  else redis.disconnect()
  await Promise.race([ended, timeout])
  clearTimeout(timer)
  if (redis.status !== 'end') redis.disconnect()
}

/** A short message for an error of unknown shape. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export function noop(): void {}
