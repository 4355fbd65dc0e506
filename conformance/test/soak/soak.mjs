// The chaos soak: a hub and 2-4 node processes over a real transport and persistence, a
// seeded random workload (ops.mjs) with 1-500 writes in flight per node, and a chaos driver
// that kills the hub (SIGKILL) and restarts it on the same folder, stops a clone (SIGSTOP)
// until its link overflows, kills and restarts nodes, cuts one node's links (each node
// reaches the hub or redis-server through its own proxy here), and restarts redis-server.
// From 3 nodes the last one writes through write-only handles (node.writer). Every writer
// publishes numbered events, which the viewer subscribes to (checkEvents). Between
// phases it quiesces and checks the invariants of check.mjs, that every clone equals the
// master (seqs included), that no process crashed or had an unhandled rejection, and that
// no process's memory grows without bound. Runs the built packages (`npm run build` first).
//
//   node conformance/test/soak/soak.mjs --combo zmq-sqlite --seed 42 --minutes 10
//   node conformance/test/soak/soak.mjs --combo redis-sqlite --seed 7 --phases 3
//
// `--brief` leaves out the stops past the nodes' write timeout (30-40 s), for short runs.
// `--expiry-share P` and `--large-share P` change the workload's mix (ops.mjs).
// Combos: zmq-sqlite, zmq-lmdb, redis-sqlite. Exit code 0 when every invariant held; 1 with
// the violations, the seed and the command that replays the run otherwise (timings differ
// between runs, the workload and the chaos schedule do not).
import { fork, spawn } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { seededRandom } from '@concord/core/testing'
import {
  addCounters,
  countersText,
  diffClone,
  hubMetricsViolations,
  Ledger,
  Model,
  nodeMetricsViolations,
} from './check.mjs'
import { configureOps, STORE_NAMES } from './ops.mjs'

const ROLE = new URL('./role.mjs', import.meta.url).pathname

const USAGE = `usage: node conformance/test/soak/soak.mjs [options]   (npm run soak -- [options]; build first)
  --combo C            zmq-sqlite (default), zmq-lmdb, redis-sqlite, redis-lmdb
  --seed N             the workload's and the chaos schedule's seed (default: random, printed)
  --minutes M          run phases until M minutes passed (default: 3 phases)
  --phases N           run N phases
  --phase-seconds S    each phase's length
  --nodes N            node processes, 2-4 (default: drawn)
  --write-only N       how many of the writers take write-only handles (default: 1 from 3 nodes)
  --chaos K,K          every phase does exactly these: hubKill, hubStop, hubFlap, cloneStop,
                       nodeKill, linkFlap, and over Redis redisRestart, redisStop; 'none' for none
  --expiry-share P     share of writes with an expiry (ops.mjs)
  --large-share P      share of large values (ops.mjs)
  --brief              leave out the stops past the nodes' write timeout (30-40 s)
  --keep               keep the run's folder (data and logs)
  --quiet              print only the result
Exit code 0 when every invariant held; 1 with the violations and the command that replays the run.`

const parsed = (() => {
  try {
    return parseArgs({
      options: {
        combo: { type: 'string', default: 'zmq-sqlite' },
        seed: { type: 'string' },
        minutes: { type: 'string' },
        phases: { type: 'string' },
        nodes: { type: 'string' },
        'write-only': { type: 'string' },
        'expiry-share': { type: 'string' },
        'large-share': { type: 'string' },
        'phase-seconds': { type: 'string' },
        chaos: { type: 'string' },
        keep: { type: 'boolean', default: false },
        brief: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (error) {
    console.error(`${error.message}\n\n${USAGE}`)
    process.exit(2)
  }
})()
/** A usage error: the message and the usage, exit code 2. */
const usageError = (message) => {
  console.error(`${message}\n\n${USAGE}`)
  process.exit(2)
}
if (parsed.values.help) {
  console.log(USAGE)
  process.exit(0)
}
const args = parsed.values
const seed = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(args.seed)
const combo = args.combo
const [transportName, persistenceName] = combo.split('-')
if (!['zmq', 'redis'].includes(transportName) || !['sqlite', 'lmdb'].includes(persistenceName)) {
  usageError(`unknown combo '${combo}'`)
}
const random = seededRandom(seed)
/** The workload's mix (ops.mjs), given to every node process too. */
const ops = {
  expiryShare: args['expiry-share'] === undefined ? undefined : Number(args['expiry-share']),
  largeShare: args['large-share'] === undefined ? undefined : Number(args['large-share']),
}
configureOps(ops)
const minutes = args.minutes === undefined ? undefined : Number(args.minutes)
const maxPhases =
  args.phases === undefined ? (minutes === undefined ? 3 : Number.POSITIVE_INFINITY) : Number(args.phases)
const deadline = minutes === undefined ? Number.POSITIVE_INFINITY : Date.now() + minutes * 60_000
const nodeCount = args.nodes === undefined ? 2 + random.int(3) : Number(args.nodes)
/** The last `writeOnlyCount` writers take write-only handles (node.writer) instead of clones. */
const writeOnlyCount =
  args['write-only'] === undefined
    ? nodeCount >= 3
      ? 1
      : 0
    : Math.min(nodeCount, Number(args['write-only']))
const phaseSeconds = args['phase-seconds'] === undefined ? undefined : Number(args['phase-seconds'])
/**
 * `--chaos hubKill,cloneStop`: every phase does exactly these (at random times), instead of 1-3
 * drawn; `--chaos none`: no chaos at all (what a quiet cluster shows, e.g. of its counters).
 */
const forcedChaos = args.chaos === 'none' ? [] : args.chaos?.split(',')
/** Each chaos kind and how often a phase draws it (redis-server's own only over Redis). */
const CHAOS_WEIGHTS = {
  hubKill: 30,
  hubStop: 10,
  hubFlap: 8,
  cloneStop: 25,
  nodeKill: 20,
  linkFlap: 20,
  redisRestart: 12,
  redisStop: 10,
}
const chaosKinds = Object.keys(CHAOS_WEIGHTS).filter(
  (kind) => transportName === 'redis' || !kind.startsWith('redis'),
)
for (const kind of forcedChaos ?? []) {
  if (!chaosKinds.includes(kind)) usageError(`unknown chaos '${kind}' for ${combo}`)
}
// Small link queues in some runs, so a stopped clone overflows its link quickly (S6.5).
const queue = random.pick([64, 256, 10_000])
const replay = `node conformance/test/soak/soak.mjs ${process.argv
  .slice(2)
  .filter((a, i, all) => a !== '--seed' && all[i - 1] !== '--seed')
  .join(' ')} --seed ${seed}`

const dir = mkdtempSync(join(tmpdir(), `concord-soak-${combo}-`))
const logs = join(dir, 'logs')
mkdirSync(logs)
const started = Date.now()
const say = (text) => {
  if (!args.quiet) console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`)
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Findings that end the run: crashes, unhandled rejections, invariant violations. */
const fatal = []

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** A child process of the soak: its messages, and whether its exit was ours. */
class Proc {
  constructor(name, role, options) {
    this.name = name
    this.messages = []
    this.waiters = new Set()
    this.expectExit = false
    this.exited = false
    this.stopped = false
    this.child = fork(ROLE, [role, JSON.stringify(options)], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, NODE_OPTIONS: '' },
    })
    const log = createWriteStream(join(logs, `${name}.log`), { flags: 'a' })
    this.child.stdout.pipe(log)
    this.child.stderr.pipe(log)
    this.child.on('message', (message) => this.#message(message))
    // Sending to a process that just died: the exit handler reports what matters.
    this.child.on('error', () => {})
    this.exitedPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = true
        if (!this.expectExit) fatal.push(`${this.name} exited unexpectedly (code ${code}, signal ${signal})`)
        for (const waiter of this.waiters) waiter.reject(new Error(`${this.name} exited`))
        resolve()
      })
    })
  }

  #message(message) {
    if (message.cmd === 'fatal') fatal.push(`${this.name}: ${message.event}: ${message.message}`)
    // Its transport is down (redis-server restarting): it exits, and is started again.
    if (message.cmd === 'unavailable') this.expectExit = true
    this.onMessage?.(message)
    for (const waiter of this.waiters) {
      if (waiter.cmd === message.cmd) {
        this.waiters.delete(waiter)
        waiter.resolve(message)
      }
    }
  }

  next(cmd, timeout = 60_000) {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`${this.name} exited`))
      const waiter = {
        cmd,
        resolve: (m) => {
          clearTimeout(timer)
          resolve(m)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      }
      const timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(new Error(`${this.name}: no '${cmd}' within ${timeout} ms`))
      }, timeout)
      this.waiters.add(waiter)
    })
  }

  ask(message, answer = message.cmd, timeout) {
    const reply = this.next(answer, timeout)
    this.send(message)
    return reply
  }

  send(message) {
    if (!this.exited && this.child.connected) this.child.send(message)
  }

  signal(name) {
    if (this.exited) return
    if (name === 'SIGKILL') this.expectExit = true
    if (name === 'SIGSTOP') this.stopped = true
    if (name === 'SIGCONT') this.stopped = false
    this.child.kill(name)
  }

  async kill() {
    this.signal('SIGKILL')
    await this.exitedPromise
  }
}

// ---- redis-server ---------------------------------------------------------------------------

let redis
async function startRedis(port) {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  const server = { port, child, expectExit: false }
  child.on('exit', (code, signal) => {
    if (!server.expectExit) fatal.push(`redis-server exited unexpectedly (code ${code}, signal ${signal})`)
  })
  for (let i = 0; ; i++) {
    const pong = await new Promise((resolve) => {
      const socket = createConnection(port, '127.0.0.1')
      socket.on('error', () => resolve(false))
      socket.on('data', (data) => {
        socket.destroy()
        resolve(data.toString().startsWith('+PONG'))
      })
      socket.on('connect', () => socket.write('PING\r\n'))
    })
    if (pong) return server
    if (i > 200) throw new Error('redis-server did not start')
    await sleep(25)
  }
}
async function stopRedis(server) {
  server.expectExit = true
  const exited = new Promise((resolve) => server.child.on('exit', resolve))
  server.child.kill('SIGKILL')
  await exited
}

// ---- links ---------------------------------------------------------------------------------

/**
 * Each node process reaches the hub (ZeroMQ) or redis-server (Redis) through its own TCP
 * proxy, so the chaos can cut one node's links while every process runs on: a link flap.
 * While cut, the proxy resets every connection it carries and each new one at once. The
 * proxies run in a worker thread (proxy.mjs): the checks between phases hold the driver's own
 * loop for seconds, which must not stop every link.
 */
class LinkProxies {
  constructor() {
    this.worker = new Worker(new URL('./proxy.mjs', import.meta.url))
    this.worker.unref()
    this.waiting = new Map()
    this.next = 0
    this.worker.on('message', ({ id, port }) => {
      this.waiting.get(id)?.(port)
      this.waiting.delete(id)
    })
    this.worker.on('error', (error) => fatal.push(`the link proxies: ${error?.stack ?? error}`))
  }

  /** A new proxy in front of `port`: its id and the port it listens on. */
  add(port) {
    const id = ++this.next
    return new Promise((resolve) => {
      this.waiting.set(id, (listening) => resolve({ id, port: listening }))
      this.worker.postMessage({ cmd: 'add', id, port })
    })
  }

  /** Resets every connection of proxy `id` and refuses new ones for `ms`. */
  cut(id, ms) {
    this.worker.postMessage({ cmd: 'cut', id, ms })
  }

  close() {
    this.worker.postMessage({ cmd: 'close' })
  }
}

// ---- the cluster ----------------------------------------------------------------------------

const address =
  transportName === 'redis'
    ? `redis://127.0.0.1:${await freePort()}/soak`
    : `tcp://127.0.0.1:${await freePort()}`
if (transportName === 'redis') redis = await startRedis(Number(/:(\d+)\//.exec(address)[1]))
const heartbeat = random.pick([100, 250, 1000])
const proxies = new LinkProxies()
/** A node's address: its own proxy's in front of the hub's (ZeroMQ) or redis-server's (Redis) port. */
async function nodeAddress(w) {
  if (w.proxy === undefined) {
    w.proxy = await proxies.add(Number(/:(\d+)(\/|$)/.exec(address)[1]))
    w.address = address.replace(/:(\d+)(\/|$)/, `:${w.proxy.port}$2`)
  }
  return w.address
}
const common = { transport: transportName, queue, ops }
let hub
let hubs = 0
const hubSamples = []

/**
 * Starts a process with `start` until it is ready: one that exits saying its transport is
 * unavailable (redis-server restarting) is started again, as a supervisor would.
 */
async function launch(start) {
  for (let attempt = 1; ; attempt++) {
    const proc = start()
    try {
      await proc.next('ready', 120_000)
      return proc
    } catch (error) {
      if (!proc.expectExit || attempt >= 300) throw error
      await proc.exitedPromise
      await sleep(100)
    }
  }
}

function hubProc() {
  return new Proc(`hub${++hubs}`, 'hub', {
    ...common,
    persistence: persistenceName,
    listen: address,
    path: join(dir, 'data'),
    heartbeat,
  })
}

async function startHub() {
  const proc = await launch(hubProc)
  hub = proc
  hub.samples = []
  hubSamples.push(hub.samples)
}

const writers = []
/** The writers and the viewer: every node process. */
const clones = []
const ledgers = []
/** Writes each incarnation may issue past the last one it reported. */
const headroom = (w) => w.inFlight * 2 + 200

async function startWriter(w) {
  w.inc++
  // The viewer gets no ledger and no grant: it never writes.
  const ledger = w.views === undefined ? new Ledger(seed, w.id, w.inc) : undefined
  if (ledger !== undefined) {
    ledgers.push(ledger)
    w.ledger = ledger
    ledger.granted = headroom(w)
  }
  const samples = []
  w.samples.push(samples)
  const hubAddress = await nodeAddress(w)
  const onMessage = (message) => {
    if (message.cmd !== 'outcomes' || ledger === undefined) return
    for (const result of message.list) ledger.record(result)
    ledger.next = message.next
    // Grants are what bound the writes a killed node may have issued: the driver knows them.
    if (!w.quiescing && ledger.granted - message.next < headroom(w) / 2) {
      ledger.granted = message.next + headroom(w)
      w.proc.send({ cmd: 'grant', upTo: ledger.granted, inFlight: w.inFlight })
    }
  }
  // Until it is ready it writes nothing (no grant yet): a start that failed leaves nothing to account for.
  const proc = await launch(() => {
    w.proc = new Proc(`node${w.id}.${w.inc}`, 'node', {
      ...common,
      hub: hubAddress,
      writer: w.id,
      inc: w.inc,
      seed,
      inFlight: w.inFlight,
      views: w.views,
      writeOnly: w.writeOnly,
    })
    w.proc.samples = samples
    w.proc.onMessage = onMessage
    return w.proc
  })
  if (!w.quiescing && ledger !== undefined)
    proc.send({ cmd: 'grant', upTo: ledger.granted, inFlight: w.inFlight })
}

function setInFlight(w, n) {
  w.inFlight = n
  w.ledger.granted = Math.max(w.ledger.granted, w.ledger.next + headroom(w))
  w.proc.send({ cmd: 'grant', upTo: w.ledger.granted, inFlight: n })
}

// ---- chaos ----------------------------------------------------------------------------------

/** Actions on one target run one at a time. */
const locks = new Map()
function exclusive(target, action) {
  const previous = locks.get(target) ?? Promise.resolve()
  const next = previous.then(action, action)
  locks.set(target, next)
  return next
}
const counts = {}
/** Hub metrics summed over the hubs killed so far (asked just before each kill). */
const pastMetrics = {}
const METRICS = [
  'peerQueueOverflows',
  'skippedBroadcasts',
  'peerTimeouts',
  'resumes',
  'snapshots',
  'duplicateWrites',
]
function addMetrics(into, metrics) {
  for (const name of METRICS) into[name] = (into[name] ?? 0) + (metrics?.[name] ?? 0)
  return into
}
/** Every counter of `hub.metrics`, summed over the hubs killed so far, as `addCounters` keeps them. */
const pastHub = {}
/** Kills the hub (SIGKILL), keeping its metrics first (checked: what holds at any time). */
async function killHub() {
  const { metrics } = await hub.ask({ cmd: 'metrics' }, 'metrics', 5000).catch(() => ({}))
  addMetrics(pastMetrics, metrics)
  if (metrics !== undefined) fatal.push(...hubMetricsViolations(hub.name, metrics))
  addCounters(pastHub, metrics)
  await hub.kill()
}
/**
 * Before a node process is killed: its `node.metrics`, checked (what holds at any time) and
 * added to the node's counters over its earlier incarnations (`w.past`).
 */
async function keepNodeMetrics(w) {
  const { metrics } = await w.proc.ask({ cmd: 'metrics' }, 'metrics', 5000).catch(() => ({}))
  if (metrics === undefined) return
  fatal.push(...nodeMetricsViolations(w.proc.name, metrics, { viewer: w.views !== undefined }))
  w.past = addCounters(w.past ?? {}, metrics)
}
const chaos = {
  async hubKill(r) {
    await exclusive('hub', async () => {
      say(`chaos: kill -9 ${hub.name}`)
      await killHub()
      await sleep(r.int(2000))
      await startHub()
      say(`chaos: ${hub.name} up`)
    })
  },
  async hubFlap(r) {
    // Killed again while it recovers (or just after): recovery must survive its own crash.
    await exclusive('hub', async () => {
      say(`chaos: kill -9 ${hub.name}, restart, kill -9 again while it starts`)
      await killHub()
      const doomed = hubProc()
      await sleep(r.int(600))
      await doomed.kill()
      await startHub()
      say(`chaos: ${hub.name} up`)
    })
  },
  async hubStop(r) {
    await exclusive('hub', async () => {
      // Mostly short; now and then past the nodes' write timeout (30 s), so writes give up.
      const ms = r.chance(0.15) && !args.brief ? 30_000 + r.int(6000) : 500 + r.int(4000)
      say(`chaos: SIGSTOP ${hub.name} for ${ms} ms`)
      hub.signal('SIGSTOP')
      await sleep(ms)
      hub.signal('SIGCONT')
    })
  },
  async cloneStop(r) {
    const w = r.pick(clones)
    await exclusive(`w${w.id}`, async () => {
      const ms = r.chance(0.15) && !args.brief ? 30_000 + r.int(10_000) : 1000 + r.int(9000)
      say(`chaos: SIGSTOP ${w.proc.name} for ${ms} ms`)
      w.proc.signal('SIGSTOP')
      await sleep(ms)
      w.proc.signal('SIGCONT')
    })
  },
  async nodeKill(r) {
    const w = r.pick(clones)
    await exclusive(`w${w.id}`, async () => {
      say(`chaos: kill -9 ${w.proc.name}`)
      await keepNodeMetrics(w)
      if (w.ledger !== undefined) w.ledger.dead = true
      await w.proc.kill()
      await sleep(r.int(1000))
      await startWriter(w)
    })
  },
  async linkFlap(r) {
    // One node's links cut 1-4 times (reset, refused for up to 4 s), its process running on:
    // writes queue (S3.7), in-flight ones are resent on the next link to the same hub.
    const w = r.pick(clones)
    await exclusive(`w${w.id}`, async () => {
      const cuts = 1 + r.int(4)
      say(`chaos: ${cuts} link cut${cuts === 1 ? '' : 's'} of ${w.proc.name}`)
      for (let i = 0; i < cuts; i++) {
        const ms = r.chance(0.3) ? 0 : r.int(4000)
        proxies.cut(w.proxy.id, ms)
        await sleep(ms + r.int(2000))
      }
    })
  },
  async redisStop(r) {
    // A stalled Redis (a fork for a save, a slow disk): everything waits, nothing is lost.
    await exclusive('redis', async () => {
      const ms = 500 + r.int(8000)
      say(`chaos: SIGSTOP redis-server for ${ms} ms`)
      redis.child.kill('SIGSTOP')
      await sleep(ms)
      redis.child.kill('SIGCONT')
    })
  },
  async redisRestart(r) {
    await exclusive('redis', async () => {
      say('chaos: kill -9 redis-server')
      await stopRedis(redis)
      await sleep(r.int(2000))
      redis = await startRedis(redis.port)
    })
  },
}
const kinds = chaosKinds.map((kind) => [kind, CHAOS_WEIGHTS[kind]])
function pickKind(r) {
  const total = kinds.reduce((s, [, w]) => s + w, 0)
  let x = r.int(total)
  for (const [kind, weight] of kinds) {
    if (x < weight) return kind
    x -= weight
  }
  return kinds[0][0]
}

// ---- checks ---------------------------------------------------------------------------------

async function quiesce() {
  for (const w of writers) w.quiescing = true
  await Promise.all(
    writers.map(async (w) => {
      const { issued } = await w.proc.ask({ cmd: 'stop' }, 'stopped')
      w.ledger.issued = issued
    }),
  )
  // Every write issued gets an outcome within the write timeout (S3.7: never silence).
  const until = Date.now() + 90_000
  for (const w of writers) {
    while (w.ledger.outcomes < w.ledger.issued) {
      if (Date.now() > until) {
        const missing = []
        for (let n = 1; n <= w.ledger.issued && missing.length < 10; n++)
          if (w.ledger.fate(n).state === 'pending') missing.push(n)
        fatal.push(`${w.ledger.name}: writes ${missing.join(', ')}… have no outcome 90 s after quiescing`)
        return
      }
      await sleep(20)
    }
  }
}

async function dumpAll() {
  const master = await hub.ask({ cmd: 'dump' })
  const dumps = await Promise.all(clones.map((w) => w.proc.ask({ cmd: 'dump' })))
  return { master, dumps }
}

/** The nodes' dumps of the last `converge`, with their `node.metrics`. */
let lastDumps = []
async function converge() {
  const until = Date.now() + 90_000
  for (;;) {
    const { master, dumps } = await dumpAll()
    lastDumps = dumps
    for (const [i, c] of dumps.entries()) {
      for (const text of c.breaches) fatal.push(`${clones[i].proc.name}: ${text}`)
    }
    if (fatal.length > 0) return master
    // A write-only node has no replica to compare.
    const diffs = dumps.flatMap((c, i) =>
      clones[i].writeOnly ? [] : diffClone(clones[i].proc.name, c.stores, master.stores),
    )
    if (diffs.length === 0) return master
    if (Date.now() > until) {
      fatal.push(`clones did not converge to the master within 90 s:\n  ${diffs.join('\n  ')}`)
      return master
    }
    await sleep(200)
  }
}

/**
 * Events (S7.3, S7.6), quiesced and converged: each writer pauses its events and publishes one
 * more, which the hub must acknowledge and the viewer's subscription deliver, whatever the
 * chaos did to the links and the hub. Then the viewer's own counts must add up: it received
 * each topic's events in order, each once (checked as they come), and what it received plus
 * what it counted as lost is no more than the numbers its topics spanned (no event is counted
 * twice, or lost and received). While the run has had one hub (its numbering of each topic
 * never started again), every event the hub acknowledged between the first and the last the
 * viewer received on a topic either reached it or was counted lost: for the live writers'
 * topics, their acknowledged events in those spans are no more than what the viewer received
 * of them plus all it counted lost or dropped (S7.6: loss is counted, also across link cuts).
 */
async function checkEvents() {
  const marks = await Promise.all(
    writers.map((w) =>
      w.proc.ask({ cmd: 'publish' }, 'publish').then((mark) => ({ ...mark, name: w.proc.name })),
    ),
  )
  for (const mark of marks)
    if (mark.error !== undefined) fatal.push(`${mark.name}: a publish after quiescing failed: ${mark.error}`)
  if (fatal.length > 0) return
  const until = Date.now() + 30_000
  for (;;) {
    const dump = await viewer.proc.ask({ cmd: 'dump' })
    for (const text of dump.breaches) fatal.push(`${viewer.proc.name}: ${text}`)
    if (fatal.length > 0) return
    const { spans, received } = dump.events
    const missing = marks.filter((mark) => (spans[mark.topic]?.last ?? 0) < mark.n)
    if (missing.length === 0) {
      const { events, eventsLost, eventsDropped } = dump.metrics
      const spanned = Object.values(spans).reduce((sum, span) => sum + span.last - span.first + 1, 0)
      if (received + eventsLost > spanned)
        fatal.push(
          `${viewer.proc.name}: received ${received} events and counted ${eventsLost} lost, their topics spanned ${spanned} (S7.6)`,
        )
      if (received + eventsDropped !== events)
        fatal.push(
          `${viewer.proc.name}: received ${received} events, dropped ${eventsDropped}, node.metrics.events ${events}`,
        )
      if (hubs === 1) {
        let acked = 0
        let got = 0
        for (const [i, w] of writers.entries()) {
          const span = spans[marks[i].topic]
          if (span === undefined) continue
          acked += (await w.proc.ask({ cmd: 'acked', from: span.first, to: span.last })).acked
          got += span.received
        }
        if (acked > got + eventsLost + eventsDropped)
          fatal.push(
            `${viewer.proc.name}: the live writers' topics had ${acked} events acknowledged in the spans it received, it received ${got} of them and counted ${eventsLost} lost and ${eventsDropped} dropped in all: ${acked - got - eventsLost - eventsDropped} went missing uncounted (S7.6)`,
          )
      }
      return
    }
    if (Date.now() > until) {
      fatal.push(
        `${viewer.proc.name}: ${missing.map((m) => `event ${m.n} on ${m.topic} (last ${spans[m.topic]?.last ?? 'none'})`).join(', ')} not received 30 s after its publish was acknowledged (S7.3)`,
      )
      return
    }
    await sleep(100)
  }
}

async function sampleMemory() {
  const hubMem = await hub.ask({ cmd: 'mem' })
  hub.samples.push(hubMem)
  for (const w of clones) w.proc.samples.push(await w.proc.ask({ cmd: 'mem' }))
}

/** A process whose heap (after a full GC) grew past twice its second sample plus 48 MiB. */
function memoryGrowth() {
  const out = []
  const check = (name, samples) => {
    if (samples.length < 4) return
    const base = samples[1].heapUsed
    const last = samples.at(-1).heapUsed
    if (last > base * 2 + 48 * 2 ** 20)
      out.push(`${name}: heap grew from ${(base / 2 ** 20).toFixed(1)} to ${(last / 2 ** 20).toFixed(1)} MiB`)
  }
  for (const [i, samples] of hubSamples.entries()) check(`hub${i + 1}`, samples)
  for (const w of clones)
    for (const [i, samples] of w.samples.entries()) check(`node${w.id}.${i + 1}`, samples)
  return out
}

function mib(bytes) {
  return `${(bytes / 2 ** 20).toFixed(0)}M`
}

async function shutdown(code) {
  for (const w of clones) if (w.proc !== undefined && !w.proc.exited) await w.proc.kill()
  if (hub !== undefined && !hub.exited) await hub.kill()
  proxies.close()
  if (redis !== undefined) await stopRedis(redis)
  if (code === 0 && !args.keep) rmSync(dir, { recursive: true, force: true })
  else console.log(`data and logs kept in ${dir}`)
  process.exit(code)
}

let failing = false
function fail(phase) {
  if (failing) return new Promise(() => {})
  failing = true
  console.log(`\nSOAK FAILED: combo ${combo}, seed ${seed}, phase ${phase}`)
  for (const finding of fatal.slice(0, 40)) console.log(`  - ${finding}`)
  if (fatal.length > 40) console.log(`  … and ${fatal.length - 40} more`)
  console.log(`replay: ${replay}`)
  return shutdown(1)
}

// ---- the run --------------------------------------------------------------------------------

let phase = 0
// A mistake of the driver itself ends the run too, with what it had found.
process.on('uncaughtException', (error) => {
  fatal.push(`the soak driver: ${error?.stack ?? error}`)
  void fail(phase)
})
// Stopped from outside: no process of the run (redis-server has no IPC link to notice) outlives it.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    fatal.push(`the soak was stopped (${signal})`)
    void fail(phase)
  })
}
process.on('unhandledRejection', (error) => {
  fatal.push(`the soak driver: ${error?.stack ?? error}`)
  void fail(phase)
})

say(
  `soak ${combo}, seed ${seed}, ${nodeCount} nodes (${writeOnlyCount} write-only), link queue ${queue}, heartbeat ${heartbeat} ms, in ${dir}`,
)
await startHub()
for (let id = 1; id <= nodeCount; id++) {
  const w = {
    id,
    inc: 0,
    inFlight: 1 + random.int(500),
    samples: [],
    quiescing: false,
    writeOnly: id > nodeCount - writeOnlyCount,
  }
  writers.push(w)
  clones.push(w)
}
// A viewer: prefix views of kv and of the first writer's counters, and all of logs; it writes nothing.
const viewer = {
  id: 'v',
  inc: 0,
  inFlight: 0,
  samples: [],
  quiescing: true,
  views: { kv: 'k1', counters: '1.' },
}
clones.push(viewer)
await Promise.all(clones.map((w) => startWriter(w)))
// Before any chaos: each clone process's first open of each store took one snapshot, and the
// hub served exactly those (S2.1: one sync per open).
{
  const { metrics } = await hub.ask({ cmd: 'metrics' })
  const opens = STORE_NAMES.length * clones.filter((w) => !w.writeOnly).length
  if (metrics.snapshots !== opens || metrics.resumes !== 0) {
    fatal.push(
      `the hub served ${metrics.snapshots} snapshots and ${metrics.resumes} resumes for the ${opens} first opens of the clones`,
    )
    await fail(0)
  }
}

const model = new Model()
while (phase < maxPhases && Date.now() < deadline) {
  phase++
  const r = random.fork()
  const seconds = phaseSeconds ?? 15 + r.int(25)
  for (const w of writers) {
    w.quiescing = false
    w.ledger.issued = undefined
    setInFlight(w, r.pick([1, 5, 50, 200, 500, 1 + r.int(500)]))
  }
  const events = (forcedChaos ?? Array.from({ length: 1 + r.int(3) }, () => pickKind(r)))
    .map((kind) => ({ at: 1000 + r.int(Math.max(1, seconds * 1000 - 4000)), kind, r: r.fork() }))
    .sort((a, b) => a.at - b.at)
  say(
    `phase ${phase}: ${seconds} s, in flight ${writers.map((w) => w.inFlight).join('/')}, chaos ${events.map((e) => `${e.kind}@${(e.at / 1000).toFixed(1)}s`).join(' ')}`,
  )
  const t0 = Date.now()
  const actions = events.map(async (event) => {
    await sleep(event.at)
    counts[event.kind] = (counts[event.kind] ?? 0) + 1
    await chaos[event.kind](event.r)
  })
  await sleep(seconds * 1000)
  await Promise.all(actions)
  if (fatal.length > 0) await fail(phase)
  const quiesceStart = Date.now()
  await quiesce()
  if (fatal.length > 0) await fail(phase)
  const master = await converge()
  if (fatal.length > 0) await fail(phase)
  // Quiesced and converged: every write of the live node processes has its outcome, which
  // their counters must agree with.
  for (const [i, w] of clones.entries()) {
    fatal.push(
      ...nodeMetricsViolations(w.proc.name, lastDumps[i].metrics, {
        viewer: w.views !== undefined,
        ledger: w.ledger,
      }),
    )
  }
  await checkEvents()
  fatal.push(...hubMetricsViolations(hub.name, master.metrics))
  if (fatal.length > 0) await fail(phase)
  const violations = [...model.absorb(ledgers, phase), ...model.check(master.stores)]
  fatal.push(...violations.slice(0, 200))
  if (violations.length > 200) fatal.push(`… ${violations.length} violations in all`)
  await sampleMemory()
  fatal.push(...memoryGrowth())
  if (fatal.length > 0) await fail(phase)
  const tally = model.tally
  const m = addMetrics(addMetrics({}, pastMetrics), master.metrics)
  if (forcedChaos?.length === 0) {
    // No chaos: no link was lost and no process restarted, so the hub served exactly the
    // snapshots and log replays the nodes' clones asked for and got.
    const nodes = nodeTotals()
    for (const name of ['snapshots', 'resumes'])
      if (m[name] !== nodes[name])
        fatal.push(`hub.metrics.${name} is ${m[name]}, the nodes counted ${nodes[name]}`)
    if (fatal.length > 0) await fail(phase)
  }
  say(
    `phase ${phase} ok in ${((Date.now() - t0) / 1000).toFixed(0)} s (quiesce+check ${((Date.now() - quiesceStart) / 1000).toFixed(1)} s): ` +
      `kv seq ${master.stores.kv.seq}, writes acked ${tally.acked}, unknown ${tally.unknown}, failed ${tally.failed}; ` +
      `hub: overflows ${m.peerQueueOverflows}, skipped broadcasts ${m.skippedBroadcasts}, timeouts ${m.peerTimeouts}, resumes ${m.resumes}, snapshots ${m.snapshots}, dup writes ${m.duplicateWrites}; ` +
      `heap hub ${mib(hub.samples.at(-1).heapUsed)}, nodes ${clones.map((w) => mib(w.proc.samples.at(-1).heapUsed)).join('/')}; ` +
      `longest stall of the hub's event loop ${hub.samples.at(-1).stall.ms} ms, the nodes' ${clones.map((w) => w.proc.samples.at(-1).stall.ms).join('/')}`,
  )
  say(`phase ${phase} node metrics, all node processes so far: ${countersText(nodeTotals())}`)
  say(
    `phase ${phase} hub metrics, all hubs so far: ${countersText(addCounters({ ...pastHub }, master.metrics))}`,
  )
}

/** Each node's `node.metrics` over its incarnations: the killed ones (asked before the kill) and the live one. */
function nodeCounters(w, i) {
  return addCounters({ ...(w.past ?? {}) }, lastDumps[i]?.metrics)
}
function nodeTotals() {
  return clones.reduce((total, w, i) => addCounters(total, nodeCounters(w, i)), {})
}
console.log(
  `SOAK OK: combo ${combo}, seed ${seed}, ${phase} phases in ${((Date.now() - started) / 60_000).toFixed(1)} min; ` +
    `writes acked ${model.tally.acked}, unknown ${model.tally.unknown}, failed ${model.tally.failed}; chaos ${JSON.stringify(counts)}`,
)
for (const [i, w] of clones.entries()) {
  const name = w.views === undefined ? `node${w.id}${w.writeOnly ? ' (write-only)' : ''}` : 'viewer'
  console.log(
    `  node metrics of ${name} (${w.inc} process${w.inc === 1 ? '' : 'es'}): ${countersText(nodeCounters(w, i))}`,
  )
}
await shutdown(0)
