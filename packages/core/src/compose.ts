import 'reflect-metadata'
import { Container, ContainerModule, type ServiceIdentifier } from 'inversify'
import { Hub } from './hub/hub.js'
import type { HubConfig } from './hub/hub-config.js'
import { memoryPersistence } from './memory/memory-persistence.js'
import { ConcordNode } from './node/node.js'
import type { NodeConfig } from './node/node-config.js'
import { type Authorizer, allowAll } from './ports/authorizer.js'
import { type Backoff, exponentialBackoff } from './ports/backoff.js'
import { type Clock, systemClock } from './ports/clock.js'
import type { Persistence } from './ports/persistence.js'
import type { Transport } from './ports/transport.js'

/**
 * Container tokens, one per port, named after the interface. An adapter package exports a
 * `ContainerModule` binding its token; the composition root is the only place that resolves.
 */
export const Tokens = {
  Transport: Symbol.for('@concord/core:Transport') as ServiceIdentifier<Transport>,
  Persistence: Symbol.for('@concord/core:Persistence') as ServiceIdentifier<Persistence>,
  Clock: Symbol.for('@concord/core:Clock') as ServiceIdentifier<Clock>,
  Authorizer: Symbol.for('@concord/core:Authorizer') as ServiceIdentifier<Authorizer>,
  Backoff: Symbol.for('@concord/core:Backoff') as ServiceIdentifier<Backoff>,
} as const

/** `createHub`'s options: a {@link HubConfig} whose adapters may come from container modules instead. */
export type CreateHubOptions = Omit<HubConfig, 'transport'> & {
  readonly transport?: Transport
  /** Container modules of adapter packages (e.g. a transport's), loaded before the defaults. */
  readonly modules?: readonly ContainerModule[]
  readonly signal?: AbortSignal
}

/** `createNode`'s options, likewise. */
export type CreateNodeOptions = Omit<NodeConfig, 'transport'> & {
  readonly transport?: Transport
  readonly modules?: readonly ContainerModule[]
  readonly signal?: AbortSignal
}

/** A module binding a constant to a token: the shape adapter packages export. */
export function bindingModule<T>(token: ServiceIdentifier<T>, value: T): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(token).toConstantValue(value)
  })
}

function build(
  modules: readonly ContainerModule[],
  explicit: readonly [ServiceIdentifier<unknown>, unknown][],
): Container {
  const container = new Container()
  container.load(...modules)
  const defaults: [ServiceIdentifier<unknown>, () => unknown][] = [
    [Tokens.Clock, () => systemClock],
    [Tokens.Authorizer, () => allowAll],
    [Tokens.Backoff, () => exponentialBackoff()],
    [Tokens.Persistence, () => memoryPersistence()],
  ]
  for (const [token, value] of explicit) {
    if (value === undefined) continue
    if (container.isBound(token)) container.unbind(token)
    container.bind(token).toConstantValue(value)
  }
  for (const [token, make] of defaults) {
    if (!container.isBound(token)) container.bind(token).toDynamicValue(make).inSingletonScope()
  }
  return container
}

function resolveTransport(container: Container): Transport {
  if (!container.isBound(Tokens.Transport)) {
    throw new TypeError('no transport: pass { transport } or a module that binds Tokens.Transport')
  }
  return container.get(Tokens.Transport)
}

/**
 * Builds and starts a hub: opens its stores' persistence, recovers them, and listens.
 * ```ts
 * const hub = await createHub({ transport, listen, persistence, stores: { 'my-data': { schema: Foo, expiry: '5m' } } })
 * ```
 */
export async function createHub(options: CreateHubOptions): Promise<Hub> {
  const { modules = [], signal, ...config } = options
  const container = build(modules, [
    [Tokens.Transport, config.transport],
    [Tokens.Persistence, config.persistence],
    [Tokens.Clock, config.clock],
    [Tokens.Authorizer, config.authorizer],
  ])
  const hub = new Hub({
    ...config,
    transport: resolveTransport(container),
    persistence: container.get(Tokens.Persistence),
    clock: container.get(Tokens.Clock),
    authorizer:
      config.authorizer ?? (config.access === undefined ? container.get(Tokens.Authorizer) : undefined),
  })
  await hub.start(signal)
  return hub
}

/**
 * Builds and starts a node connected to the hub at `hub`.
 * ```ts
 * const node = await createNode({ transport, hub: address })
 * ```
 */
export async function createNode(options: CreateNodeOptions): Promise<ConcordNode> {
  const { modules = [], signal, ...config } = options
  const container = build(modules, [
    [Tokens.Transport, config.transport],
    [Tokens.Clock, config.clock],
    [Tokens.Backoff, config.backoff],
  ])
  const node = new ConcordNode({
    ...config,
    transport: resolveTransport(container),
    clock: container.get(Tokens.Clock),
    backoff: container.get(Tokens.Backoff),
  })
  await node.start(signal)
  return node
}
