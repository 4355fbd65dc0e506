/**
 * Flow control of snapshots and log replays (S2.7, S6.3) against a node that does not play
 * by it: a raw client on the in-memory transport speaking the wire protocol itself.
 */
import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeFrame } from '../src/protocol/codec.js'
import { type HubMessage, MessageType, type NodeMessage, PROTOCOL_VERSION } from '../src/protocol/messages.js'
import { type MemoryCluster, useMemoryClusters } from './memory-cluster.js'
import { soon } from './soon.js'

const cluster = useMemoryClusters()

/** A client that links to the hub and sends what it is told, counting what comes back. */
async function rawClient(on: MemoryCluster, onMessage: (message: HubMessage) => void = () => {}) {
  const received: HubMessage[] = []
  let linked!: () => void
  const up = new Promise<void>((resolve) => (linked = resolve))
  const endpoint = await on.transport.connect(
    on.hub.address,
    {
      linkUp: () => linked(),
      linkDown: () => {},
      frame: (frame) => {
        for (const message of decodeFrame(frame, 1 << 24) as HubMessage[]) {
          received.push(message)
          onMessage(message)
        }
      },
      broadcast: () => {},
    },
    { backoff: () => 60_000, identity: 'raw' },
  )
  await up
  let nonce = 0
  return {
    received,
    send: (...messages: NodeMessage[]) => expect(endpoint.send(encodeFrame(messages))).toBe(true),
    /** Sends `messages`, then waits until the hub answered everything up to them (links are ordered). */
    async exchange(...messages: NodeMessage[]): Promise<void> {
      const ping = ++nonce
      expect(endpoint.send(encodeFrame([...messages, { type: MessageType.PING, nonce: ping }]))).toBe(true)
      await soon(() =>
        expect(received.some((m) => m.type === MessageType.PONG && m.nonce === ping)).toBe(true),
      )
    },
    close: () => endpoint.close(),
  }
}

describe('snapshot credits', () => {
  it('S2.7 S9.1 credit for chunks never sent does not widen the window: the excess is refused and counted, the snapshot still completes', async () => {
    const window = 4
    const c = await cluster({ limits: { snapshotChunkEntries: 1, snapshotWindow: window } })
    const writer = await c.node('writer')
    const kv = await writer.open('kv', { schema: t.string() })
    const keys = Array.from({ length: 60 }, (_, i) => `k${String(i).padStart(2, '0')}`)
    await Promise.all(keys.map((key) => kv.put(key, key)))

    let honest = false
    const chunks = () => client.received.filter((m) => m.type === MessageType.SNAPSHOT_CHUNK).length
    const client = await rawClient(c, (message) => {
      // Once honest, a credit for each chunk as it arrives, as a node does.
      if (honest && message.type === MessageType.SNAPSHOT_CHUNK) {
        client.send({ type: MessageType.SNAPSHOT_CREDIT, openId: 1, credits: 1 })
      }
    })
    await client.exchange(
      { type: MessageType.HELLO, version: PROTOCOL_VERSION, nodeId: 'raw-node', groups: [], maxFrameSize: 0 },
      {
        type: MessageType.OPEN,
        openId: 1,
        store: 'kv',
        fingerprint: t.string().fingerprint,
        prefix: '',
        resumeEpoch: null,
        resumeSeq: 0,
      },
    )
    expect(chunks()).toBe(window)

    // Ten credits of a whole window each: only the four chunks sent are owed.
    const refusedBefore = c.hub.metrics.refused.ERR_PROTOCOL ?? 0
    await client.exchange(
      ...Array.from({ length: 10 }, () => ({
        type: MessageType.SNAPSHOT_CREDIT,
        openId: 1,
        credits: window,
      })),
    )
    expect(chunks()).toBe(2 * window)
    expect((c.hub.metrics.refused.ERR_PROTOCOL ?? 0) - refusedBefore).toBe(9)
    const errors = client.received.filter((m) => m.type === MessageType.ERROR)
    expect(errors).toHaveLength(9)
    expect(errors[0]).toMatchObject({ reqKind: MessageType.SNAPSHOT_CREDIT, reqId: 1, code: 'ERR_PROTOCOL' })

    // Played by the rules again (a credit for each of the four unacknowledged chunks, then one
    // per chunk), the snapshot completes with every entry once.
    honest = true
    client.send({ type: MessageType.SNAPSHOT_CREDIT, openId: 1, credits: window })
    await soon(() => expect(client.received.some((m) => m.type === MessageType.SYNC_END)).toBe(true))
    const entries = client.received.flatMap((m) =>
      m.type === MessageType.SNAPSHOT_CHUNK ? m.entries.filter((_, i) => i % 3 === 0) : [],
    )
    expect(entries.sort()).toEqual(keys)
    expect(c.hub.metrics.refused.ERR_PROTOCOL ?? 0).toBe(refusedBefore + 9)
    await client.close()
  })
})
