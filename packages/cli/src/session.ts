/**
 * A node session for the node commands: the config, a node linked to the hub, and calls
 * bounded by the command's timeout (a hub that does not answer is an `UnavailableError`
 * naming the address, not a hang).
 *
 * @module
 */
import {
  type ConcordNode,
  createNode,
  isConcordError,
  type ReadResult,
  SchemaMismatchError,
  type Store,
  type StoreWriter,
  type Transport,
  UnavailableError,
} from '@concord/core'
import type { AnySchemaType } from '@concord/schema'
import { type ConcordConfig, loadConfig, type StoreDefinition } from './config.js'
import type { CommandContext } from './context.js'
import { InterruptedError, refusedValue, UsageError } from './errors.js'
import { formatInterval } from './format.js'

/** Options every command takes. */
export interface GlobalOptions {
  /** The config file (`--config`). */
  readonly config?: string
  /** The hub's address (`--hub`), over the config's. */
  readonly hub?: string
  /** The identity to present (`--identity`), over the config's. */
  readonly identity?: string
  /** How long to wait for the hub (`--timeout`), over the config's. */
  readonly timeout?: number
  /** Zeek JSON in and out (`--json`). */
  readonly json: boolean
  /** Stack traces on errors (`--debug`). */
  readonly debug: boolean
}

/** Loads the config a command names (or the default one). */
export function commandConfig(ctx: CommandContext, globals: GlobalOptions): Promise<ConcordConfig> {
  return loadConfig(globals.config, { cwd: ctx.cwd, env: ctx.env, adapters: ctx.adapters })
}

/** The transport of a config: the context's when it injects one, else built from the registry. */
export async function configTransport(
  ctx: CommandContext,
  config: ConcordConfig,
  role: 'hub' | 'node',
): Promise<Transport> {
  if (ctx.transport !== undefined) return ctx.transport
  const adapter = ctx.adapters.transports[config.transport.kind]
  if (adapter === undefined) throw new UsageError(`unknown transport kind '${config.transport.kind}'`)
  try {
    return await adapter.create(config.transport.options, { role })
  } catch (error) {
    throw refusedValue(error, { file: config.file, path: 'transport' })
  }
}

/** A node linked to the hub, with the config it came from. */
export class NodeSession {
  readonly #opened = new Set<Store<unknown> | StoreWriter<unknown>>()

  constructor(
    readonly ctx: CommandContext,
    readonly config: ConcordConfig,
    readonly node: ConcordNode,
    /** The hub's address. */
    readonly address: string,
    /** How long one call may wait for the hub, in ms. */
    readonly timeout: number,
  ) {}

  /** The definition of `name` in the config; a `UsageError` naming the known stores when absent. */
  store(name: string): StoreDefinition {
    const def = this.config.stores[name]
    if (def !== undefined) return def
    const known = Object.keys(this.config.stores)
    const where = this.config.file ?? 'no config file was found: pass --config'
    throw new UsageError(
      `store '${name}' is not in the config (${where}); ${known.length === 0 ? 'it defines no stores' : `stores: ${known.join(', ')}`}`,
    )
  }

  /** The payload schema of `topic` (the longest matching prefix in the config), if any. */
  topicSchema(topic: string): AnySchemaType | undefined {
    let best: [string, AnySchemaType] | undefined
    for (const [prefix, def] of Object.entries(this.config.topics)) {
      const matches =
        prefix === '' ||
        (topic.startsWith(prefix) &&
          (topic.length === prefix.length || topic[prefix.length] === '/' || prefix.endsWith('/')))
      if (matches && (best === undefined || prefix.length > best[0].length)) best = [prefix, def.schema]
    }
    return best?.[1]
  }

  /**
   * Runs one call to the hub with a signal that fires on Ctrl-C or after the timeout;
   * the timeout becomes an `UnavailableError` naming the hub's address.
   */
  async call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeout)
    const signal = AbortSignal.any([this.ctx.signal, timeout])
    const started = performance.now()
    try {
      return await fn(signal)
    } catch (error) {
      if (this.ctx.signal.aborted) throw new InterruptedError(`${what}: interrupted`, { cause: error })
      // The node gives up on a request after the same duration (its writeTimeout), on its own
      // timer: whichever fires first, it is this call's deadline.
      const late = isConcordError(error, UnavailableError.code) && performance.now() - started >= this.timeout
      if (timeout.aborted || late) throw new UnavailableError(this.#unanswered(what), { cause: error })
      throw error
    }
  }

  /**
   * Why a call timed out, as far as the node can tell: a link that never came up is another
   * matter (no hub there, or a CURVE hub that does not admit this node's key: ZeroMQ says
   * neither) than a linked hub that did not answer.
   */
  #unanswered(what: string): string {
    const within = `within ${formatInterval(BigInt(this.timeout) * 1_000_000n)}`
    if (this.node.status === 'connected')
      return `${what}: no answer from the hub at ${this.address} ${within}`
    const curve =
      this.config.transport.kind === 'zmq'
        ? '; a hub with CURVE keys links only the nodes whose public key it admits'
        : ''
    return `${what}: no link to the hub at ${this.address} ${within} (is 'concord serve' running there${curve}?)`
  }

  /**
   * Reads one key of `name` from the hub (`node.read`): only that key travels, whatever the
   * size of the store, and nothing is opened.
   */
  read(name: string, key: string): Promise<{ result: ReadResult<unknown>; def: StoreDefinition }> {
    const def = this.store(name)
    return this.call(`reading '${key}' of store '${name}'`, async (signal) => {
      const result = await this.node
        .read<unknown>(name, key, { schema: def.schema as never, signal })
        .catch((error: unknown) => this.#mismatch(name, def, error))
      return { result, def }
    })
  }

  /** Opens a live clone of `name` (a prefix view when `prefix` is given). */
  async open(name: string, prefix?: string): Promise<{ store: Store<unknown>; def: StoreDefinition }> {
    const def = this.store(name)
    const store = await this.call(`opening store '${name}'`, (signal) =>
      this.node
        .open<unknown>(name, {
          schema: def.schema as never,
          signal,
          ...(prefix === undefined || prefix === '' ? {} : { prefix }),
        })
        .catch((error: unknown) => this.#mismatch(name, def, error)),
    )
    this.#opened.add(store)
    return { store, def }
  }

  /**
   * A write-only handle to `name` (`node.writer`): the writing commands take no snapshot of
   * the store, and an identity allowed to write but not to read may use them.
   */
  async writer(name: string): Promise<{ writer: StoreWriter<unknown>; def: StoreDefinition }> {
    const def = this.store(name)
    const writer = await this.call(`opening store '${name}' to write`, (signal) =>
      this.node
        .writer<unknown>(name, { schema: def.schema as never, signal })
        .catch((error: unknown) => this.#mismatch(name, def, error)),
    )
    this.#opened.add(writer)
    return { writer, def }
  }

  /**
   * Rethrows `error`; a schema mismatch then also says where this node's schema came from:
   * core's message names only the two fingerprints, and the fix is in a config file.
   */
  #mismatch(name: string, def: StoreDefinition, error: unknown): never {
    if (!isConcordError(error, SchemaMismatchError.code)) throw error
    const mismatch = error as SchemaMismatchError
    const where = this.config.file === undefined ? 'the built-in config' : this.config.file
    const type = def.type.length <= 80 ? ` is ${def.type} here, and` : ''
    throw new SchemaMismatchError(
      mismatch.local,
      mismatch.remote,
      `${mismatch.message}: stores.${name} in ${where}${type} must be the type the hub's config gives the store`,
      { cause: error },
    )
  }

  async close(): Promise<void> {
    for (const store of this.#opened) await store.close()
    await this.node.close()
  }
}

/**
 * Refuses `--identity NAME` where the transport's credentials name the node (CURVE keys: the
 * hub knows the node by its key, and a presented name would be ignored), unless NAME is what
 * the config already calls that key (`node.identity`, or the name `curve.clients` gives it).
 */
function checkIdentity(ctx: CommandContext, config: ConcordConfig, name: string): void {
  const fixed = ctx.adapters.transports[config.transport.kind]?.credentialIdentity?.(config.transport.options)
  if (fixed === undefined) return
  const names = [
    ...new Set([...fixed.names, ...(config.node.identity === undefined ? [] : [config.node.identity])]),
  ]
  if (names.includes(name)) return
  const known =
    fixed.names.length > 0
      ? `as '${fixed.names.join("' or '")}', the name curve.clients gives that key`
      : "by the name the hub's curve.clients gives that key (or by the key itself)"
  throw new UsageError(
    `--identity ${name}: this node authenticates with the CURVE key of ${fixed.key}, so the hub knows it ${known}; ` +
      `a name given on the command line cannot change that. Leave out --identity, or use a config with the key pair of '${name}'`,
  )
}

/** Runs `fn` with a node session, closing it afterwards whatever happens. */
export async function withNode<T>(
  ctx: CommandContext,
  globals: GlobalOptions,
  fn: (session: NodeSession) => Promise<T>,
): Promise<T> {
  const config = await commandConfig(ctx, globals)
  const transport = await configTransport(ctx, config, 'node')
  const address = globals.hub ?? config.address
  const timeout = globals.timeout ?? config.node.timeout
  const identity = globals.identity ?? config.node.identity
  if (globals.identity !== undefined && ctx.transport === undefined)
    checkIdentity(ctx, config, globals.identity)
  const topics = Object.fromEntries(Object.entries(config.topics).map(([p, d]) => [p, { schema: d.schema }]))
  const node = await createNode({
    transport,
    hub: address,
    topics,
    groups: config.node.groups,
    writeTimeout: timeout,
    ...(identity === undefined ? {} : { identity }),
  }).catch((error: unknown) => {
    // The transport refuses an address (or identity) it cannot use when connecting.
    const given = [
      ...(globals.hub === undefined ? [] : [`--hub ${globals.hub}`]),
      ...(globals.identity === undefined ? [] : [`--identity ${globals.identity}`]),
    ]
    const key = config.address === config.listen ? 'hub.listen' : 'hub.address'
    throw refusedValue(
      error,
      given.length > 0 ? { commandLine: given.join(' ') } : { file: config.file, path: key },
    )
  })
  // The node holds the process alive until the session closes it (NodeConfig.keepAlive).
  const session = new NodeSession(ctx, config, node, address, timeout)
  try {
    return await fn(session)
  } finally {
    await session.close()
  }
}
