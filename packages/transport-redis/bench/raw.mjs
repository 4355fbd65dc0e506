// Raw ioredis figures against a given Redis URL: the ceiling the transport is measured against,
// and the numbers behind its design choices (Pub/Sub vs Streams vs lists, fan-out shapes).
// Every export resolves to a number (operations or messages per second) and prints nothing.
// Values are 100 bytes unless said otherwise. `node bench/run.mjs` prints them all.
import { Redis } from 'ioredis'

const VALUE = Buffer.alloc(100, 0x61)

/** A connection to `url` (redis://host:port), connected. */
async function open(url, autopipelining = false) {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    retryStrategy: () => null,
    enableAutoPipelining: autopipelining,
  })
  redis.on('error', () => {})
  await redis.connect()
  return redis
}

async function using(urls, body, autopipelining = false) {
  const clients = await Promise.all(urls.map((url) => open(url, autopipelining)))
  try {
    return await body(...clients)
  } finally {
    for (const c of clients) c.disconnect()
  }
}

const rate = (count, start) => count / ((performance.now() - start) / 1000)
const unique = (name) => `bench:${name}:${process.pid}:${Math.random().toString(36).slice(2)}`

/** SET with one command in flight at a time: round-trip bound. */
export function setOneInFlight(url, { count = 10_000 } = {}) {
  return using([url], async (redis) => {
    const key = unique('set1')
    const start = performance.now()
    for (let i = 0; i < count; i++) await redis.set(key, VALUE)
    await redis.del(key)
    return rate(count, start)
  })
}

/** SET with `inFlight` commands outstanding (ioredis writes them back to back: a pipeline). */
export function setPipelined(url, { count = 200_000, inFlight = 1000 } = {}) {
  return using([url], async (redis) => {
    const key = unique('setN')
    const start = performance.now()
    await window(count, inFlight, (i) => redis.set(`${key}:${i % 1000}`, VALUE))
    const rate_ = rate(count, start)
    await redis.del(...Array.from({ length: 1000 }, (_, i) => `${key}:${i}`))
    return rate_
  })
}

/**
 * PUBLISH with `inFlight` outstanding, to one SUBSCRIBEd connection: messages/s received.
 * `autopipelining` turns on ioredis' auto-pipelining (commands of one turn in one write).
 */
export function publishSubscribe(url, { count = 200_000, inFlight = 1000, autopipelining = false } = {}) {
  return using(
    [url, url],
    async (pub, sub) => {
      const channel = unique('ps')
      let received = 0
      const { all, done } = arrival(sub)
      sub.on('messageBuffer', () => {
        if (++received === count) done()
      })
      await sub.subscribe(channel)
      const start = performance.now()
      await window(count, inFlight, () => pub.publish(channel, VALUE))
      await all
      return rate(count, start)
    },
    autopipelining,
  )
}

/**
 * One message to `fanout` subscribers, two ways: `pattern` publishes once on a topic channel
 * that every subscriber matches with PSUBSCRIBE (Redis does the fan-out; no per-peer
 * authorization), `channels` publishes the same bytes once per subscriber's own channel (the
 * transport's hub-side fan-out). Deliveries/s over all subscribers. The subscribers share one
 * connection, and publishes in flight default to 1000/fanout so that a burst stays within
 * Redis' output buffer limit for it.
 */
export function fanout(
  url,
  { fanout: n = 10, count = 20_000, inFlight = Math.max(10, 1000 / n), mode = 'channels' } = {},
) {
  return using([url, url], async (pub, sub) => {
    const base = unique('fan')
    let received = 0
    const total = count * n
    const { all, done } = arrival(sub)
    const count1 = () => {
      if (++received === total) done()
    }
    sub.on('messageBuffer', count1)
    sub.on('pmessageBuffer', count1)
    const channels = Array.from({ length: n }, (_, i) => `${base}:peer${i}`)
    // Each subscription on the one connection stands for one peer.
    if (mode === 'pattern') for (let i = 0; i < n; i++) await sub.psubscribe(`${base}:t${'*'.repeat(i + 1)}`)
    else await sub.subscribe(...channels)
    const start = performance.now()
    if (mode === 'pattern') {
      await window(count, inFlight, () => pub.publish(`${base}:t/x`, VALUE))
    } else {
      await window(total, inFlight, (i) => pub.publish(channels[i % n], VALUE))
    }
    await all
    return rate(total, start)
  })
}

/** XADD (MAXLEN ~ 100 000) with `inFlight` outstanding, read by XREAD BLOCK in batches: entries/s read. */
export function streamRoundTrip(url, { count = 100_000, inFlight = 1000, batch = 1000 } = {}) {
  return using([url, url], async (writer, reader) => {
    const key = unique('stream')
    let read = 0
    let last = '0-0'
    const reading = (async () => {
      while (read < count) {
        const reply = await reader.xreadBuffer('COUNT', batch, 'BLOCK', 1000, 'STREAMS', key, last)
        if (reply === null) continue
        const entries = reply[0][1]
        read += entries.length
        last = entries[entries.length - 1][0].toString()
      }
    })()
    const start = performance.now()
    await window(count, inFlight, () => writer.xadd(key, 'MAXLEN', '~', 100_000, '*', 'v', VALUE))
    await reading
    const result = rate(count, start)
    await writer.del(key)
    return result
  })
}

/** LPUSH with `inFlight` outstanding, drained by BRPOP one at a time: items/s popped. */
export function listRoundTrip(url, { count = 50_000, inFlight = 1000 } = {}) {
  return using([url, url], async (writer, reader) => {
    const key = unique('list')
    let popped = 0
    const popping = (async () => {
      while (popped < count) {
        const item = await reader.brpopBuffer(key, 1)
        if (item !== null) popped++
      }
    })()
    const start = performance.now()
    await window(count, inFlight, () => writer.lpush(key, VALUE))
    await popping
    return rate(count, start)
  })
}

/** A promise `done()` resolves; it rejects if Redis drops the subscriber (output buffer limit). */
function arrival(sub) {
  let done
  const all = new Promise((resolve, reject) => {
    done = resolve
    sub.once('close', () => reject(new Error('Redis dropped the subscriber (client-output-buffer-limit)')))
  })
  return { all, done }
}

/** Runs `op(i)` for i < count with at most `inFlight` outstanding. */
async function window(count, inFlight, op) {
  let next = 0
  const lanes = Array.from({ length: Math.min(inFlight, count) }, async () => {
    while (next < count) await op(next++)
  })
  await Promise.all(lanes)
}
