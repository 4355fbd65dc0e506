// Concord across processes, side by side with the raw drivers and a peer system, all
// measured in this run (issue: the embedded default). Run: npm run bench (or node bench/cluster.mjs [--quick]).
// Prints a table with ratios and writes bench/results/cluster.json.
import { execFileSync, fork, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fsyncMicros, putCommitter } from '../packages/persist-sqlite/bench/raw.mjs'
import { publishSubscribe, setOneInFlight, setPipelined } from '../packages/transport-redis/bench/raw.mjs'
import {
  dealerRouterRoundTrips,
  fanOutRoundTrips,
  pubSubThroughput,
} from '../packages/transport-zmq/bench/raw.mjs'
import { transportFanOutRoundTrips } from '../packages/transport-zmq/bench/transport-fanout.mjs'

const quick = process.argv.includes('--quick')
const scale = quick ? 0.1 : 1
const ROLES = new URL('./roles.mjs', import.meta.url)
const results = []
const procs = new Set()
const dirs = []

function row(name, value, unit, compare) {
  const entry = { name, value, unit, ...compare }
  results.push(entry)
  const ratio =
    compare?.baseline === undefined ? '' : `${(value / compare.baseline).toFixed(2)}x ${compare.against}`
  const goal = compare?.goal === undefined ? '' : `goal ${compare.goal}`
  const shown = value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2)
  console.log(`${name.padEnd(62)} ${shown.padStart(12)} ${unit.padEnd(9)} ${ratio.padEnd(30)} ${goal}`)
}

function dir() {
  const d = mkdtempSync(join(tmpdir(), 'concord-bench-'))
  dirs.push(d)
  return d
}

/** A child process and a queue of its messages. */
function proc(role, options) {
  const child = fork(ROLES, [role, JSON.stringify(options)], {
    execArgv: ['--expose-gc', '--max-old-space-size=4096'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const inbox = []
  const waiters = []
  child.on('message', (m) => {
    const i = waiters.findIndex((w) => w.cmd === m.cmd)
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m)
    else inbox.push(m)
  })
  const p = {
    child,
    next(cmd) {
      const i = inbox.findIndex((m) => m.cmd === cmd)
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0])
      return new Promise((resolve, reject) => {
        waiters.push({ cmd, resolve })
        child.once('exit', (code) => reject(new Error(`${role} exited (${code}) before ${cmd}`)))
      })
    },
    ask(message, answer = message.cmd) {
      child.send(message)
      return p.next(answer)
    },
    kill(signal = 'SIGKILL') {
      child.kill(signal)
      procs.delete(p)
    },
  }
  procs.add(p)
  return p
}

async function hub(options) {
  const h = proc('hub', {
    listen: 'tcp://127.0.0.1:0',
    durability: 'sync',
    persistence: 'sqlite',
    ...options,
  })
  const ready = await h.next('ready')
  return { ...h, address: ready.address, ready }
}

async function node(address, transport = 'zmq', handle = 'clone') {
  const n = proc('node', { hub: address, transport, handle })
  return { ...n, ready: await n.next('ready') }
}

/** puts/s applied at every one of three clones, from one writer with `inFlight` puts outstanding. */
async function putsPerSecond({
  persistence = 'sqlite',
  durability,
  inFlight,
  total,
  keys = 100_000,
  random = false,
  transport = 'zmq',
  listen,
  onClone,
  writerHolds = 'writer',
}) {
  const h = await hub({
    path: dir(),
    persistence,
    durability,
    transport,
    ...(listen === undefined ? {} : { listen }),
  })
  // The writer writes through node.writer (acknowledged by the master, no replica); with
  // writerHolds 'clone' it holds a fourth clone and its puts resolve on the broadcast.
  const writer = await node(h.address, transport, writerHolds)
  const clones = await Promise.all([1, 2, 3].map(() => node(h.address, transport)))
  // Warm up, then measure from the first write to the last clone applying the last one.
  await writer.ask({ cmd: 'write', total: Math.min(total, 2000), inFlight, keys }, 'wrote')
  const { seq: base } = await h.ask({ cmd: 'seq' })
  const start = performance.now()
  const reached = clones.map((c) => c.ask({ cmd: 'wait', seq: base + total }, 'reached'))
  await writer.ask({ cmd: 'write', total, inFlight, keys, offset: 7, random }, 'wrote')
  await Promise.all(reached)
  const rate = total / ((performance.now() - start) / 1000)
  if (onClone !== undefined) await onClone(clones[0])
  for (const p of [writer, ...clones, h]) p.kill()
  return rate
}

async function natsKv() {
  let server
  try {
    execFileSync('nats-server', ['--version'], { stdio: 'ignore' })
  } catch {
    return undefined
  }
  const { connect, StringCodec } = await import('nats')
  const port = await freePort()
  const store = dir()
  server = spawn('nats-server', ['-js', '-p', String(port), '-a', '127.0.0.1', '-sd', store], {
    stdio: 'ignore',
  })
  try {
    let nc
    for (let i = 0; i < 100 && nc === undefined; i++) {
      nc = await connect({ servers: `127.0.0.1:${port}` }).catch(() => undefined)
      if (nc === undefined) await new Promise((r) => setTimeout(r, 50))
    }
    const kv = await nc.jetstream().views.kv('bench', { history: 1 })
    const sc = StringCodec()
    const run = async (inFlight, total) => {
      let next = 0
      const start = performance.now()
      const worker = async () => {
        while (next < total) {
          const i = next++
          await kv.put(`key.${i % 100_000}`, sc.encode('x'.repeat(100)))
        }
      }
      await Promise.all(Array.from({ length: inFlight }, worker))
      return total / ((performance.now() - start) / 1000)
    }
    await run(100, 2000)
    const one = await run(1, Math.round(5000 * scale))
    const many = await run(1000, Math.round(100_000 * scale))
    await nc.close()
    return { one, many }
  } finally {
    server.kill()
  }
}

/** Concord over Redis against raw ioredis, both against one redis-server started here. */
async function redisSection() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
  } catch {
    console.log('Redis: redis-server not installed (apt-get install redis-server), not measured')
    return
  }
  const port = await freePort()
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  )
  try {
    const url = `redis://127.0.0.1:${port}`
    for (let i = 0; i < 100; i++) {
      try {
        await setOneInFlight(url, { count: 1 })
        break
      } catch {
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    const rawOne = await setOneInFlight(url, { count: Math.round(10_000 * scale) })
    const rawMany = await setPipelined(url, { count: Math.round(200_000 * scale) })
    const rawPubSub = await publishSubscribe(url, { count: Math.round(200_000 * scale) })
    row('raw ioredis SET/s, 1 in flight', rawOne, '/s')
    row('raw ioredis SET/s, 1000 in flight (pipelined)', rawMany, '/s')
    row('raw ioredis PUBLISH->SUBSCRIBE msgs/s, 1000 in flight', rawPubSub, '/s')
    const many = await putsPerSecond({
      transport: 'redis',
      listen: `${url}/bench-hub-many`,
      durability: 'sync',
      inFlight: 1000,
      total: Math.round(100_000 * scale),
    })
    row('concord redis x sqlite sync: puts/s at 3 clones, 1000 in flight', many, '/s', {
      baseline: rawMany,
      against: 'raw ioredis pipelined SET',
      goal: '>= 0.3x',
    })
    const one = await putsPerSecond({
      transport: 'redis',
      listen: `${url}/bench-hub-one`,
      durability: 'relaxed',
      inFlight: 1,
      total: Math.round(3_000 * scale),
    })
    row('concord redis x sqlite relaxed: puts/s at 3 clones, 1 in flight', one, '/s', {
      baseline: rawOne,
      against: 'raw ioredis SET 1 in flight',
    })
  } finally {
    server.kill()
  }
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function main() {
  console.log(
    `Concord across processes, ZeroMQ + SQLite/LMDB, Node ${process.version}${quick ? ' (quick)' : ''}`,
  )
  console.log(
    '1 writer (a write-only handle) and 3 clone processes, 100-byte values; raw drivers measured in this same run\n',
  )

  const rtt1 = await dealerRouterRoundTrips({ inFlight: 1, total: Math.round(20_000 * scale) })
  const rtt1000 = await dealerRouterRoundTrips({ inFlight: 1000, total: Math.round(200_000 * scale) })
  const pubsub = await pubSubThroughput({ total: Math.round(1_000_000 * scale) })
  const fanOut = await fanOutRoundTrips({ listeners: 3, total: Math.round(10_000 * scale) })
  const transportFanOut = await transportFanOutRoundTrips({ listeners: 3, total: Math.round(10_000 * scale) })
  const fsync = fsyncMicros({ dir: dir(), samples: 200 })
  row('raw zeromq DEALER->ROUTER round trips/s, 1 in flight', rtt1, '/s')
  row('raw zeromq DEALER->ROUTER round trips/s, 1000 in flight', rtt1000, '/s')
  row('raw zeromq PUB->SUB msgs/s, lossless', pubsub, '/s')
  row('raw zeromq fan-out: echo + 3 listener copies, 1 in flight', fanOut, '/s')
  row('the same through the Concord ZeroMQ transport alone (no core, no storage)', transportFanOut, '/s', {
    baseline: fanOut,
    against: 'raw zmq fan-out',
  })
  row('fsync of a small file (median)', fsync, 'µs')
  // The sync goal's limit: one round trip between two processes, plus one fsync.
  const limit = 1 / (1 / rtt1 + fsync / 1e6)
  // The ceilings of this design for one put in flight: its message pattern in raw zeromq (the
  // hub's ROUTER answers the writer and sends each clone its copy), the hub committing each
  // request to SQLite first, as a put needs, and no framework at all.
  const storingFanOut = async (synchronous, total) => {
    const committer = putCommitter({ dir: dir(), synchronous })
    try {
      // As warm as the stores Concord is measured on (they take 2 000 puts first).
      for (let i = 0; i < 2_000; i++) committer.commit()
      return await fanOutRoundTrips({ listeners: 3, total, beforeReply: committer.commit })
    } finally {
      committer.close()
    }
  }
  const relaxedCeiling = await storingFanOut('NORMAL', Math.round(10_000 * scale))
  const syncCeiling = await storingFanOut('FULL', Math.round(3_000 * scale))
  row('raw zmq fan-out, the hub committing each to SQLite NORMAL', relaxedCeiling, '/s', {
    baseline: rtt1,
    against: 'raw zmq round trip',
  })
  row('raw zmq fan-out, the hub committing each to SQLite FULL', syncCeiling, '/s', {
    baseline: limit,
    against: 'limit 1 RTT + 1 fsync',
  })
  const nats = await natsKv()
  if (nats === undefined)
    console.log(
      'NATS JetStream KV: nats-server not installed (apt-get install nats-server), peer not measured',
    )
  else {
    row('peer: NATS JetStream KV put/s, 1 in flight', nats.one, '/s')
    row('peer: NATS JetStream KV put/s, 1000 in flight', nats.many, '/s')
  }

  const many = Math.round(300_000 * scale)
  const few = Math.round(5_000 * scale)
  let smallGets
  const pipelined = await putsPerSecond({
    durability: 'sync',
    inFlight: 1000,
    total: many,
    onClone: async (clone) => {
      smallGets = await clone.ask({ cmd: 'gets', count: Math.round(20_000_000 * scale) })
    },
  })
  row('concord sqlite sync: puts/s at 3 clones, 1000 in flight', pipelined, '/s', {
    baseline: nats?.many,
    against: 'NATS KV 1000 in flight',
    goal: '>= 100k/s and >= 3x NATS',
  })
  row('clone get/s, random keys, 100,000 entries', smallGets.clone, '/s', {
    baseline: smallGets.map,
    against: 'Map.get',
    goal: '>= 10M/s',
  })
  const pipelinedFourth = await putsPerSecond({
    durability: 'sync',
    inFlight: 1000,
    total: many,
    writerHolds: 'clone',
  })
  row('  ... the writer holding a clone too (4 replicas)', pipelinedFourth, '/s', {
    baseline: pipelined,
    against: 'write-only writer',
  })
  const pipelinedLmdb = await putsPerSecond({
    persistence: 'lmdb',
    durability: 'sync',
    inFlight: 1000,
    total: many,
  })
  row('concord lmdb sync: puts/s at 3 clones, 1000 in flight', pipelinedLmdb, '/s', {
    baseline: pipelined,
    against: 'sqlite sync',
  })
  for (const persistence of ['sqlite', 'lmdb']) {
    const random = await putsPerSecond({
      persistence,
      durability: 'sync',
      inFlight: 1000,
      total: many,
      random: true,
    })
    row(`concord ${persistence} sync: puts/s at 3 clones, 1000 in flight, random keys`, random, '/s', {
      baseline: persistence === 'sqlite' ? pipelined : pipelinedLmdb,
      against: 'keys in order',
    })
  }
  const relaxedOne = await putsPerSecond({ durability: 'relaxed', inFlight: 1, total: few })
  row('concord sqlite relaxed: puts/s at 3 clones, 1 in flight', relaxedOne, '/s', {
    baseline: rtt1,
    against: 'raw zmq round trip',
    goal: '>= 0.5x',
  })
  row('  ... through the transport alone, same pattern', relaxedOne, '/s', {
    baseline: transportFanOut,
    against: 'transport fan-out 1 + 3',
  })
  row('  ... against raw zmq fan-out 1 + 3 + NORMAL commit', relaxedOne, '/s', {
    baseline: relaxedCeiling,
    against: 'relaxed ceiling',
  })
  const syncOne = await putsPerSecond({ durability: 'sync', inFlight: 1, total: few })
  row('concord sqlite sync: puts/s at 3 clones, 1 in flight', syncOne, '/s', {
    baseline: limit,
    against: 'limit 1 RTT + 1 fsync',
    goal: '>= 0.8x',
  })
  // The goal's limit is a round trip between two processes; a put also reaches 3 clones.
  row('  ... against raw zmq fan-out 1 + 3 + FULL commit', syncOne, '/s', {
    baseline: syncCeiling,
    against: 'sync ceiling',
  })

  // A 1M-entry store: a new clone's snapshot, its memory, its gets; then the hub killed and recovered.
  const ENTRIES = Math.round(1_000_000 * scale)
  for (const persistence of ['sqlite', 'lmdb']) {
    const path = dir()
    // Every entry carries a deadline (the store expires them after an hour), so recovery
    // rebuilds the expiry heap of all of them.
    let h = await hub({ path, persistence, durability: 'relaxed', expiry: '1h' })
    const loader = await node(h.address, 'zmq', 'writer')
    await loader.ask({ cmd: 'write', total: ENTRIES, inFlight: 1000, keys: ENTRIES }, 'wrote')
    loader.kill()
    if (persistence === 'sqlite') {
      const clone = await node(h.address)
      row(
        `snapshot of ${ENTRIES.toLocaleString('en-US')} entries to a new clone`,
        clone.ready.openMs / 1000,
        's',
        {
          goal: '< 3 s',
        },
      )
      const map = proc('map', { entries: ENTRIES })
      const { bytes } = await map.next('rss')
      row('clone RSS growth with the store, per entry', clone.ready.rss / ENTRIES, 'B', {
        baseline: bytes / ENTRIES,
        against: 'plain Map of the same values',
        goal: '<= 1.5x',
      })
      const gets = await clone.ask({ cmd: 'gets', count: Math.round(20_000_000 * scale) })
      row(`clone get/s, random keys, ${ENTRIES.toLocaleString('en-US')} entries`, gets.clone, '/s', {
        baseline: gets.map,
        against: 'Map.get',
        goal: '>= 10M/s',
      })
      clone.kill()
    }
    h.kill('SIGKILL')
    await once(h.child, 'exit')
    const spawned = performance.now()
    h = await hub({ path, persistence, durability: 'sync', expiry: '1h' })
    const total = performance.now() - spawned
    row(
      `hub recovery after kill -9, ${ENTRIES.toLocaleString('en-US')} entries, ${persistence}`,
      h.ready.startMs / 1000,
      's',
      {
        goal: '< 2 s',
      },
    )
    row(`  ... including process start, ${persistence}`, total / 1000, 's')
    h.kill()
  }

  await redisSection()

  const out = new URL('./results/', import.meta.url)
  mkdirSync(out, { recursive: true })
  writeFileSync(
    new URL('cluster.json', out),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, results }, null, 2)}\n`,
  )
}

try {
  await main()
} finally {
  for (const p of procs) p.kill()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}
