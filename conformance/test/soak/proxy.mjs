// The soak's link proxies (see soak.mjs, LinkProxy), run in a worker thread of the driver: the
// driver's checks between phases hold its own event loop for up to seconds, and a proxy that
// waited for them would stop every link at once, which the hub and the nodes would rightly
// take for silence. Messages from the driver: `{ cmd: 'add', id, port }` (answered with
// `{ id, port }`, the port it listens on), `{ cmd: 'cut', id, ms }`, `{ cmd: 'close' }`.
import { createConnection, createServer } from 'node:net'
import { parentPort } from 'node:worker_threads'

/** One node's proxy: while cut, it resets every connection it carries and each new one at once. */
class LinkProxy {
  constructor(port) {
    this.port = port
    this.cutUntil = 0
    this.sockets = new Set()
    this.server = createServer((client) => this.#accept(client))
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(0, '127.0.0.1', () => resolve(this.server.address().port))
    })
  }

  #accept(client) {
    if (Date.now() < this.cutUntil) return client.resetAndDestroy()
    const upstream = createConnection(this.port, '127.0.0.1')
    const pair = [client, upstream]
    for (const socket of pair) {
      this.sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        this.sockets.delete(socket)
        for (const other of pair) if (!other.destroyed) other.resetAndDestroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  }

  cut(ms) {
    this.cutUntil = Math.max(this.cutUntil, Date.now() + ms)
    for (const socket of this.sockets) if (!socket.destroyed) socket.resetAndDestroy()
  }

  close() {
    this.cut(Number.POSITIVE_INFINITY)
    this.server.close()
  }
}

const proxies = new Map()
parentPort.on('message', async (message) => {
  if (message.cmd === 'add') {
    const proxy = new LinkProxy(message.port)
    proxies.set(message.id, proxy)
    parentPort.postMessage({ id: message.id, port: await proxy.listen() })
  } else if (message.cmd === 'cut') {
    proxies.get(message.id)?.cut(message.ms)
  } else if (message.cmd === 'close') {
    for (const proxy of proxies.values()) proxy.close()
    parentPort.close()
  }
})
