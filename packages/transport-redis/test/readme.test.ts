/** The README's example, type-checked (by tsc over the tests) and never run: it needs a real deployment. */
import { createHub, createNode, memoryPersistence } from '@concord/core'
import { t } from '@concord/schema'
import { expect, it } from 'vitest'
import { redisAclRules, redisTransport } from '../src/index.js'

export async function readmeExample(): Promise<void> {
  // Machine A: the hub, named concord-hub-1 on this Redis.
  const hub = await createHub({
    transport: redisTransport({ username: 'hub-1', password: process.env.HUB_PASSWORD }),
    listen: 'redis://10.0.0.5:6379/concord-hub-1',
    persistence: memoryPersistence(),
    stores: { kv: { schema: t.string() } },
    access: [{ identities: ['node-7'], allow: ['read', 'write'], stores: ['kv'] }],
  })

  // Machine B: a node, authenticated as the ACL user node-7.
  const node = await createNode({
    transport: redisTransport({ username: 'node-7', password: process.env.NODE_PASSWORD }),
    hub: 'redis://10.0.0.5:6379/concord-hub-1',
  })
  const kv = await node.open('kv', { schema: t.string() })
  await kv.put('greeting', 'hello')
  await node.close()
  await hub.close()
}

it('the README example type-checks and its ACL rules are the documented ones', () => {
  expect(typeof readmeExample).toBe('function')
  expect(redisAclRules('node', 'node-7').join(' ')).toBe(
    'resetchannels &concord:*:req:*:node-7 &concord:*:to:*:node-7 resetkeys -@all +publish +subscribe +unsubscribe',
  )
  expect(redisAclRules('hub', 'hub-1', { hub: 'concord-hub-1' }).join(' ')).toBe(
    'resetchannels &concord:concord-hub-1:* &concord:concord-hub-1:req:* resetkeys -@all +publish +psubscribe +punsubscribe',
  )
})
