// Concord's ZeroMQ transport alone (no core, no storage) in the message pattern of a put with
// one in flight: a writer node sends a frame, the hub answers it and broadcasts it to every
// node (the writer and `listeners` more). Between raw zeromq's fan-out (bench/raw.mjs) and a
// Concord put, it shows what the transport costs and what core and storage add.
// Import the function, or run: node packages/transport-zmq/bench/transport-fanout.mjs
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { zmqTransport } from '../dist/index.js'

const PEER = fileURLToPath(new URL('./transport-fanout-peer.mjs', import.meta.url))

/**
 * Round trips per second with one in flight: frame -> hub -> acknowledgement (20 bytes) and
 * broadcast (`size` bytes) -> writer and `listeners` listener nodes, each a child process.
 * @param {{ listeners?: number, total?: number, size?: number }} [options]
 * @returns {Promise<number>}
 */
export async function transportFanOutRoundTrips({ listeners = 3, total = 10_000, size = 200 } = {}) {
  let hub
  hub = await zmqTransport().listen('tcp://127.0.0.1:0', {
    peerJoined() {},
    peerLeft() {},
    refused() {},
    authorizeSubscription: () => true,
    frame(peer, frame) {
      hub.send(peer.id, frame.subarray(0, 20))
      hub.broadcast('t', frame)
    },
  })
  const roles = ['writer', ...Array.from({ length: listeners }, () => 'listener')]
  const peers = roles.map((role) =>
    fork(PEER, [role, hub.address, String(total), String(size)], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  )
  try {
    await Promise.all(peers.map((peer) => once(peer, 'message')))
    const done = peers.map((peer) => once(peer, 'message'))
    for (const peer of peers) peer.send('go')
    const [[{ ms, received }], ...heard] = await Promise.all(done)
    if (received !== total || heard.some(([h]) => h.received < total)) throw new Error('lost messages')
    return total / (ms / 1000)
  } finally {
    for (const peer of peers) peer.kill()
    await hub.close()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rate = await transportFanOutRoundTrips()
  console.log(`transport fan-out, writer + 3 listeners, 1 in flight: ${Math.round(rate)}/s`)
}
