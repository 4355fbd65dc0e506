/**
 * `concord` as a process: the executable's signal handling and exit codes, and `concord
 * demo` from start to finish (ZeroMQ + SQLite, three child processes of its own). Runs the
 * TypeScript sources through a small loader (test/support/register-ts.mjs).
 */
import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHub, createNode, type Hub, memoryPersistence } from '@concord/core'
import { t } from '@concord/schema'
import { zmqTransport } from '@concord/transport-zmq'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { concord, tsProcess, Workspace } from './support/harness.js'

let ws: Workspace

beforeAll(async () => {
  ws = await Workspace.create()
  await ws.file(
    'concord.yaml',
    'hub:\n  listen: memory://process\ntransport: memory\npersistence: memory\nstores:\n  s: string\n',
  )
})

afterAll(async () => {
  await ws.cleanup()
})

describe('the executable', () => {
  test.each(['SIGTERM', 'SIGINT'] as const)('serve stops cleanly on %s and exits 0', async (signal) => {
    const serve = concord(['serve'], ws.dir)
    await vi.waitFor(() => expect(serve.stdout).toContain('ready; Ctrl-C to stop'), {
      timeout: 15_000,
      interval: 20,
    })
    serve.process.kill(signal)
    expect(await serve.exit).toBe(0)
    expect(serve.stdout).toMatch(/stopping…\nstopped\n$/)
    expect(serve.stderr).toBe('')
  })

  test('a reader that stops early (| head -1) ends it quietly, exit 0', async () => {
    const child = concord(['help'], ws.dir)
    child.process.stdout?.destroy()
    expect(await child.exit).toBe(0)
    expect(child.stderr).toBe('')
  })

  // Node's recursive mkdir loops for ever where mkdir answers ENOENT under an existing folder
  // (/proc): the hub spun there and ignored SIGTERM. A child process, so that a hang is ended
  // with the test instead of blocking the test process.
  test.each(['sqlite', 'lmdb'])(
    'S9.2 serve with a %s data folder under /proc fails at once with ERR_PERSISTENCE, making nothing',
    async (kind) => {
      const folder = `/proc/concord-test-${kind}-${process.pid}/data`
      const config = await ws.file(
        `proc-${kind}.yaml`,
        `hub:\n  listen: memory://proc\ntransport: memory\npersistence: { kind: ${kind}, path: ${folder} }\nstores:\n  s: string\n`,
      )
      const serve = concord(['serve', '--config', config], ws.dir)
      expect(await serve.exit).toBe(1)
      expect(serve.stderr).toBe(
        `concord: ERR_PERSISTENCE: cannot create the data folder ${folder}: mkdir /proc/concord-test-${kind}-${process.pid} ` +
          'failed with ENOENT although /proc is a folder: that file system makes no folders (a virtual one such as /proc or /sys)\n',
      )
      expect(existsSync(dirname(folder))).toBe(false)
    },
  )

  test('errors are one line and an exit code', async () => {
    const child = concord(['get', 's'], ws.dir)
    expect(await child.exit).toBe(2)
    expect(child.stderr).toBe(
      'concord: ERR_USAGE: missing arguments: usage: concord get STORE KEY [--json]\n',
    )
  })
})

describe('a node in a process of its own (ZeroMQ)', () => {
  const FOLLOWER = fileURLToPath(new URL('./support/follower.ts', import.meta.url))
  const hub = (listen: string) =>
    createHub({
      transport: zmqTransport(),
      listen,
      persistence: memoryPersistence(),
      stores: { kv: { schema: t.string() } },
    })

  /** A follower of the hub's store, once its clone is open; and the hub, closed (its link drops). */
  async function followerOfClosedHub(args: readonly string[] = []) {
    const first = await hub('tcp://127.0.0.1:0')
    const follower = tsProcess(FOLLOWER, [first.address, ...args], ws.dir)
    await vi.waitFor(() => expect(follower.stdout).toContain('open\n'), { timeout: 15_000, interval: 20 })
    await first.close()
    return { follower, address: first.address }
  }

  test('keeps its process alive while its hub is away, and follows the hub that comes back', async () => {
    const { follower, address } = await followerOfClosedHub()
    let exited = false
    void follower.exit.then(() => {
      exited = true
    })
    const alive = () => {
      if (exited) throw new Error(`the follower exited: ${follower.stdout}${follower.stderr}`)
    }
    await vi.waitFor(
      () => {
        alive()
        expect(follower.stdout).toContain('status connecting\n')
      },
      { timeout: 15_000, interval: 20 },
    )
    let again: Hub | undefined
    try {
      again = await hub(address)
      const writer = await createNode({ transport: zmqTransport(), hub: address })
      try {
        const kv = await writer.writer('kv', { schema: t.string() })
        await kv.put('after', 'the hub came back')
        await vi.waitFor(
          () => {
            alive()
            expect(follower.stdout).toContain('put after\n')
          },
          { timeout: 15_000, interval: 20 },
        )
        await kv.put('done', 'bye')
      } finally {
        await writer.close()
      }
      expect(await follower.exit).toBe(0)
    } finally {
      await again?.close()
    }
  })

  test('with keepAlive: false, lets its process end once the link is down', async () => {
    const { follower } = await followerOfClosedHub(['keep-alive-off'])
    // Nothing holds the event loop: the unsettled top-level await ends the process (code 13).
    expect(await follower.exit).toBe(13)
    expect(follower.stdout).not.toContain('put')
  })
})

describe('concord demo', () => {
  test('a hub and two nodes share a store, then everything exits 0', async () => {
    const demo = concord(['demo'], ws.dir)
    expect(await demo.exit).toBe(0)
    const lines = demo.stdout.split('\n')
    const index = (line: string) => {
      const i = lines.indexOf(line)
      expect(i, `${line}\n---\n${demo.stdout}${demo.stderr}`).toBeGreaterThanOrEqual(0)
      return i
    }
    expect(lines.some((l) => /^\[hub\] listening on tcp:\/\/127\.0\.0\.1:\d+ \(zmq\)$/.test(l))).toBe(true)
    expect(lines.some((l) => /^\[hub\] data: SQLite in \S+ \(durability relaxed\)$/.test(l))).toBe(true)
    // Causal order: each line is seen after what caused it.
    expect(index('[alice] put counter = 1')).toBeLessThan(index('[bob] sees counter = 1'))
    expect(index('[bob] update counter: increment by 1')).toBeLessThan(
      index('[alice] sees counter = 2 (bob incremented it on the hub)'),
    )
    expect(index('[bob] sees alice = online')).toBeLessThan(index('[bob] sees alice expire'))
    index('[alice] sees alice expire')
    expect(index('[bob] publish chat/hello: hi alice!')).toBeLessThan(
      index('[alice] got event chat/hello: hi alice!'),
    )
    expect(index('[hub] stopped')).toBeLessThan(index('[demo] done: every process saw every change'))
  }, 40_000)
})
