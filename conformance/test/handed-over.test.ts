/**
 * The transport suite over a transport that takes frames as the port says it may: handed
 * over (`NodeEndpoint.send`: "the caller never changes it afterwards"), kept by reference and
 * read on a later turn, as a transport that writes a socket from its own queue does. The
 * in-memory transport copies each frame at `send`, so the matrix cannot tell a suite that
 * changes a frame after sending it (and so demands a copy the port does not ask for) from
 * one that does not.
 */
import type { NodeEndpoint, NodeHandlers, Transport } from '@concord/core'
import { memoryTransportEnv, transportSuite } from '../src/index.js'

/** `inner`, except that a node's `send` keeps the frame it was handed and passes it on a turn later. */
function handedOver(inner: Transport): Transport {
  return {
    capabilities: inner.capabilities,
    listen: (address, handlers, options) => inner.listen(address, handlers, options),
    async connect(address, handlers, options) {
      let up = false
      const wrapped: NodeHandlers = {
        linkUp: () => {
          up = true
          handlers.linkUp()
        },
        linkDown: (reason) => {
          up = false
          queue.length = 0
          handlers.linkDown(reason)
        },
        frame: (frame) => handlers.frame(frame),
        broadcast: (topic, frame) => handlers.broadcast(topic, frame),
      }
      const endpoint = await inner.connect(address, wrapped, options)
      const queue: Uint8Array[] = []
      let closed = false
      const flush = () => {
        for (const frame of queue.splice(0)) endpoint.send(frame)
      }
      const node: NodeEndpoint = {
        send(frame) {
          if (closed || !up || frame.byteLength > inner.capabilities.maxFrameSize) return false
          if (queue.push(frame) === 1) setImmediate(flush)
          return true
        },
        subscribe: (topic) => endpoint.subscribe(topic),
        unsubscribe: (topic) => endpoint.unsubscribe(topic),
        reconnect: () => endpoint.reconnect(),
        close: () => {
          closed = true
          queue.length = 0
          return endpoint.close()
        },
      }
      return node
    },
  }
}

transportSuite({
  name: 'transport memory, frames handed over',
  setup: async () => {
    const env = memoryTransportEnv({ maxFrameSize: 1 << 20, peerQueueLimit: 1024 })
    const { transportFor } = env
    return {
      ...env,
      transport: handedOver(env.transport),
      ...(transportFor === undefined
        ? {}
        : { transportFor: (identity: string) => handedOver(transportFor(identity)) }),
    }
  },
  teardown: (env) => env.dispose(),
})
