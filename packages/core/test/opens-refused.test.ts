/** `hub.metrics.opensRefused`: an open the hub refuses is counted, by the code the clone gets. */
import { t } from '@concord/schema'
import { afterEach, expect, it } from 'vitest'
import {
  createHub,
  createNode,
  ForbiddenError,
  memoryPersistence,
  memoryTransport,
  SchemaMismatchError,
  UnknownStoreError,
} from '../src/index.js'

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

it('S2.1 S2.2 S8.2 opens refused for an unknown store, another schema or no read permission are counted by code', async () => {
  const transport = memoryTransport()
  const hub = await createHub({
    transport,
    listen: 'memory://*',
    persistence: memoryPersistence(),
    stores: { kv: { schema: t.string() }, secret: { schema: t.string() } },
    access: [
      { identities: ['*'], allow: ['read'], stores: ['kv'] },
      { identities: ['admin'], allow: ['read'], stores: ['*'] },
    ],
  })
  closers.push(() => hub.close())
  const node = await createNode({ transport, hub: hub.address, identity: 'n' })
  closers.push(() => node.close())
  const admin = await createNode({ transport, hub: hub.address, identity: 'admin' })
  closers.push(() => admin.close())
  await expect(admin.open('nope', { schema: t.string() })).rejects.toBeInstanceOf(UnknownStoreError)
  await expect(node.open('kv', { schema: t.count() })).rejects.toBeInstanceOf(SchemaMismatchError)
  // Without read permission the hub refuses the clone's subscription to the store (it does
  // not tell whether the store exists).
  await expect(node.open('secret', { schema: t.string() })).rejects.toBeInstanceOf(ForbiddenError)
  await expect(node.open('nope', { schema: t.string() })).rejects.toBeInstanceOf(ForbiddenError)
  expect(hub.metrics.opensRefused).toEqual({ ERR_UNKNOWN_STORE: 1, ERR_SCHEMA_MISMATCH: 1, ERR_FORBIDDEN: 2 })
  // An open the hub grants counts nowhere there.
  await node.open('kv', { schema: t.string() })
  expect(hub.metrics.opensRefused).toEqual({ ERR_UNKNOWN_STORE: 1, ERR_SCHEMA_MISMATCH: 1, ERR_FORBIDDEN: 2 })
  expect(hub.metrics.snapshots).toBe(1)
})

it('S8.2 an open refused for want of read permission says which store may not be read, not the raw subscription topic', async () => {
  const transport = memoryTransport()
  const hub = await createHub({
    transport,
    listen: 'memory://*',
    persistence: memoryPersistence(),
    stores: { secret: { schema: t.string() } },
    access: [{ identities: ['admin'], allow: ['read'], stores: ['*'] }],
  })
  closers.push(() => hub.close())
  const node = await createNode({ transport, hub: hub.address, identity: 'mallory' })
  closers.push(() => node.close())
  const whole = await node.open('secret', { schema: t.string() }).catch((error: unknown) => error)
  expect(whole).toBeInstanceOf(ForbiddenError)
  expect((whole as ForbiddenError).message).toMatch(/^may not read store 'secret': the hub refused/)
  // The transport's own refusal stays reachable, for whoever needs the raw topic.
  expect((whole as ForbiddenError).cause).toBeInstanceOf(ForbiddenError)
  const view = await node
    .open('secret', { schema: t.string(), prefix: 'a/' })
    .catch((error: unknown) => error)
  expect(view).toBeInstanceOf(ForbiddenError)
  expect((view as ForbiddenError).message).toMatch(
    /^may not read store 'secret' \(the view of 'a\/'\): the hub refused/,
  )
  expect(hub.metrics.opensRefused).toEqual({ ERR_FORBIDDEN: 2 })
})
