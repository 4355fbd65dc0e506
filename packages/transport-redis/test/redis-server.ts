/**
 * Test harness: a real `redis-server` per test file, on a free loopback port, without
 * persistence. `redis-server` must be on PATH (CI installs it: `apt-get install redis-server`);
 * when it is not, every test of the file fails with a message saying so. Never skipped.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createConnection, createServer } from 'node:net'
import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'

const START_TIMEOUT = 10_000

/** A running redis-server under test. */
export interface RedisServer {
  readonly host: '127.0.0.1'
  readonly port: number
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string
  /** A hub address on this server: `redis://127.0.0.1:<port>/<hub>`. */
  address(hub?: string): string
  /** A connection as the `default` user, for CONFIG, ACL, CLIENT… (reconnects after restarts). */
  readonly admin: Redis
  /** Creates (or resets) an ACL user; remembered and created again after {@link restart}. */
  createUser(name: string, password: string, rules: readonly string[]): Promise<void>
  /**
   * Kills the server (SIGKILL, as a crash) and starts it again on the same port, then creates
   * the remembered users again. Every client connection drops.
   */
  restart(): Promise<void>
  /** Stops the server (idempotent). */
  stop(): Promise<void>
}

/**
 * Starts a server for this test file in `beforeAll` and stops it in `afterAll`. The returned
 * object is usable from the tests (and from `beforeAll` hooks registered after this call).
 */
export function useRedisServer(): RedisServer {
  let server: RedisServer | undefined
  const get = (): RedisServer => {
    if (server === undefined) throw new Error('the redis-server of this file did not start (see beforeAll)')
    return server
  }
  beforeAll(async () => {
    server = await startRedisServer()
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
    address: (hub) => get().address(hub),
    get admin() {
      return get().admin
    },
    createUser: (name, password, rules) => get().createUser(name, password, rules),
    restart: () => get().restart(),
    stop: () => get().stop(),
  }
}

/** Starts a redis-server on a free loopback port and waits until it answers PING. */
export async function startRedisServer(): Promise<RedisServer> {
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    try {
      const child = await spawnServer(port)
      return new Server(port, child)
    } catch (error) {
      if (error instanceof MissingServerError) throw error
      lastError = error // the port was taken meanwhile: try another
    }
  }
  throw new Error(`could not start redis-server: ${String(lastError)}`)
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
    child: ChildProcess,
  ) {
    this.#child = child
    this.url = `redis://127.0.0.1:${port}`
    this.admin = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      maxRetriesPerRequest: null,
      retryStrategy: () => (this.#stopped ? null : 20),
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
    this.#child = await spawnServer(this.port)
    for (const args of this.#users.values()) await this.admin.call('ACL', ...args)
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.admin.disconnect()
    await this.#kill('SIGTERM')
  }

  async #kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    await exited
  }
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

async function spawnServer(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
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
    const answered = await Promise.race([ping(port), failed])
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

/** True when something on the port answers PING with +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let data = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      data += chunk.toString()
      if (data.includes('\r\n')) done(data.startsWith('+PONG'))
    })
  })
}
