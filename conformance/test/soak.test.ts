/**
 * A short run of the chaos soak (soak/soak.mjs; the long runs are in the README's Development
 * table): a hub and two node processes over ZeroMQ with SQLite (one with clones, one with
 * write-only handles), a seeded workload with up to 500 writes in flight, and in one phase a
 * kill -9 of the hub and its restart on the same folder, a SIGSTOP of a clone, a kill -9 of a
 * node and cuts of one node's links. The soak itself checks the invariants (every
 * acknowledged write in the master at its seq or replaced by a later one, deadlines as the
 * writes set them, counters and append logs exact, clones equal to the master, no crash, no
 * unhandled rejection, the nodes' counters agree with it) and exits
 * non-zero with what broke; this test asserts it passed. Runs the built packages.
 */
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'

const SOAK = new URL('./soak/soak.mjs', import.meta.url).pathname

function runSoak(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SOAK, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    })
    let output = ''
    child.stdout.on('data', (data) => (output += data))
    child.stderr.on('data', (data) => (output += data))
    child.on('exit', (code) => resolve({ code, output }))
  })
}

describe('chaos soak, short', () => {
  it('S6.4 S6.3 S3.4 S3.2 S3.7 S4.2 a kill -9 of the hub, a stopped clone, a killed node and cut links lose no acknowledged write, through clones and write-only handles, and every clone converges', async () => {
    const { code, output } = await runSoak([
      '--combo',
      'zmq-sqlite',
      '--seed',
      '20261207',
      '--nodes',
      '2',
      '--phases',
      '1',
      '--phase-seconds',
      '6',
      '--write-only',
      '1',
      '--chaos',
      'hubKill,cloneStop,nodeKill,linkFlap',
      '--brief',
    ])
    expect(output).toMatch(/SOAK OK/)
    expect(code).toBe(0)
    // The chaos happened, and writes were acknowledged across it.
    const chaos = JSON.parse(/chaos (\{.*\})/.exec(output)?.[1] ?? '{}')
    expect(chaos).toEqual({ hubKill: 1, cloneStop: 1, nodeKill: 1, linkFlap: 1 })
    const acked = Number(/writes acked (\d+)/.exec(output)?.[1])
    expect(acked).toBeGreaterThan(1000)
    // Each node's node.metrics, over its processes (the killed one asked before the kill), and
    // checked by the soak (no write lost under 'sync', no refusal from a correct hub, …).
    const sent = [
      ...output.matchAll(
        /node metrics of node\d(?: \(write-only\))? \(\d process(?:es)?\): .*\bwritesSent (\d+)/g,
      ),
    ]
    expect(sent).toHaveLength(2)
    expect(sent.reduce((sum, m) => sum + Number(m[1]), 0)).toBeGreaterThanOrEqual(acked)
    // The second node wrote through write-only handles (node.writer) under the same chaos.
    expect(output).toMatch(/node metrics of node2 \(write-only\) \(\d process(?:es)?\): .*\bwritesSent [1-9]/)
    expect(output).toMatch(/node metrics of viewer \(\d process(?:es)?\): .*\blinksUp [1-9]/)
  }, 60_000)
})
