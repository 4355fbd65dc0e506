/**
 * A hub with one string store `kv` on the in-memory transport and persistence, and nodes
 * linked to it; everything is closed after each test of the file that uses it.
 */
import { t } from '@concord/schema'
import { afterEach } from 'vitest'
import {
  type ConcordNode,
  createHub,
  createNode,
  type Hub,
  type MemoryTransport,
  memoryPersistence,
  memoryTransport,
} from '../src/index.js'

export interface MemoryCluster {
  readonly transport: MemoryTransport
  readonly hub: Hub
  /** A node linked to the hub, presenting `identity`. */
  node(identity?: string): Promise<ConcordNode>
}

/** Registers the cleanup of the file's clusters; call it once at the top of a test file. */
export function useMemoryClusters(): () => Promise<MemoryCluster> {
  const closers: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close()
  })
  return async () => {
    const transport = memoryTransport()
    const hub = await createHub({
      transport,
      listen: 'memory://*',
      persistence: memoryPersistence(),
      heartbeat: 50,
      stores: { kv: { schema: t.string() } },
    })
    closers.push(() => hub.close())
    return {
      transport,
      hub,
      async node(identity) {
        const node = await createNode({
          transport,
          hub: hub.address,
          ...(identity === undefined ? {} : { identity }),
        })
        closers.push(() => node.close())
        return node
      },
    }
  }
}
