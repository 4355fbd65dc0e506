/**
 * The part of `concord conformance` that runs inside vitest: the generated test files import
 * the user's modules and call {@link registerSuite}, which finds their factories, builds the
 * environments of `@concord/conformance` from them and registers one suite.
 *
 * Self-contained on purpose (no relative imports): vitest loads it from `src` or `dist`.
 *
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  type ConformanceEnv,
  eventsSuite,
  memoryPersistenceEnv,
  memoryTransportEnv,
  type PersistenceEnv,
  persistenceSuite,
  storeSuite,
  type TransportEnv,
  transportSuite,
} from '@concord/conformance'
import type { Persistence, Transport } from '@concord/core'

/** The suites `concord conformance` can run. */
export type SuiteKind = 'transport' | 'persistence' | 'store' | 'events'

/** One user module, as the generated test file hands it over. */
export interface AdapterModule {
  /** The module's namespace object. */
  readonly module: Readonly<Record<string, unknown>>
  /** The export to use (`--transport ./x.js#name`); found by convention when absent. */
  readonly exportName?: string
  /** How the report names it: a package name or a path. */
  readonly label: string
}

/** What one generated test file registers. */
export interface SuitePlan {
  readonly suite: SuiteKind
  /** The describe title, e.g. `tcp x memory`. */
  readonly name: string
  /** The user's transport module; the in-memory transport when absent. */
  readonly transport?: AdapterModule
  /** The user's persistence module; the in-memory persistence when absent. */
  readonly persistence?: AdapterModule
  /** A folder for the data of persistence factories (one sub-folder per test). */
  readonly dataDir: string
  /** Where to write what the environment offered ({@link EnvInfo}), once. */
  readonly infoFile: string
}

/** What the environment of a suite offered, for the report. */
export interface EnvInfo {
  /** `capabilities.name` of the transport and persistence. */
  readonly transport?: string
  readonly persistence?: string
  /** What was called in the user's modules: `tcpTransport()`, `default.env()`. */
  readonly calls?: { readonly transport?: string; readonly persistence?: string }
  /** The first listen address the environment gave (`address()`), when it has a transport. */
  readonly address?: string
  /** Whether that address is {@link DEFAULT_ADDRESS}, what a module that exports none gets. */
  readonly defaultAddress?: boolean
  readonly has: Readonly<
    Record<'transportFor' | 'faults' | 'crash' | 'failCommits' | 'failReads' | 'corrupt', boolean>
  >
}

/** A module that does not follow the contract. The CLI turns it into a usage error (exit 2). */
export class ConformanceModuleError extends Error {
  override readonly name = 'ConformanceModuleError'
}

/** The user's factory or `env()` threw: the report shows it as a failure of the adapter (exit 1). */
export class ConformanceSetupError extends Error {
  override readonly name = 'ConformanceSetupError'
}

/**
 * Calls the user's factory or `env()`, turning what it throws (or rejects with) into a
 * {@link ConformanceSetupError} that names the call and keeps the thrower's stack.
 */
function calling<T>(what: string, fn: () => T): T {
  const wrap = (error: unknown): never => {
    const original = error instanceof Error ? error : new Error(String(error))
    const wrapped = new ConformanceSetupError(`${what} threw ${original.name}: ${original.message}`, {
      cause: error,
    })
    const frames = original.stack?.split('\n').filter((l) => /^\s+at /.test(l))
    if (frames !== undefined) wrapped.stack = [`${wrapped.name}: ${wrapped.message}`, ...frames].join('\n')
    throw wrapped
  }
  let result: T
  try {
    result = fn()
  } catch (error) {
    return wrap(error)
  }
  if (isThenable(result)) return (result as Promise<unknown>).catch(wrap) as T
  return result
}

/** The listen address when a transport module exports none. */
export const DEFAULT_ADDRESS = 'tcp://127.0.0.1:0'

/** Registers the suite `plan` names, over the user's modules. */
export function registerSuite(plan: SuitePlan): void {
  const transportOffer = plan.transport === undefined ? undefined : findOffer(plan.transport, 'transport')
  const persistenceOffer =
    plan.persistence === undefined ? undefined : findOffer(plan.persistence, 'persistence')
  const transport = plan.transport === undefined ? undefined : transportMaker(plan.transport, transportOffer!)
  const persistence =
    plan.persistence === undefined
      ? undefined
      : persistenceMaker(plan.persistence, persistenceOffer!, plan.dataDir)
  const calls = {
    ...(transportOffer === undefined ? {} : { transport: call(transportOffer) }),
    ...(persistenceOffer === undefined ? {} : { persistence: call(persistenceOffer) }),
  }
  const makeTransport =
    transport ?? (async () => memoryTransportEnv({ maxFrameSize: 1 << 20, peerQueueLimit: 1024 }))
  const makePersistence = persistence ?? (async () => memoryPersistenceEnv())
  let written = false
  const record = (env: Partial<ConformanceEnv>): void => {
    if (written) return
    written = true
    writeFileSync(plan.infoFile, JSON.stringify({ ...envInfo(env), calls }))
  }
  switch (plan.suite) {
    case 'transport':
      transportSuite({
        name: plan.name,
        setup: async () => {
          const env = await makeTransport()
          record(env)
          return env
        },
        teardown: (env) => env.dispose(),
      })
      return
    case 'persistence':
      persistenceSuite({
        name: plan.name,
        setup: async () => {
          const env = await makePersistence()
          record(env)
          return env
        },
        teardown: (env) => env.dispose(),
      })
      return
    case 'store':
    case 'events': {
      const options = {
        name: plan.name,
        setup: async () => {
          const t = await makeTransport()
          let p: Owned<PersistenceEnv>
          try {
            p = await makePersistence()
          } catch (error) {
            await t.dispose()
            throw error
          }
          const env = combine(t, p)
          record(env)
          return env
        },
        teardown: (env: Owned<ConformanceEnv>) => env.dispose(),
      }
      if (plan.suite === 'store') storeSuite(options)
      else eventsSuite(options)
      return
    }
  }
}

/** An environment with the `dispose()` its suite's teardown calls. */
type Owned<E> = E & { dispose(): Promise<void> }

function envInfo(env: Partial<ConformanceEnv>): EnvInfo {
  let persistence: string | undefined
  if (typeof env.persistence === 'function') {
    // Constructing a persistence does no I/O (the port's contract); this one is closed unused.
    const instance = env.persistence()
    persistence = instance.capabilities?.name
    void instance.close().catch(() => {})
  }
  const name = env.transport?.capabilities?.name
  const address = firstAddress(env)
  return {
    ...(name === undefined ? {} : { transport: name }),
    ...(address === undefined ? {} : { address, defaultAddress: address === DEFAULT_ADDRESS }),
    ...(persistence === undefined ? {} : { persistence }),
    has: {
      transportFor: typeof env.transportFor === 'function',
      faults: env.faults !== undefined,
      crash: typeof env.crash === 'function',
      failCommits: typeof env.failCommits === 'function',
      failReads: typeof env.failReads === 'function',
      corrupt: typeof env.corrupt === 'function',
    },
  }
}

/** What `env.address()` gives, for the report; a bad one fails the suites' own calls, not this. */
function firstAddress(env: Partial<ConformanceEnv>): string | undefined {
  if (typeof env.address !== 'function') return undefined
  try {
    const address: unknown = env.address()
    return typeof address === 'string' ? address : undefined
  } catch {
    return undefined
  }
}

/** The two halves as one environment; members are bound, so class instances work too. */
function combine(t: Owned<TransportEnv>, p: Owned<PersistenceEnv>): Owned<ConformanceEnv> {
  return {
    transport: t.transport,
    address: () => t.address(),
    ...(t.transportFor === undefined
      ? {}
      : { transportFor: (identity: string) => t.transportFor!(identity) }),
    ...(t.faults === undefined ? {} : { faults: t.faults }),
    persistence: () => p.persistence(),
    ...(p.crash === undefined ? {} : { crash: () => p.crash!() }),
    ...(p.failCommits === undefined ? {} : { failCommits: (count: number) => p.failCommits!(count) }),
    ...(p.failReads === undefined ? {} : { failReads: (count: number) => p.failReads!(count) }),
    ...(p.corrupt === undefined ? {} : { corrupt: (store: string) => p.corrupt!(store) }),
    dispose: async () => {
      try {
        await t.dispose()
      } finally {
        await p.dispose()
      }
    },
  }
}

/** How the report shows what it calls: `tcpTransport()`, `default.env()`. */
const call = (offer: Offer): string => `${offer.name}${offer.form === 'env' ? '.env' : ''}()`

/** What an adapter module offers: a factory, or an object with `env()`. */
type Offer =
  | { readonly form: 'factory'; readonly name: string; readonly make: (...args: unknown[]) => unknown }
  | { readonly form: 'env'; readonly name: string; readonly env: (...args: unknown[]) => unknown }

const capitalized = (kind: string) => `${kind[0]!.toUpperCase()}${kind.slice(1)}`

/**
 * Finds the export to use: the one named, else `default`, `<kind>`, `create<Kind>`, else the
 * only function export named like `tcpTransport` / `sqlitePersistence`.
 */
export function findOffer(adapter: AdapterModule, kind: 'transport' | 'persistence'): Offer {
  const { module, label } = adapter
  const exports = Object.keys(module)
    .filter((name) => module[name] !== undefined)
    .sort()
  let name: string | undefined
  if (adapter.exportName !== undefined) {
    if (module[adapter.exportName] === undefined) {
      throw new ConformanceModuleError(
        `${label} has no export '${adapter.exportName}' (its exports: ${list(exports)})`,
      )
    }
    name = adapter.exportName
  } else {
    name = ['default', kind, `create${capitalized(kind)}`].find((n) => module[n] !== undefined)
    if (name === undefined) {
      const pattern = new RegExp(`^[a-z][A-Za-z0-9_$]*${capitalized(kind)}$`)
      const candidates = exports.filter((n) => pattern.test(n) && typeof module[n] === 'function')
      if (candidates.length > 1) {
        throw new ConformanceModuleError(
          `${label} exports several ${kind} factories (${list(candidates)}): pick one with '${label}#${candidates[0]}'`,
        )
      }
      name = candidates[0]
    }
    if (name === undefined) {
      throw new ConformanceModuleError(
        `${label} has no ${kind} factory: export one as default, '${kind}' or 'create${capitalized(kind)}' ` +
          `(its exports: ${list(exports)})`,
      )
    }
  }
  const value = module[name]
  if (typeof value === 'function')
    return { form: 'factory', name, make: value as (...args: unknown[]) => unknown }
  if (typeof value === 'object' && value !== null && typeof (value as { env?: unknown }).env === 'function') {
    const holder = value as { env: (...args: unknown[]) => unknown }
    return { form: 'env', name, env: (...args) => holder.env(...args) }
  }
  throw new ConformanceModuleError(
    `${label}: export '${name}' is ${typeof value === 'object' && value !== null ? 'an object without env()' : describe(value)}, ` +
      `not a ${kind} factory (a function) or an object with env()`,
  )
}

function list(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ')
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return `a ${typeof value}`
}

const isTransport = (value: unknown): value is Transport =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Transport).listen === 'function' &&
  typeof (value as Transport).connect === 'function' &&
  typeof (value as Transport).capabilities === 'object'

const isPersistence = (value: unknown): value is Persistence =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Persistence).open === 'function' &&
  typeof (value as Persistence).close === 'function' &&
  typeof (value as Persistence).capabilities === 'object'

const isThenable = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'

/** The module's `address` export as a function (default {@link DEFAULT_ADDRESS}). */
function addressOf(adapter: AdapterModule): () => string {
  const exported = adapter.module.address
  if (exported === undefined) return () => DEFAULT_ADDRESS
  if (typeof exported === 'string') return () => exported
  if (typeof exported === 'function') {
    return () => {
      const address = (exported as () => unknown)()
      if (typeof address !== 'string') {
        throw new ConformanceModuleError(
          `${adapter.label}: address() returned ${describe(address)}, not a string`,
        )
      }
      return address
    }
  }
  throw new ConformanceModuleError(
    `${adapter.label}: export 'address' must be a string or a function returning one`,
  )
}

/** Makes one transport environment per call, from the module's factory or `env()`. */
function transportMaker(adapter: AdapterModule, offer: Offer): () => Promise<Owned<TransportEnv>> {
  const address = addressOf(adapter)
  const what = `${adapter.label}: ${call(offer)}`
  return async () => {
    const made = await calling(what, () => (offer.form === 'factory' ? offer.make() : offer.env()))
    if (isTransport(made)) return { transport: made, address, dispose: async () => {} }
    if (offer.form === 'env' || (typeof made === 'object' && made !== null && 'transport' in made)) {
      const env = made as Partial<TransportEnv> & { dispose?: () => unknown }
      if (!isTransport(env?.transport)) {
        throw new ConformanceModuleError(
          `${what} returned ${describe(made)} without a Transport in 'transport' (capabilities, listen, connect)`,
        )
      }
      return {
        transport: env.transport,
        address: typeof env.address === 'function' ? () => env.address!() : address,
        ...(typeof env.transportFor === 'function'
          ? { transportFor: (identity: string) => env.transportFor!(identity) }
          : {}),
        ...(env.faults === undefined ? {} : { faults: env.faults }),
        dispose: async () => {
          await env.dispose?.()
        },
      }
    }
    throw new ConformanceModuleError(
      `${what} returned ${describe(made)}, not a Transport (an object with capabilities, listen and connect)`,
    )
  }
}

/**
 * Makes one persistence environment per call: a fresh data folder, handed to the factory as
 * `{ path }` each time the suites ask for an instance (so a second instance reopens the data).
 */
function persistenceMaker(
  adapter: AdapterModule,
  offer: Offer,
  dataDir: string,
): () => Promise<Owned<PersistenceEnv>> {
  const what = `${adapter.label}: ${call(offer)}`
  return async () => {
    const path = mkdtempSync(join(dataDir, 'test-'))
    const remove = async () => rmSync(path, { recursive: true, force: true })
    if (offer.form === 'factory') {
      return {
        persistence: () => {
          const made = calling(what, () => offer.make({ path }))
          if (isPersistence(made)) return made
          throw new ConformanceModuleError(
            isThenable(made)
              ? `${what} returned a promise: a persistence factory must return the Persistence itself (use { env() } for async setup)`
              : `${what} returned ${describe(made)}, not a Persistence (an object with capabilities, open and close)`,
          )
        },
        dispose: remove,
      }
    }
    const env = (await calling(what, () => offer.env({ path }))) as Partial<PersistenceEnv> & {
      dispose?: () => unknown
    }
    if (typeof env !== 'object' || env === null || typeof env.persistence !== 'function') {
      await remove()
      throw new ConformanceModuleError(`${what} returned ${describe(env)} without a persistence() function`)
    }
    return {
      persistence: () => env.persistence!(),
      ...(typeof env.crash === 'function' ? { crash: () => env.crash!() } : {}),
      ...(typeof env.failCommits === 'function'
        ? { failCommits: (count: number) => env.failCommits!(count) }
        : {}),
      ...(typeof env.failReads === 'function' ? { failReads: (count: number) => env.failReads!(count) } : {}),
      ...(typeof env.corrupt === 'function' ? { corrupt: (store: string) => env.corrupt!(store) } : {}),
      dispose: async () => {
        try {
          await env.dispose?.()
        } finally {
          await remove()
        }
      },
    }
  }
}
