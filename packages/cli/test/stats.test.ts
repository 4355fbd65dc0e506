/**
 * `--stats DURATION` (and `hub.stats`, `node.stats`): the counters of a running hub or node
 * for an operator. `serve` and the node commands in this process on the in-memory transport,
 * then `serve` as a child process on ZeroMQ + SQLite.
 */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { soon } from '../../core/test/soon.js'
import { countersMoved, countersOf, troubleAtStop } from '../src/stats.js'
import { Cli, type Invocation, serveProcess, Workspace } from './support/harness.js'

const CONFIG = (address: string, extra = '') => `
hub:
  listen: ${address}
${extra}transport: memory
persistence: memory
stores:
  counters: count
topics:
  chat: string
`

let ws: Workspace

beforeAll(async () => {
  ws = await Workspace.create()
})

afterAll(async () => {
  await ws.cleanup()
})

/** The sum over `lines` of the `+N` of counter `name` (`name +N`). */
function movedIn(lines: readonly string[], name: string): number {
  let sum = 0
  const pattern = new RegExp(`(?:: |, )${name.replace('.', '\\.')} \\+(\\d+)`)
  for (const text of lines) {
    const m = pattern.exec(text)
    if (m !== null) sum += Number(m[1])
  }
  return sum
}

const statsLines = (lines: readonly string[]) => lines.filter((l) => /^stats \d/.test(l))

/** A JSON line of the stats. */
interface StatsObject {
  readonly stats: 'interval' | 'summary'
  readonly source: 'hub' | 'node'
  readonly time: string
  readonly seconds: number
  readonly changed: Readonly<Record<string, number>>
  readonly rates: Readonly<Record<string, number>>
  readonly totals: Readonly<Record<string, number>>
}

/** The JSON objects among `lines`. */
const objectsIn = (lines: readonly string[]) =>
  lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as StatsObject)

/** A Cli with its own config (and memory address) in the workspace. */
async function cliWith(name: string, extra = ''): Promise<Cli> {
  const config = await ws.file(`${name}.yaml`, CONFIG(`memory://stats-${name}`, extra))
  return new Cli(ws.dir, { env: { CONCORD_CONFIG: config } })
}

async function stopped(invocation: Invocation): Promise<void> {
  invocation.stop()
  expect(await invocation.code).toBe(0)
}

/** The counters `troubleAtStop` reads, none moved. */
const QUIET = {
  resyncs: { gap: 0, behind: 0, epoch: 0, decode: 0, stalled: 0, syncBuffer: 0, protocol: 0 },
  linksLost: 0,
  eventsLost: 0,
}

describe('the counters of a metrics object', () => {
  test('every numeric field and every record of numbers, by name, so counters added later show', () => {
    const metrics = {
      framesIn: 0,
      refused: { ERR_PROTOCOL: 2 },
      someCounterOfLater: 7,
      byCause: { soon: 1, later: 0 },
      name: 'not a counter',
      nested: { deeper: { n: 1 } },
    }
    const counters = countersOf(metrics)
    expect(counters.get('framesIn')).toBe(0)
    expect(counters.get('refused.ERR_PROTOCOL')).toBe(2)
    expect(counters.get('someCounterOfLater')).toBe(7)
    expect(counters.get('byCause.soon')).toBe(1)
    expect(counters.get('byCause.later')).toBe(0)
    expect(counters.has('name')).toBe(false)
    expect([...counters.keys()].some((k) => k.startsWith('nested'))).toBe(false)
    // A code that appears later moves from 0.
    const later = countersOf({ ...metrics, refused: { ERR_PROTOCOL: 2, ERR_DECODE: 1 }, framesIn: 5 })
    expect([...countersMoved(counters, later)]).toEqual([
      ['framesIn', 5],
      ['refused.ERR_DECODE', 1],
    ])
  })

  test('the line at stop names resyncs by cause, lost links and lost events, and nothing when all is well', () => {
    expect(troubleAtStop(QUIET)).toBeUndefined()
    const metrics = { resyncs: { ...QUIET.resyncs, gap: 2, epoch: 1 }, linksLost: 1, eventsLost: 12 }
    expect(troubleAtStop(metrics)).toBe(
      'at stop: the clone resynced 3 times (gap 2, epoch 1); the link to the hub was lost once; 12 events were lost on the way',
    )
  })
})

describe('concord serve --stats', () => {
  test('a line per period with the counters that moved, writes with a rate, then a summary', async () => {
    const cli = await cliWith('serve')
    const hub = await cli.background(['serve', '--stats', '20ms'], /ready/)
    expect(hub.stdout.lines).toContain('ready; Ctrl-C to stop; stats every 20ms')
    for (const n of ['1', '2', '3']) expect((await cli.run(['put', 'counters', `k${n}`, n])).code).toBe(0)
    await soon(() => expect(movedIn(statsLines(hub.stdout.lines), 'mutations')).toBe(3))
    const line = statsLines(hub.stdout.lines).find((l) => / mutations \+/.test(l))!
    expect(line).toMatch(
      /^stats \d+(\.\d+)?m?s: (\S+ \+\d+( \([\d.]+\/s\))?, )*mutations \+\d+ \([\d.]+\/s\)/,
    )
    // A period in which nothing moved says so.
    await soon(() => expect(hub.stdout.lines.at(-1)).toMatch(/^stats \S+: no change$/))
    await stopped(hub)
    const tail = hub.stdout.lines.slice(-3)
    expect(tail[0]).toMatch(/^stats at stop, over \S+: framesIn \d+ \([\d.]+\/s\), /)
    expect(tail[0]).toMatch(/, mutations 3 \([\d.]+\/s\), /)
    expect(tail.slice(1)).toEqual(['stopping…', 'stopped'])
  })

  test('--json: one JSON object per line on stdout, the lines for humans on stderr', async () => {
    const cli = await cliWith('json')
    const hub = await cli.background(['serve', '--stats', '20ms', '--json'], /ready/, 'stderr')
    expect(hub.stderr.text).toMatch(/^listening on memory:\/\/stats-json \(memory\)\n/)
    expect((await cli.run(['put', 'counters', 'k', '1'])).code).toBe(0)
    const objects = () => objectsIn(hub.stdout.lines)
    await soon(() => expect(objects().some((o) => o.changed.mutations === 1)).toBe(true))
    const moved = objects().find((o) => o.changed.mutations === 1)!
    expect(moved).toMatchObject({
      stats: 'interval',
      source: 'hub',
      rates: { mutations: expect.any(Number) },
    })
    expect(new Date(moved.time).toISOString()).toBe(moved.time)
    expect(moved.seconds).toBeGreaterThan(0)
    expect(moved.totals).toMatchObject({ mutations: 1, peerQueueOverflows: 0 })
    await stopped(hub)
    expect(objectsIn(hub.stdout.lines)).toHaveLength(hub.stdout.lines.length)
    expect(objects().at(-1)).toMatchObject({ stats: 'summary', source: 'hub', totals: { mutations: 1 } })
    expect(objects().at(-1)).not.toHaveProperty('changed')
    expect(hub.stderr.lines.slice(-2)).toEqual(['stopping…', 'stopped'])
  })

  test('hub.stats in the config sets the period; without it or --stats, no stats', async () => {
    const quiet = await cliWith('quiet')
    const plain = await quiet.background(['serve'], /ready/)
    expect(plain.stdout.lines.at(-1)).toBe('ready; Ctrl-C to stop')
    await stopped(plain)
    expect(plain.stdout.text).not.toMatch(/^stats/m)

    const cli = await cliWith('config', '  stats: 20ms\n')
    const hub = await cli.background(['serve'], /ready/)
    expect(hub.stdout.lines).toContain('ready; Ctrl-C to stop; stats every 20ms')
    await soon(() => expect(statsLines(hub.stdout.lines).length).toBeGreaterThan(0))
    await stopped(hub)
    expect(hub.stdout.lines.at(-3)).toMatch(/^stats at stop, over /)
  })

  test('--stats takes a duration with a unit, from 10ms', async () => {
    const cli = await cliWith('usage')
    expect(await cli.run(['serve', '--stats', '10'])).toMatchObject({
      code: 2,
      stderr: 'concord: ERR_USAGE: --stats takes a duration like 5s or 1m, got "10"\n',
    })
    expect(await cli.run(['watch', 'counters', '--stats', '1ms'])).toMatchObject({
      code: 2,
      stderr: 'concord: ERR_USAGE: --stats takes a duration from 10ms to 24d, got "1ms"\n',
    })
    expect((await cli.run(['sub', '--stats', 'often'])).code).toBe(2)
  })
})

describe('concord sub and watch --stats', () => {
  test('sub: the node counters on stderr, stdout stays the events', async () => {
    const cli = await cliWith('sub')
    const hub = await cli.background(['serve'], /ready/)
    const sub = await cli.background(['sub', 'chat', '--stats', '20ms'], /subscribed/, 'stderr')
    for (const n of ['1', '2', '3']) expect((await cli.run(['pub', 'chat/room', `hi ${n}`])).code).toBe(0)
    await soon(() => expect(movedIn(statsLines(sub.stderr.lines), 'events')).toBe(3))
    expect(sub.stdout.lines).toEqual(['chat/room: hi 1', 'chat/room: hi 2', 'chat/room: hi 3'])
    await stopped(sub)
    expect(sub.stderr.lines.at(-1)).toMatch(/^stats at stop, over \S+: linksUp 1, events 3 \([\d.]+\/s\)$/)
    await stopped(hub)
  })

  test('watch --json: JSON counters on stderr; a restarted hub shows as a lost link, also at stop without --stats', async () => {
    const cli = await cliWith('watch')
    let hub = await cli.background(['serve'], /ready/)
    const watch = await cli.background(
      ['watch', 'counters', '--stats', '20ms', '--json'],
      /watching/,
      'stderr',
    )
    const plain = await cli.background(['watch', 'counters'], /watching/, 'stderr')
    await stopped(hub)
    hub = await cli.background(['serve'], /ready/)
    const objects = () => objectsIn(watch.stderr.lines)
    // Lost, linked again, a new snapshot of the restarted (empty, in-memory) master.
    // The node links again after its backoff.
    const relinked = { timeout: 10_000, interval: 20 }
    await vi.waitFor(
      () => expect(objects().at(-1)?.totals).toMatchObject({ linksLost: 1, linksUp: 2, snapshots: 2 }),
      relinked,
    )
    expect(objects().some((o) => o.stats === 'interval' && o.changed.linksLost === 1)).toBe(true)
    expect((await cli.run(['put', 'counters', 'k', '1'])).code).toBe(0)
    await vi.waitFor(() => expect(plain.stdout.lines).toEqual(['put k = 1']), relinked)
    await vi.waitFor(() => expect(watch.stdout.lines).toHaveLength(1), relinked)
    await stopped(watch)
    await stopped(plain)
    expect(objects().at(-1)).toMatchObject({
      stats: 'summary',
      source: 'node',
      totals: { linksUp: 2, linksLost: 1, snapshots: 2, 'resyncs.gap': 0 },
    })
    expect(watch.stdout.lines).toEqual([
      '{"kind":"put","key":"k","value":{"@data-type":"count","data":1},"seq":1}',
    ])
    for (const w of [watch, plain]) {
      expect(w.stderr.lines.at(-1)).toBe('at stop: the link to the hub was lost once')
    }
    expect(plain.stderr.text).not.toMatch(/^stats/m)
    await stopped(hub)
  })

  test('node.stats in the config sets the period of watch and sub', async () => {
    const cli = await cliWith('nodestats', 'node:\n  stats: 20ms\n')
    const hub = await cli.background(['serve'], /ready/)
    const watch = await cli.background(['watch', 'counters'], /watching/, 'stderr')
    await soon(() => expect(statsLines(watch.stderr.lines).length).toBeGreaterThan(0))
    await stopped(watch)
    expect(watch.stderr.lines.at(-1)).toMatch(/^stats at stop, over \S+: snapshots 1, linksUp 1$/)
    // serve reads hub.stats, not node.stats.
    await stopped(hub)
    expect(hub.stdout.text).not.toMatch(/^stats/m)
  })
})

describe('ZeroMQ + SQLite', () => {
  test('serve --stats as a process: writes per second while it runs, the summary on SIGTERM', async () => {
    await ws.file(
      'zmq.yaml',
      'hub:\n  listen: tcp://127.0.0.1:0\npersistence:\n  path: zmq-data\nstores:\n  counters: count\n',
    )
    const hub = await serveProcess(['--config', 'zmq.yaml', '--stats', '50ms'], ws.dir)
    const cli = new Cli(ws.dir)
    const at = ['--config', 'zmq.yaml', '--hub', hub.address]
    expect((await cli.run(['put', 'counters', 'a', '1', ...at])).code).toBe(0)
    expect((await cli.run(['update', 'counters', 'a', '2', '--op', 'increment', ...at])).code).toBe(0)
    const lines = () => hub.child.stdout.split('\n')
    await vi.waitFor(() => expect(movedIn(statsLines(lines()), 'mutations')).toBe(2), { timeout: 10_000 })
    expect(movedIn(statsLines(lines()), 'commits')).toBeGreaterThanOrEqual(1)
    expect(await hub.stop()).toBe(0)
    expect(hub.child.stdout).toMatch(
      /\nstats at stop, over \S+: .*mutations 2 \([\d.]+\/s\).*\nstopping…\nstopped\n$/,
    )
    expect(hub.child.stderr).toBe('')
  })
})
