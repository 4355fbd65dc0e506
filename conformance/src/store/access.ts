import { type AccessRule, type Action, ForbiddenError, type Resource } from '@concord/core'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../harness.js'
import { eventually, masterSeq, record } from '../helpers.js'
import { Text } from '../schemas.js'

/** S8 for stores: identities, and who may read and write. Registered when the env has `transportFor`. */
export function storeAccessTests({ h, probe }: SuiteContext): void {
  if (!probe.has.transportFor) return
  const access: AccessRule[] = [
    { identities: ['admin'], allow: ['read', 'write'], stores: ['*'] },
    { identities: ['reader'], allow: ['read'], stores: ['public', 'secret'] },
    { identities: ['guest'], allow: ['read'], stores: ['public'] },
  ]
  const stores = { public: { schema: Text }, secret: { schema: Text } }

  describe('S8 access control (stores)', () => {
    it('S8.1 the hub authorizes the identity the transport authenticated', async () => {
      const seen: string[] = []
      const hub = await h().hub({
        stores,
        authorizer: {
          authorize(identity: string, action: Action, resource: Resource) {
            seen.push(`${identity} ${action} ${resource.store ?? resource.topic}`)
            return true
          },
        },
      })
      const store = await (await h().node(hub, { identity: 'alice' })).open('public', { schema: Text })
      await store.put('a', '1')
      expect(seen).toContain('alice read public')
      expect(seen).toContain('alice write public')
      expect(seen.every((line) => line.startsWith('alice '))).toBe(true)
    })

    it('S8.2 S3.3 an identity without write access gets ForbiddenError; nothing changes and nothing is broadcast', async () => {
      const hub = await h().hub({ stores, access })
      const admin = await (await h().node(hub, { identity: 'admin' })).open('public', { schema: Text })
      const reader = await (await h().node(hub, { identity: 'reader' })).open('public', { schema: Text })
      const seq = await admin.put('a', 'one')
      await eventually(() => expect(reader.get('a')).toBe('one'))
      const changes = record(admin.changes())
      const attempts = [
        reader.put('a', 'hacked'),
        reader.remove('a'),
        reader.update('a', '!', { op: 'append' }),
        reader.compareAndSet('a', seq, 'hacked'),
        reader.clear(),
      ]
      for (const attempt of attempts) {
        const error = await attempt.catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ForbiddenError)
        expect((error as ForbiddenError).code).toBe('ERR_FORBIDDEN')
      }
      expect(masterSeq(hub, 'public')).toBe(seq)
      expect(reader.get('a')).toBe('one')
      expect(hub.metrics.writeErrors.ERR_FORBIDDEN).toBe(attempts.length)
      await admin.put('sentinel', 's')
      await eventually(() => expect(reader.has('sentinel')).toBe(true))
      expect(changes.items.map((c) => c.key)).toEqual(['sentinel'])
    })

    it('S8.2 an identity without read access cannot open the store, nor a prefix view of it, and gets no data', async () => {
      const hub = await h().hub({ stores, access })
      const admin = await (await h().node(hub, { identity: 'admin' })).open('secret', { schema: Text })
      await admin.put('s/1', 'classified')
      const guestNode = await h().node(hub, { identity: 'guest' })
      const refused = await guestNode.open('secret', { schema: Text }).catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(ForbiddenError)
      await expect(guestNode.open('secret', { schema: Text, prefix: 's/' })).rejects.toBeInstanceOf(
        ForbiddenError,
      )
      const allowed = await guestNode.open('public', { schema: Text })
      expect(allowed.status).toBe('live')
      await admin.put('s/2', 'more')
      expect([...allowed.keys()]).toEqual([])
    })

    it("S8.2 a link is granted a store's broadcasts only by the store's whole name: a reader of public never receives publicity", async () => {
      const hub = await h().hub({
        stores: { ...stores, publicity: { schema: Text } },
        access,
        heartbeat: 60_000,
      })
      const admin = await (await h().node(hub, { identity: 'admin' })).open('publicity', { schema: Text })
      const guest = { topics: [] as string[] }
      const guestLink = await h().connect(
        hub.address,
        { linkUp() {}, linkDown() {}, frame() {}, broadcast: (topic) => guest.topics.push(topic) },
        'guest',
      )
      for (const raw of ['s|pub', 's|public', 's|', 's|public|x', 'v|public', 'v|publicity|', 'v||']) {
        expect(await guestLink.subscribe(raw).catch((e: unknown) => e), raw).toBeInstanceOf(ForbiddenError)
      }
      await guestLink.subscribe('s|public|')
      await guestLink.subscribe('v|public|')
      await admin.put('k', 'classified')
      const open = await (await h().node(hub, { identity: 'admin' })).open('public', { schema: Text })
      await open.put('k', 'open')
      await eventually(() => expect(guest.topics).toEqual(['s|public|']))
    })

    it('S8.2 an unknown identity is refused everything', async () => {
      const hub = await h().hub({ stores, access })
      const node = await h().node(hub, { identity: 'mallory' })
      await expect(node.open('public', { schema: Text })).rejects.toBeInstanceOf(ForbiddenError)
      await expect(node.open('secret', { schema: Text })).rejects.toBeInstanceOf(ForbiddenError)
    })
  })
}
