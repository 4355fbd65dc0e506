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

it("S2.2 a refusal of another schema names the hub's schema in words beside the fingerprints", async () => {
  const transport = memoryTransport()
  const Host = t.record({ addr: t.addr(), seen: t.time() })
  const hub = await createHub({
    transport,
    listen: 'memory://*',
    persistence: memoryPersistence(),
    stores: { hosts: { schema: Host }, counts: { schema: t.count() } },
    topics: { 'zeek/conn': { schema: t.string() } },
  })
  closers.push(() => hub.close())
  const node = await createNode({ transport, hub: hub.address })
  closers.push(() => node.close())
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.unreachable('the hub accepted another schema'),
      (error: unknown) => {
        expect(error).toBeInstanceOf(SchemaMismatchError)
        return (error as Error).message
      },
    )
  const fp = (schema: { fingerprint: string }) => schema.fingerprint
  expect(await refusal(node.open('counts', { schema: t.int() }))).toBe(
    `store 'counts': the master's schema (${fp(t.count())}, count) and the clone's (${fp(t.int())}) differ`,
  )
  expect(await refusal(node.writer('hosts', { schema: t.time() }))).toBe(
    `store 'hosts': the master's schema (${fp(Host)}, ${Host.describe()}) and the writer's (${fp(t.time())}) differ`,
  )
  expect(await refusal(node.read('counts', 'k', { schema: t.string() }))).toContain(
    `(${fp(t.count())}, count)`,
  )
  node.topic('zeek/conn', t.count())
  const sub = node.subscribe('zeek/conn')
  expect(await refusal(sub.ready)).toBe(
    `topic 'zeek/conn': the hub's payload schema (${fp(t.string())}, string) and the subscriber's (${fp(t.count())}) differ`,
  )
  expect(await refusal(node.publish('zeek/conn/new', 1n))).toBe(
    `topic 'zeek/conn/new': the hub's payload schema (${fp(t.string())}, string) and the publisher's (${fp(t.count())}) differ`,
  )
})

it('S2.2 a long schema is quoted up to 200 characters, cut on a whole character', async () => {
  const transport = memoryTransport()
  const fields: Record<string, ReturnType<typeof t.string>> = {}
  // Names of emoji: a cut counted in UTF-16 units would split one (`record("` is 8 units).
  for (let i = 0; i < 3; i++) fields[`${'\u{1F600}'.repeat(120)}${i}`] = t.string()
  const Wide = t.record(fields)
  const hub = await createHub({
    transport,
    listen: 'memory://*',
    persistence: memoryPersistence(),
    stores: { wide: { schema: Wide } },
  })
  closers.push(() => hub.close())
  const node = await createNode({ transport, hub: hub.address })
  closers.push(() => node.close())
  const error = await node.open('wide', { schema: t.string() }).then(
    () => expect.unreachable('the hub accepted another schema'),
    (e: unknown) => e as Error,
  )
  const quoted = /\(cs1:[^,]+, (.*)\) and the clone's/u.exec(error.message)?.[1]
  expect([...quoted!]).toHaveLength(200)
  expect(quoted!.endsWith('…')).toBe(true)
  expect(Wide.describe().startsWith(quoted!.slice(0, -1))).toBe(true)
  // No half of a surrogate pair (encodeURIComponent throws on one), nor its U+FFFD stand-in.
  expect(() => encodeURIComponent(quoted!)).not.toThrow()
  expect(quoted).not.toContain('\uFFFD')
})
