// Raw zeromq figures, no Concord: the baseline the transport is compared with.
// Import the functions (they return numbers and print nothing) or run this file to print them:
//   node packages/transport-zmq/bench/raw.mjs [--quick]
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Publisher, Router } from 'zeromq'

const PEER = fileURLToPath(new URL('./raw-peer.mjs', import.meta.url))

function startPeer() {
  const child = fork(PEER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  return child
}

async function reply(child) {
  const [message] = await once(child, 'message')
  return message
}

/**
 * DEALER (child process) → ROUTER (this process) echo round trips per second over loopback TCP,
 * with `inFlight` requests outstanding (1: latency-bound, 1000: throughput-bound).
 * @param {{ inFlight?: number, total?: number, size?: number }} [options]
 * @returns {Promise<number>} round trips per second
 */
export async function dealerRouterRoundTrips({
  inFlight = 1,
  total = inFlight === 1 ? 20_000 : 200_000,
  size = 100,
} = {}) {
  const router = new Router({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 })
  await router.bind('tcp://127.0.0.1:0')
  const child = startPeer()
  try {
    const echo = (async () => {
      for await (const [id, body] of router) await router.send([id, body])
    })()
    child.send({ kind: 'dealer-echo', address: router.lastEndpoint, total, inFlight, size })
    const { ms, received } = await reply(child)
    router.close()
    await echo.catch(() => {})
    if (received !== total) throw new Error(`lost replies: ${received}/${total}`)
    return total / (ms / 1000)
  } finally {
    child.kill()
  }
}

/**
 * Concord's message pattern with 1 in flight, in raw zeromq: a DEALER (child process) sends a
 * request to the ROUTER (this process), which sends it back to the sender and to each of
 * `listeners` DEALERs (child processes that only read), as a hub acknowledges a write and
 * broadcasts it to the clones. The ceiling for one-in-flight puts on this machine.
 * `beforeReply(body)`, when given, runs on each request before it is sent on (a hub's commit).
 * @param {{ listeners?: number, total?: number, size?: number, beforeReply?: (body: Buffer) => void }} [options]
 * @returns {Promise<number>} round trips per second
 */
export async function fanOutRoundTrips({ listeners = 3, total = 10_000, size = 100, beforeReply } = {}) {
  const router = new Router({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 })
  await router.bind('tcp://127.0.0.1:0')
  const readers = Array.from({ length: listeners }, startPeer)
  const writer = startPeer()
  const ids = []
  try {
    const echo = (async () => {
      for await (const [id, body] of router) {
        if (body.toString() === 'listener') {
          ids.push(id)
          await router.send([id, body])
          continue
        }
        beforeReply?.(body)
        await router.send([id, body])
        for (const listener of ids) await router.send([listener, body])
      }
    })()
    const ready = readers.map((reader) => reply(reader))
    for (const reader of readers)
      reader.send({ kind: 'listen', address: router.lastEndpoint, total: total + 2 })
    await Promise.all(ready)
    const done = readers.map((reader) => reply(reader))
    writer.send({ kind: 'dealer-echo', address: router.lastEndpoint, total, inFlight: 1, size })
    const { ms, received } = await reply(writer)
    const heard = await Promise.all(done)
    router.close()
    await echo.catch(() => {})
    if (received !== total || heard.some((h) => h.received !== total + 2)) throw new Error('lost messages')
    return total / (ms / 1000)
  } finally {
    for (const child of [...readers, writer]) child.kill()
  }
}

/**
 * PUB (this process) → SUB (child process) messages per second over loopback TCP, lossless
 * (high-water marks off, every message counted), `size`-byte messages.
 * @param {{ total?: number, size?: number }} [options]
 * @returns {Promise<number>} messages per second received
 */
export async function pubSubThroughput({ total = 1_000_000, size = 100 } = {}) {
  const pub = new Publisher({ linger: 0, sendHighWaterMark: 0 })
  await pub.bind('tcp://127.0.0.1:0')
  const child = startPeer()
  try {
    child.send({ kind: 'sub', address: pub.lastEndpoint, total })
    // Slow joiner: probe until the subscriber has heard us, then send the counted run.
    const ready = reply(child)
    let heard = false
    ready.then(() => {
      heard = true
    })
    while (!heard) {
      await pub.send(Buffer.of(0))
      await new Promise((r) => setTimeout(r, 5))
    }
    const payload = Buffer.alloc(size, 7)
    const done = reply(child)
    for (let i = 0; i < total; i++) await pub.send(payload)
    const { ms, received } = await done
    if (received !== total) throw new Error(`lost messages: ${received}/${total}`)
    return total / (ms / 1000)
  } finally {
    pub.close()
    child.kill()
  }
}

/** Every raw figure, keyed by name. */
export async function rawFigures({ quick = false } = {}) {
  const scale = quick ? 0.1 : 1
  return {
    'dealer-router round trips/s, 1 in flight': await dealerRouterRoundTrips({
      inFlight: 1,
      total: Math.round(20_000 * scale),
    }),
    'dealer-router round trips/s, 1000 in flight': await dealerRouterRoundTrips({
      inFlight: 1000,
      total: Math.round(200_000 * scale),
    }),
    'pub-sub msgs/s, 100 B, lossless': await pubSubThroughput({
      total: Math.round(1_000_000 * scale),
      size: 100,
    }),
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await rawFigures({ quick: process.argv.includes('--quick') })
  for (const [name, value] of Object.entries(figures)) {
    console.log(`${name.padEnd(48)} ${Math.round(value).toLocaleString('en-US').padStart(12)}`)
  }
}
