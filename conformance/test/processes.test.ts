/**
 * Across processes (issue: the embedded default): a hub, writers and readers in separate
 * processes over ZeroMQ with SQLite. Runs the built packages (turbo builds them before the
 * tests); `processes/role.mjs` is each process.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'

const ROLE = new URL('./processes/role.mjs', import.meta.url)

type Message = { cmd: string } & Record<string, unknown>

/** A child process and the messages it sent. */
class Proc {
  readonly messages: Message[] = []
  readonly child: ChildProcess
  exited = false

  constructor(role: 'hub' | 'node', options: object) {
    // A plain Node process on the built packages: none of the test runner's flags or conditions.
    this.child = fork(ROLE, [role, JSON.stringify(options)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
      env: { ...process.env, NODE_OPTIONS: '' },
    })
    this.child.on('message', (message) => this.messages.push(message as Message))
    this.child.on('exit', () => {
      this.exited = true
    })
  }

  /** Waits for the next message `cmd` after `from` messages. */
  async next(cmd: string, from = 0, timeout = 20_000): Promise<Message> {
    return vi.waitFor(
      () => {
        if (this.exited && !this.messages.slice(from).some((m) => m.cmd === cmd))
          throw new Error(`process exited`)
        const found = this.messages.slice(from).find((m) => m.cmd === cmd)
        if (found === undefined) throw new Error(`waiting for ${cmd}`)
        return found
      },
      { timeout, interval: 10 },
    )
  }

  /** Sends a command and waits for its answer (`answer`, default the same name). */
  async ask(message: Message, answer = message.cmd): Promise<Message> {
    const from = this.messages.length
    this.child.send(message)
    const reply = await this.next(answer, from)
    if (this.messages.slice(from).some((m) => m.cmd === 'error'))
      throw new Error(JSON.stringify(this.messages.slice(from)))
    return reply
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal)
  }
}

const procs: Proc[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const proc of procs.splice(0)) {
    if (!proc.exited) proc.kill('SIGKILL')
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function spawn(role: 'hub' | 'node', options: object): Proc {
  const proc = new Proc(role, options)
  procs.push(proc)
  return proc
}

async function startHub(options: object): Promise<{ proc: Proc; address: string }> {
  const proc = spawn('hub', options)
  const ready = await proc.next('ready')
  return { proc, address: ready.address as string }
}

async function startNode(hub: string, options: object = {}): Promise<Proc> {
  const proc = spawn('node', { hub, ...options })
  await proc.next('ready')
  return proc
}

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'concord-processes-'))
  dirs.push(dir)
  return dir
}

type Dump = Record<string, { seq: number; entries: Record<string, [string, number]> }>

describe('zmq x sqlite across processes', () => {
  it('S3.4 S6.3 concurrent writers in two processes; every clone, in its own process, converges to the master', async () => {
    const { proc: hub, address } = await startHub({ listen: 'tcp://127.0.0.1:0', path: dataDir() })
    const writers = await Promise.all([startNode(address), startNode(address)])
    const readers = await Promise.all([startNode(address), startNode(address)])
    for (const reader of readers) {
      await reader.ask({ cmd: 'open', store: 'kv' }, 'opened')
      await reader.ask({ cmd: 'open', store: 'counters' }, 'opened')
    }
    await Promise.all(
      writers.map((w, id) => w.ask({ cmd: 'work', id: `w${id}`, count: 1500, inFlight: 50 }, 'worked')),
    )
    const dump = (await hub.ask({ cmd: 'dump' })).out as Dump
    expect(dump.counters!.entries.c0![0]).toBe('600') // 2 writers x 1500 increments over 5 counters
    for (const name of ['kv', 'counters']) {
      for (const process of [...readers, ...writers]) {
        await vi.waitFor(
          async () => {
            const state = await process.ask({ cmd: 'state', store: name })
            expect(state.seq).toBe(dump[name]!.seq)
            expect(state.entries).toEqual(dump[name]!.entries)
          },
          { timeout: 20_000, interval: 50 },
        )
      }
    }
  })

  it('S6.4 S3.7 S6.3 kill -9 of the hub mid-stream: every acknowledged write survives with its seq, outage writes follow S3.7, clones resync by themselves', async () => {
    const path = dataDir()
    let { proc: hub, address } = await startHub({ listen: 'tcp://127.0.0.1:0', path })
    const writer = await startNode(address)
    const reader = await startNode(address)
    await reader.ask({ cmd: 'open', store: 'kv' }, 'opened')
    await writer.ask({ cmd: 'open', store: 'kv' }, 'opened')
    const acked = new Map<string, number>()
    const failed = new Map<string, string>()
    let seen = 0
    const collect = () => {
      for (; seen < writer.messages.length; seen++) {
        const m = writer.messages[seen]!
        if (m.cmd !== 'progress') continue
        for (const [key, seq] of m.acked as [string, number][]) acked.set(key, seq)
        for (const [key, code] of m.failed as [string, string][]) failed.set(key, code)
      }
    }
    writer.child.send({ cmd: 'stream', inFlight: 20 })
    await vi.waitFor(
      () => {
        collect()
        expect(acked.size).toBeGreaterThan(1000)
      },
      { timeout: 20_000, interval: 10 },
    )
    hub.kill('SIGKILL')
    await vi.waitFor(() => expect(hub.exited).toBe(true))
    collect()
    const beforeRestart = acked.size
    ;({ proc: hub } = await startHub({ listen: address, path }))
    await vi.waitFor(
      () => {
        collect()
        expect(acked.size).toBeGreaterThan(beforeRestart + 500)
      },
      { timeout: 30_000, interval: 10 },
    )
    const streamed = writer.messages.length
    writer.child.send({ cmd: 'stop' })
    const { issued } = await writer.next('streamed', streamed)
    collect()
    // Every write issued got an answer: acknowledged, or refused as S3.7 says (never silence).
    expect(acked.size + failed.size).toBe(issued)
    for (const code of failed.values()) expect(code).toBe('ERR_UNAVAILABLE')
    const dump = (await hub.ask({ cmd: 'dump' })).out as Dump
    const kv = dump.kv!
    for (const [key, seq] of acked) expect(kv.entries[key]?.[1], key).toBe(seq)
    // The reader resynced to the restarted master without being told to.
    await vi.waitFor(
      async () => {
        const state = await reader.ask({ cmd: 'state', store: 'kv' })
        expect(state.status).toBe('live')
        expect(state.seq).toBe(kv.seq)
        expect(state.entries).toEqual(kv.entries)
      },
      { timeout: 20_000, interval: 50 },
    )
  })

  it('S6.5 a clone that stops reading is dropped and resyncs, and the others never wait for it', async () => {
    const { proc: hub, address } = await startHub({ listen: 'tcp://127.0.0.1:0', path: dataDir(), hwm: 64 })
    const writer = await startNode(address, { hwm: 64 })
    const fast = await startNode(address, { hwm: 64 })
    const slow = await startNode(address, { hwm: 64 })
    for (const proc of [writer, fast, slow]) await proc.ask({ cmd: 'open', store: 'kv' }, 'opened')
    slow.kill('SIGSTOP')
    // One write in flight at a time: a frame per write, far past the slow clone's window.
    await writer.ask({ cmd: 'work', id: 'w', count: 600, inFlight: 1 }, 'worked')
    const dump = (await hub.ask({ cmd: 'dump' })).out as Dump
    // The fast clone has everything while the slow one is still stopped.
    await vi.waitFor(
      async () => {
        const state = await fast.ask({ cmd: 'state', store: 'kv' })
        expect(state.seq).toBe(dump.kv!.seq)
      },
      { timeout: 20_000, interval: 50 },
    )
    slow.kill('SIGCONT')
    await vi.waitFor(
      async () => {
        const state = await slow.ask({ cmd: 'state', store: 'kv' })
        expect(state.status).toBe('live')
        expect(state.seq).toBe(dump.kv!.seq)
        expect(state.entries).toEqual(dump.kv!.entries)
      },
      { timeout: 30_000, interval: 100 },
    )
    const metrics = ((await hub.ask({ cmd: 'dump' })).metrics ?? {}) as Record<string, number>
    // The hub dropped the slow clone (queue overflow or heartbeat silence), and it came back by resync.
    expect(metrics.peerQueueOverflows! + metrics.peerTimeouts!).toBeGreaterThan(0)
    expect(metrics.snapshots! + metrics.resumes!).toBeGreaterThan(3)
  })
})
