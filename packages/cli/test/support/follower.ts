/**
 * A program whose only work is to follow a store over ZeroMQ, as a manager does: it prints
 * its node's status changes and the store's changes, and closes its node after the key
 * `done`. `node follower.ts HUB [keep-alive-off]`.
 */
import { constantBackoff, createNode } from '@concord/core'
import { t } from '@concord/schema'
import { zmqTransport } from '@concord/transport-zmq'

const [hub, option] = process.argv.slice(2)
const node = await createNode({
  transport: zmqTransport(),
  hub: hub!,
  backoff: constantBackoff(20),
  ...(option === 'keep-alive-off' ? { keepAlive: false } : {}),
})
void (async () => {
  for await (const change of node.statusChanges()) console.log(`status ${change.status}`)
})()
const kv = await node.open('kv', { schema: t.string() })
console.log('open')
for await (const change of kv.changes()) {
  console.log(`${change.kind} ${change.key}`)
  if (change.key === 'done') break
}
await node.close()
