// Runs the raw ioredis figures and the transport's, against a redis-server of its own
// (on a free loopback port, no persistence), and prints a table. Needs `redis-server` on PATH
// and the package built (`npm run build -w @concord/transport-redis`; turbo's bench does it).
//   node bench/run.mjs [--quick] [--json <file>]
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import * as raw from './raw.mjs'
import * as transport from './transport.mjs'

const quick = process.argv.includes('--quick')
const jsonAt = process.argv.indexOf('--json')
const scale = quick ? 0.1 : 1
const n = (count) => Math.max(100, Math.round(count * scale))

const port = await new Promise((resolve, reject) => {
  const server = createServer()
  server.once('error', reject)
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address()
    server.close(() => resolve(port))
  })
})
const child = spawn(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  {
    stdio: 'ignore',
  },
)
process.once('exit', () => child.kill('SIGTERM'))
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    child.kill('SIGTERM')
    process.exit(1)
  })
}
child.once('error', (error) => {
  console.error(`cannot start redis-server (${error.message}): install it, e.g. apt-get install redis-server`)
  process.exit(1)
})
const url = `redis://127.0.0.1:${port}`
for (let i = 0; ; i++) {
  try {
    await raw.setOneInFlight(url, { count: 1 })
    break
  } catch (error) {
    if (i > 200) throw error
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const results = []
async function measure(name, unit, run) {
  const value = await run()
  results.push({ name, value, unit })
  console.log(`${name.padEnd(64)} ${Math.round(value).toLocaleString('en-US').padStart(12)} ${unit}`)
}

try {
  console.log(`redis-server ${url}, node ${process.version}${quick ? ' (quick)' : ''}`)
  console.log('-- raw ioredis, 100-byte values')
  await measure('SET, 1 in flight', 'ops/s', () => raw.setOneInFlight(url, { count: n(20_000) }))
  await measure('SET, 1000 in flight', 'ops/s', () => raw.setPipelined(url, { count: n(200_000) }))
  await measure('PUBLISH -> SUBSCRIBE, 1000 in flight', 'msgs/s', () =>
    raw.publishSubscribe(url, { count: n(200_000) }),
  )
  await measure('PUBLISH -> SUBSCRIBE, 1000 in flight, ioredis auto-pipelining', 'msgs/s', () =>
    raw.publishSubscribe(url, { count: n(200_000), autopipelining: true }),
  )
  await measure('XADD -> XREAD BLOCK (batches of 1000), 1000 in flight', 'msgs/s', () =>
    raw.streamRoundTrip(url, { count: n(100_000) }),
  )
  await measure('LPUSH -> BRPOP, 1000 in flight', 'msgs/s', () =>
    raw.listRoundTrip(url, { count: n(50_000) }),
  )
  for (const fanout of [10, 100]) {
    await measure(`fan-out to ${fanout}: 1 PUBLISH, ${fanout} PSUBSCRIBE patterns`, 'deliveries/s', () =>
      raw.fanout(url, { fanout, count: n(200_000 / fanout), mode: 'pattern' }),
    )
    await measure(`fan-out to ${fanout}: ${fanout} PUBLISH to own channels`, 'deliveries/s', () =>
      raw.fanout(url, { fanout, count: n(200_000 / fanout), mode: 'channels' }),
    )
  }
  console.log('-- the transport (port level), 100-byte frames')
  await measure('node -> hub frames', 'frames/s', () => transport.nodeToHub(url, { count: n(100_000) }))
  await measure('hub -> node frames (unicast)', 'frames/s', () =>
    transport.hubToNode(url, { count: n(100_000) }),
  )
  for (const fanout of [10, 100]) {
    await measure(`broadcast to ${fanout} nodes`, 'deliveries/s', () =>
      transport.broadcast(url, { fanout, count: n(200_000 / fanout) }),
    )
  }
  console.log('-- core over the transport: puts applied at the writer and 2 more clones')
  for (const inFlight of [1, 1000]) {
    await measure(`puts/s, ${inFlight} in flight, redis`, 'puts/s', () =>
      transport.puts(url, { inFlight, count: n(inFlight === 1 ? 5_000 : 50_000) }),
    )
    await measure(`puts/s, ${inFlight} in flight, memory transport (baseline)`, 'puts/s', () =>
      transport.puts(url, { inFlight, count: n(inFlight === 1 ? 5_000 : 50_000), transport: 'memory' }),
    )
  }
  if (jsonAt > 0) {
    const file = process.argv[jsonAt + 1]
    writeFileSync(
      file,
      `${JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, results }, null, 2)}\n`,
    )
  }
} finally {
  child.kill('SIGTERM')
}
