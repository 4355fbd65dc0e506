/**
 * Test harness: a real `redis-server` per test file, on a free loopback port, without
 * persistence; replicas of it (`replicaOf`) and Sentinels monitoring it ({@link startSentinel}:
 * the same binary with `--sentinel`); a server can also listen on TLS only (`tls` option).
 * `redis-server` must be on PATH (CI installs it: `apt-get install redis-server`); when it is
 * not, every test of the file fails with a message saying so. Never skipped.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls'
import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'

const START_TIMEOUT = 10_000

/** A running redis-server under test. */
export interface RedisServer {
  readonly host: '127.0.0.1'
  readonly port: number
  /** `redis://127.0.0.1:<port>`, or `rediss://…` for a TLS server. */
  readonly url: string
  /** A hub address on this server: `redis://127.0.0.1:<port>/<hub>` (`rediss://…` with TLS). */
  address(hub?: string): string
  /**
   * For a TLS server, the `tls.connect` options the harness's own connections use (the CA, and
   * the client certificate when it was given); undefined for plain TCP.
   */
  readonly tls: ConnectionOptions | undefined
  /** A connection as the `default` user, for CONFIG, ACL, CLIENT… (reconnects after restarts). */
  readonly admin: Redis
  /** Creates (or resets) an ACL user; remembered and created again after {@link restart}. */
  createUser(name: string, password: string, rules: readonly string[]): Promise<void>
  /**
   * Kills the server (SIGKILL, as a crash) and starts it again on the same port, then creates
   * the remembered users again. Every client connection drops.
   */
  restart(): Promise<void>
  /** Kills the server (SIGKILL, as a crash) and leaves it down. */
  kill(): Promise<void>
  /** Stops the server (idempotent). */
  stop(): Promise<void>
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Start as a replica of the server on this loopback port (`--replicaof 127.0.0.1 <port>`). */
  readonly replicaOf?: number
  /** Listen on TLS only (`--port 0 --tls-port <port>`), with these certificates. */
  readonly tls?: RedisServerTls
}

/** TLS settings of a test server: PEM text (the harness writes the files into the server's folder). */
export interface RedisServerTls {
  /** The CA clients are checked against (`--tls-ca-cert-file`); the harness trusts it too. */
  readonly ca: string
  /** The server's certificate and key (`--tls-cert-file`, `--tls-key-file`). */
  readonly cert: string
  readonly key: string
  /** Require a client certificate signed by `ca` (`--tls-auth-clients yes`). Default false (`no`). */
  readonly authClients?: boolean
  /** The certificate the harness's own connections (readiness PING, `admin`) present. */
  readonly client?: { readonly cert: string; readonly key: string }
}

/**
 * Starts a server for this test file in `beforeAll` and stops it in `afterAll`. The returned
 * object is usable from the tests (and from `beforeAll` hooks registered after this call).
 */
export function useRedisServer(options: RedisServerOptions = {}): RedisServer {
  let server: RedisServer | undefined
  const get = (): RedisServer => {
    if (server === undefined) throw new Error('the redis-server of this file did not start (see beforeAll)')
    return server
  }
  beforeAll(async () => {
    server = await startRedisServer(options)
  }, START_TIMEOUT + 5000)
  afterAll(async () => {
    await server?.stop()
  })
  return {
    host: '127.0.0.1',
    get port() {
      return get().port
    },
    get url() {
      return get().url
    },
    get tls() {
      return get().tls
    },
    address: (hub) => get().address(hub),
    get admin() {
      return get().admin
    },
    createUser: (name, password, rules) => get().createUser(name, password, rules),
    restart: () => get().restart(),
    kill: () => get().kill(),
    stop: () => get().stop(),
  }
}

/**
 * Starts a redis-server on a free loopback port and waits until it answers PING. Its working
 * folder (`--dir`) is a fresh temporary one, removed by `stop()`: it loads no stray `dump.rdb`
 * and a replica's full sync leaves none behind.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const extra = options.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(options.replicaOf)]
  const dir = await mkdtemp(join(tmpdir(), 'concord-redis-'))
  try {
    const tls = options.tls === undefined ? undefined : await tlsSetup(dir, options.tls)
    return await onFreePort('redis-server', async (port) => {
      const listen =
        tls === undefined ? ['--port', String(port)] : ['--port', '0', '--tls-port', String(port)]
      const args = [...listen, ...serverArgs(), ...(tls?.args ?? []), '--dir', dir, ...extra]
      return new Server(port, dir, args, tls?.client, await spawnRedis(port, args, tls?.client))
    })
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

/**
 * Writes the PEMs of `tls` into `dir`: the server's arguments, and the `tls.connect` options of
 * the harness's own connections.
 */
async function tlsSetup(
  dir: string,
  tls: RedisServerTls,
): Promise<{ args: string[]; client: ConnectionOptions }> {
  const file = async (name: string, pem: string) => {
    const path = join(dir, name)
    await writeFile(path, pem, { mode: 0o600 })
    return path
  }
  const args = [
    '--tls-cert-file',
    await file('tls-server.crt', tls.cert),
    '--tls-key-file',
    await file('tls-server.key', tls.key),
    '--tls-ca-cert-file',
    await file('tls-ca.crt', tls.ca),
    '--tls-auth-clients',
    tls.authClients === true ? 'yes' : 'no',
  ]
  const client: ConnectionOptions = { ca: tls.ca, ...(tls.client ?? {}) }
  return { args, client }
}

/** Runs `start` on a free port, trying others (up to 5) when the port was taken meanwhile. */
async function onFreePort<T>(what: string, start: (port: number) => Promise<T>): Promise<T> {
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    try {
      return await start(port)
    } catch (error) {
      if (error instanceof MissingServerError) throw error
      lastError = error // the port was taken meanwhile: try another
    }
  }
  throw new Error(`could not start ${what}: ${String(lastError)}`)
}

/** A running Sentinel (`redis-server <conf> --sentinel`) under test, monitoring one master. */
export interface RedisSentinel {
  readonly host: '127.0.0.1'
  readonly port: number
  /** The master name it monitors. */
  readonly masterName: string
  /** A hub address through this Sentinel: `redis+sentinel://127.0.0.1:<port>/<master>/<hub>`. */
  address(hub?: string): string
  /** A connection to the Sentinel itself, for SENTINEL commands. */
  readonly admin: Redis
  /** The master's address as the Sentinel reports it now (SENTINEL GET-MASTER-ADDR-BY-NAME). */
  masterAddress(): Promise<{ host: string; port: number } | undefined>
  /** The replicas it knows (SENTINEL REPLICAS), each as its field → value map. */
  replicas(): Promise<Array<Record<string, string>>>
  /** Stops the Sentinel and removes its folder (idempotent). */
  stop(): Promise<void>
}

/** Options of {@link startSentinel}. */
export interface SentinelOptions {
  /** The loopback port of the master to monitor. */
  readonly masterPort: number
  /** Default `mymaster`. */
  readonly masterName?: string
  /** `down-after-milliseconds`. Default 500. */
  readonly downAfter?: number
  /** `failover-timeout`. Default 5000. */
  readonly failoverTimeout?: number
}

/**
 * Starts a Sentinel on a free loopback port, monitoring `127.0.0.1:<masterPort>` with quorum 1,
 * and waits until it answers PING. Its config file lives in a fresh temporary folder (Sentinel
 * rewrites it), removed by `stop()`.
 */
export async function startSentinel(options: SentinelOptions): Promise<RedisSentinel> {
  const masterName = options.masterName ?? 'mymaster'
  const dir = await mkdtemp(join(tmpdir(), 'concord-sentinel-'))
  try {
    return await onFreePort('a Sentinel', async (port) => {
      const config = join(dir, 'sentinel.conf')
      await writeFile(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir "${dir}"`,
          'loglevel warning',
          `sentinel monitor ${masterName} 127.0.0.1 ${options.masterPort} 1`,
          `sentinel down-after-milliseconds ${masterName} ${options.downAfter ?? 500}`,
          `sentinel failover-timeout ${masterName} ${options.failoverTimeout ?? 5000}`,
          '',
        ].join('\n'),
      )
      const child = await spawnRedis(port, [config, '--sentinel'])
      return new Sentinel(port, masterName, dir, child)
    })
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

class Sentinel implements RedisSentinel {
  readonly host = '127.0.0.1' as const
  readonly admin: Redis
  #child: ChildProcess | undefined

  constructor(
    readonly port: number,
    readonly masterName: string,
    readonly dir: string,
    child: ChildProcess,
  ) {
    this.#child = child
    this.admin = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: null })
    this.admin.on('error', () => {})
  }

  address(hub = '*'): string {
    return `redis+sentinel://127.0.0.1:${this.port}/${this.masterName}/${hub}`
  }

  async masterAddress(): Promise<{ host: string; port: number } | undefined> {
    const reply = (await this.admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName)) as
      | [string, string]
      | null
    return reply === null ? undefined : { host: reply[0], port: Number(reply[1]) }
  }

  async replicas(): Promise<Array<Record<string, string>>> {
    const reply = (await this.admin.call('SENTINEL', 'REPLICAS', this.masterName)) as string[][]
    return reply.map((fields) => {
      const entry: Record<string, string> = {}
      for (let i = 0; i + 1 < fields.length; i += 2) entry[fields[i]!] = fields[i + 1]!
      return entry
    })
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    this.#child = undefined
    this.admin.disconnect()
    await stopChild(child, 'SIGTERM')
    await rm(this.dir, { recursive: true, force: true })
  }
}

class MissingServerError extends Error {
  constructor() {
    super(
      'redis-server is not on PATH. These tests need a real Redis: install it (Debian/Ubuntu: ' +
        '`apt-get install -y redis-server`; CI does this) and run them again.',
    )
    this.name = 'MissingServerError'
  }
}

class Server implements RedisServer {
  readonly host = '127.0.0.1' as const
  readonly url: string
  readonly admin: Redis
  readonly #users = new Map<string, string[]>()
  #child: ChildProcess | undefined
  #stopped = false

  constructor(
    readonly port: number,
    readonly dir: string,
    readonly args: readonly string[],
    readonly tls: ConnectionOptions | undefined,
    child: ChildProcess,
  ) {
    this.#child = child
    this.url = `${tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`
    this.admin = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      maxRetriesPerRequest: null,
      retryStrategy: () => (this.#stopped ? null : 20),
      ...(tls === undefined ? {} : { tls }),
    })
    this.admin.on('error', () => {})
  }

  address(hub = '*'): string {
    return `${this.url}/${hub}`
  }

  async createUser(name: string, password: string, rules: readonly string[]): Promise<void> {
    const args = ['SETUSER', name, 'reset', 'on', `>${password}`, ...rules]
    this.#users.set(name, args)
    await this.admin.call('ACL', ...args)
  }

  async restart(): Promise<void> {
    await this.#kill('SIGKILL')
    this.#child = await spawnRedis(this.port, this.args, this.tls)
    for (const args of this.#users.values()) await this.admin.call('ACL', ...args)
  }

  kill(): Promise<void> {
    return this.#kill('SIGKILL')
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.admin.disconnect()
    await this.#kill('SIGTERM')
    await rm(this.dir, { recursive: true, force: true })
  }

  async #kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (child !== undefined) await stopChild(child, signal)
  }
}

/** Sends `signal` to a child and waits until it exited (at once when it already has). */
async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill(signal)
  await exited
}

/** A port nothing listens on now (bound to 0 and released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

/**
 * The command line of a server (after its `--port`): loopback only, no persistence; a replica's
 * first sync starts at once (diskless by default since Redis 7, which otherwise waits 5 s for
 * more replicas).
 */
function serverArgs(): string[] {
  return [
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--repl-diskless-sync-delay',
    '0',
    '--loglevel',
    'warning',
  ]
}

/**
 * Runs `redis-server <args>` (which listens on `port`) and waits until it answers PING (over TLS
 * with these options when `tls` is given).
 */
async function spawnRedis(
  port: number,
  args: readonly string[],
  tls?: ConnectionOptions,
): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000)
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000)
  })
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new MissingServerError() : error),
    )
    child.once('exit', (code, signal) =>
      reject(
        new Error(
          `redis-server on port ${port} exited (${code ?? signal}) before answering PING:\n${output}`,
        ),
      ),
    )
  })
  failed.catch(() => {})
  const deadline = Date.now() + START_TIMEOUT
  for (;;) {
    const answered = await Promise.race([ping(port, tls), failed])
    if (answered) return child
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(
        `redis-server on port ${port} did not answer PING within ${START_TIMEOUT} ms:\n${output}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** True when something on the port answers PING with +PONG (over TLS when `tls` is given). */
function ping(port: number, tls?: ConnectionOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const socket =
      tls === undefined
        ? createConnection({ host: '127.0.0.1', port })
        : tlsConnect({ ...tls, host: '127.0.0.1', port })
    let data = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      data += chunk.toString()
      if (data.includes('\r\n')) done(data.startsWith('+PONG'))
    })
  })
}
