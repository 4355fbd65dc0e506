/** A node holds its process alive from start to close (see the core README), and only then. */
import { afterEach, describe, expect, it } from 'vitest'
import { ConcordNode, createHub, createNode, memoryPersistence, memoryTransport } from '../src/index.js'

/** The ref'd timers of this process: the ones that keep it alive. */
const refTimers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

async function hubAddress() {
  const transport = memoryTransport()
  const hub = await createHub({ transport, listen: 'memory://*', persistence: memoryPersistence() })
  closers.push(() => hub.close())
  return { transport, address: hub.address }
}

describe('keepAlive', () => {
  it('a node holds one ref’d timer from start to close, however often start is called', async () => {
    const { transport, address } = await hubAddress()
    const before = refTimers()
    const node = new ConcordNode({ transport, hub: address })
    await node.start()
    await node.start()
    expect(refTimers()).toBe(before + 1)
    await node.close()
    expect(refTimers()).toBe(before)
  })

  it('with keepAlive: false, none', async () => {
    const { transport, address } = await hubAddress()
    const before = refTimers()
    const node = await createNode({ transport, hub: address, keepAlive: false })
    closers.push(() => node.close())
    expect(refTimers()).toBe(before)
  })

  it('a node closed while it connects holds nothing and lets its endpoint go', async () => {
    const { transport, address } = await hubAddress()
    const before = refTimers()
    const node = new ConcordNode({ transport, hub: address })
    const starting = node.start()
    await node.close()
    await starting
    expect(refTimers()).toBe(before)
    expect(transport.network.nodes.size).toBe(0)
  })
})
