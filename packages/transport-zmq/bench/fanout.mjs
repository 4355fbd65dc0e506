// The measurement behind the transport's design (README, "Socket design"): one broadcast to N
// peers as N ROUTER sends (per-peer filtering and authorization in JS) versus one PUB send
// (libzmq fans out). Run: node packages/transport-zmq/bench/fanout.mjs
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Publisher, Router } from 'zeromq'

const PEER = fileURLToPath(new URL('./fanout-peer.mjs', import.meta.url))

/**
 * Sends `total` broadcasts of `size` bytes to `peers` receivers in a child process and
 * returns { broadcasts/s, deliveries/s, hub CPU µs per broadcast }.
 */
export async function fanout({ kind, peers, total, size = 200 }) {
  const socket =
    kind === 'router'
      ? new Router({ linger: 0, sendHighWaterMark: 0, mandatory: true, sendTimeout: 0 })
      : new Publisher({ linger: 0, sendHighWaterMark: 0 })
  await socket.bind('tcp://127.0.0.1:0')
  const child = fork(PEER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  try {
    child.send({ kind, address: socket.lastEndpoint, peers, total })
    const ids = []
    if (kind === 'router') {
      while (ids.length < peers) {
        const [id] = await socket.receive()
        ids.push(id)
      }
    }
    let ready = false
    once(child, 'message').then(() => {
      ready = true
    })
    while (!ready) {
      if (kind === 'router') for (const id of ids) await socket.send([id, Buffer.of(0)])
      else await socket.send(['s|', Buffer.of(0)])
      await new Promise((r) => setTimeout(r, 5))
    }
    const topic = Buffer.from('s|kv|')
    const payload = Buffer.alloc(size, 7)
    const done = once(child, 'message')
    const cpu = process.cpuUsage()
    const start = performance.now()
    for (let i = 0; i < total; i++) {
      if (kind === 'router') {
        for (const id of ids) socket.send([id, topic, payload]).catch(() => {})
        // let the I/O thread drain now and then, as the event loop would
        if (i % 64 === 63) await new Promise((r) => setImmediate(r))
      } else {
        await socket.send([topic, payload])
        if (i % 64 === 63) await new Promise((r) => setImmediate(r))
      }
    }
    const sendCpu = process.cpuUsage(cpu)
    await done
    const seconds = (performance.now() - start) / 1000
    return {
      broadcasts: total / seconds,
      deliveries: (total * peers) / seconds,
      cpuPerBroadcastUs: (sendCpu.user + sendCpu.system) / total,
    }
  } finally {
    socket.close()
    child.kill()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const peers of [1, 10, 100]) {
    for (const kind of ['router', 'pub']) {
      const total = peers === 100 ? 5_000 : 50_000
      const r = await fanout({ kind, peers, total })
      console.log(
        `${kind.padEnd(6)} ${String(peers).padStart(3)} peers: ${Math.round(r.broadcasts).toLocaleString('en-US').padStart(9)} broadcasts/s  ${Math.round(r.deliveries).toLocaleString('en-US').padStart(10)} deliveries/s  ${r.cpuPerBroadcastUs.toFixed(1).padStart(7)} µs hub CPU/broadcast`,
      )
    }
  }
}
