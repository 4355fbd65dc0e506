/**
 * The adapters a config file can choose, by `kind`. Each entry declares its options (so the
 * config loader can check them with clear messages) and builds the adapter on demand: the
 * adapter package is imported only when chosen, so `concord` never loads ZeroMQ, SQLite,
 * LMDB or Redis it does not use. Plugging in another adapter is one entry here.
 *
 * @module
 */
import { memoryPersistence, memoryTransport, type Persistence, type Transport } from '@concord/core'

/** What an option value must be. */
export type OptionType =
  | {
      readonly type: 'string'
      /** The form the string must have, and how to say it (`a 40-character Z85 CURVE key`). */
      readonly pattern?: RegExp
      readonly expected?: string
      /** Never shown in messages (keys, passwords). */
      readonly secret?: boolean
    }
  | { readonly type: 'path' }
  | { readonly type: 'integer'; readonly min?: number; readonly max?: number }
  | { readonly type: 'boolean' }
  | { readonly type: 'duration' }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'strings' }
  | {
      readonly type: 'map'
      /** The form every value must have (strings only then), and how to say it. */
      readonly pattern?: RegExp
      readonly expected?: string
    }
  | { readonly type: 'object'; readonly fields: OptionsSpec }

/** One option of an adapter. */
export type OptionSpec = OptionType & {
  /** One line for `concord help config` and error messages. */
  readonly description: string
  /** Filled in when the config leaves the option out. */
  readonly default?: unknown
}

/** An adapter's options by name. */
export type OptionsSpec = Readonly<Record<string, OptionSpec>>

/**
 * Options as the config loader hands them to `create`: checked against the spec, defaults
 * filled, paths absolute, durations in milliseconds.
 */
export type AdapterOptions = Readonly<Record<string, unknown>>

/** Which side is asking for the adapter. */
export interface AdapterContext {
  readonly role: 'hub' | 'node'
}

/** A transport kind. */
export interface TransportAdapter {
  readonly description: string
  readonly options: OptionsSpec
  /** Where a hub listens (and nodes connect) when the config says nothing. */
  readonly defaultAddress: string
  create(options: AdapterOptions, context: AdapterContext): Promise<Transport>
  /**
   * For a node whose credentials in `options` name it to the hub, whatever name it presents
   * (a CURVE key): the option holding them, and the names this config gives them (none when
   * it maps none). Undefined when the node is known by the name it presents.
   */
  credentialIdentity?(options: AdapterOptions): CredentialIdentity | undefined
}

/** Credentials that name a node to the hub (see {@link TransportAdapter.credentialIdentity}). */
export interface CredentialIdentity {
  /** The config key of the credential, e.g. `transport.curve.publicKey`. */
  readonly key: string
  /** The names the config maps the credential to (the hub's `curve.clients`, when the file has them). */
  readonly names: readonly string[]
}

/** A persistence kind. */
export interface PersistenceAdapter {
  readonly description: string
  readonly options: OptionsSpec
  create(options: AdapterOptions): Promise<Persistence>
  /** Where the data lives, for `serve`'s banner: `SQLite in /srv/concord-data (durability sync)`. */
  describe(options: AdapterOptions): string
}

/** The kinds a config may name. */
export interface AdapterRegistry {
  readonly transports: Readonly<Record<string, TransportAdapter>>
  readonly persistences: Readonly<Record<string, PersistenceAdapter>>
}

const curveKey = {
  type: 'string',
  pattern: /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/,
  expected: "a 40-character Z85 CURVE key (make pairs with 'concord keygen')",
  description: 'a Z85 CURVE key',
} as const satisfies OptionSpec

/**
 * The ZeroMQ options of one side: a hub gets the server pair and the admitted clients (as
 * the transport wants them, public key -> identity); a node its own pair and the hub's key.
 */
function zmqInit(options: AdapterOptions, context: AdapterContext): Record<string, unknown> {
  const { curve, ...rest } = options as { curve?: Record<string, unknown> } & Record<string, unknown>
  if (curve === undefined) return rest
  const server = curve.server as { publicKey?: string; secretKey?: string } | undefined
  if (context.role === 'hub') {
    if (server === undefined) return rest
    const clients = curve.clients as Record<string, string> | undefined
    return {
      ...rest,
      curve: {
        server,
        ...(clients === undefined
          ? {}
          : { clients: new Map(Object.entries(clients).map(([name, key]) => [key, name])) }),
      },
    }
  }
  const serverKey = (curve.serverKey as string | undefined) ?? server?.publicKey
  if (serverKey === undefined && curve.publicKey === undefined) return rest
  return {
    ...rest,
    curve: { publicKey: curve.publicKey, secretKey: curve.secretKey, serverKey },
  }
}

/** The transport a config gets when it names none. */
export const DEFAULT_TRANSPORT = 'zmq'
/** The persistence a config gets when it names none. */
export const DEFAULT_PERSISTENCE = 'sqlite'

const durability = {
  type: 'enum',
  values: ['sync', 'relaxed'],
  default: 'sync',
  description: "'sync': acknowledged writes survive a power loss; 'relaxed': a process crash",
} as const satisfies OptionSpec

const dataPath = {
  type: 'path',
  default: 'concord-data',
  description: 'the data folder, relative to the config file',
} as const satisfies OptionSpec

/**
 * A fresh registry of the built-in kinds. Its `memory` transport is one object shared by
 * everything built from this registry, so a hub and nodes in one process meet through it.
 */
export function defaultAdapters(): AdapterRegistry {
  let memory: Transport | undefined
  return {
    transports: {
      zmq: {
        description: 'ZeroMQ over TCP, no server to install (CURVE keys for authentication and encryption)',
        defaultAddress: 'tcp://127.0.0.1:7420',
        options: {
          curve: {
            type: 'object',
            description: 'CURVE keys: the hub needs server (and clients); a node its own pair and serverKey',
            fields: {
              server: {
                type: 'object',
                description: "hub: the hub's key pair",
                fields: { publicKey: curveKey, secretKey: { ...curveKey, secret: true } },
              },
              clients: {
                type: 'map',
                pattern: curveKey.pattern,
                expected: curveKey.expected,
                description: 'hub: the nodes admitted, identity name -> public key (default: any key)',
              },
              publicKey: { ...curveKey, description: "node: this node's public key" },
              secretKey: { ...curveKey, secret: true, description: "node: this node's secret key" },
              serverKey: {
                ...curveKey,
                description: "node: the hub's public key (default: server.publicKey of this file)",
              },
            },
          },
          allowRemote: {
            type: 'boolean',
            description: 'without CURVE, allow addresses other than loopback (nothing is encrypted)',
          },
          maxFrameSize: { type: 'integer', min: 1, description: 'largest frame in bytes (default 16 MiB)' },
          highWaterMark: {
            type: 'integer',
            min: 1,
            description: 'frames in flight per link (default 10 000)',
          },
          connectTimeout: {
            type: 'duration',
            description: 'how long one link attempt may take (default 10s)',
          },
          heartbeat: {
            type: 'object',
            description: 'ZMTP heartbeats (default interval 1s, timeout 5s)',
            fields: {
              interval: { type: 'duration', description: 'ping after this much silence' },
              timeout: { type: 'duration', description: 'drop the link when nothing came back within this' },
            },
          },
        },
        create: async (options, context) =>
          (await import('@concord/transport-zmq')).zmqTransport(zmqInit(options, context) as never),
        credentialIdentity: (options) => {
          const curve = options.curve as { publicKey?: string; clients?: Record<string, string> } | undefined
          const key = curve?.publicKey
          if (key === undefined) return undefined
          const names = Object.entries(curve?.clients ?? {}).filter(([, k]) => k === key)
          return { key: 'transport.curve.publicKey', names: names.map(([name]) => name) }
        },
      },
      redis: {
        description: 'Redis Pub/Sub: hubs and nodes on any machines meet through one Redis',
        defaultAddress: 'redis://127.0.0.1:6379/concord',
        options: {
          username: { type: 'string', description: 'the Redis ACL user (a node: its identity)' },
          password: {
            type: 'string',
            secret: true,
            description: "the user's password (keep it in the environment: see the README)",
          },
          prefix: { type: 'string', description: 'first segment of every channel name (default concord)' },
          tls: { type: 'boolean', description: 'connect with TLS (implied by rediss:// addresses)' },
          maxFrameSize: { type: 'integer', min: 1, description: 'largest frame in bytes (default 16 MiB)' },
          handshakeTimeout: {
            type: 'duration',
            description:
              "how long a node waits for the hub's welcome, and a starting hub for other hubs' answers to its claim on the name",
          },
        },
        create: async (options) => {
          const { tls, ...rest } = options
          const init = tls === true ? { ...rest, tls: {} } : rest
          return (await import('@concord/transport-redis')).redisTransport(init as never)
        },
      },
      memory: {
        description: 'in-process only (tests, the programmatic API): hub and nodes share this process',
        defaultAddress: 'memory://hub',
        options: {},
        create: async () => {
          memory ??= memoryTransport()
          return memory
        },
      },
    },
    persistences: {
      sqlite: {
        description: 'SQLite files, one per store (the embedded default)',
        options: {
          path: dataPath,
          durability,
          integrityCheck: { type: 'boolean', description: 'check every page of each store file at open' },
          pragmas: { type: 'map', description: 'extra SQLite pragmas, e.g. { cache_size: -65536 }' },
        },
        create: async (options) =>
          (await import('@concord/persist-sqlite')).sqlitePersistence(options as never),
        describe: (options) => `SQLite in ${options.path} (durability ${options.durability})`,
      },
      lmdb: {
        description: 'LMDB files, one per store: stores larger than memory, fast reads',
        options: {
          path: dataPath,
          durability,
          mapSize: { type: 'integer', min: 1, description: 'initial memory map size in bytes' },
          pageSize: { type: 'integer', min: 4096, max: 65536, description: 'page size of new files' },
          maxReaders: { type: 'integer', min: 1, description: 'reader slots per store file' },
          noReadAhead: { type: 'boolean', description: 'no OS read-ahead (random reads on huge stores)' },
          syncInterval: { type: 'duration', description: "'relaxed' only: how often to flush to disk" },
        },
        create: async (options) => (await import('@concord/persist-lmdb')).lmdbPersistence(options as never),
        describe: (options) => `LMDB in ${options.path} (durability ${options.durability})`,
      },
      memory: {
        description: 'in memory: lost when the hub stops',
        options: {},
        create: async () => memoryPersistence(),
        describe: () => 'in memory (lost when the hub stops)',
      },
    },
  }
}
