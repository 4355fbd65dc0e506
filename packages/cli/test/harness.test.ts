/**
 * The test harness itself: what a test starts and does not stop (it failed, or timed out,
 * before its own cleanup) is ended when the test finishes, so no hub outlives its test.
 * The second test of each pair checks what the first one left behind: tests in a file run
 * in order.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type Child, Cli, type Invocation, serveProcess, Workspace } from './support/harness.js'

let ws: Workspace

beforeAll(async () => {
  ws = await Workspace.create()
  await ws.file(
    'concord.yaml',
    'hub:\n  listen: tcp://127.0.0.1:0\ntransport: zmq\npersistence: memory\nstores:\n  s: string\n',
  )
})

afterAll(async () => {
  await ws.cleanup()
})

describe('a test that ends without stopping what it started', () => {
  let child: Child | undefined
  let invocation: Invocation | undefined

  test('starts `concord serve` as a child process and in this process, and stops neither', async () => {
    child = (await serveProcess([], ws.dir)).child
    invocation = await new Cli(ws.dir).background(['serve', '--listen', 'tcp://127.0.0.1:0'], /ready/)
    expect(child.process.exitCode).toBeNull()
  })

  test('leaves nothing running: the child got SIGTERM and exited cleanly, the command a Ctrl-C', async () => {
    expect(child?.process.pid).toBeDefined()
    expect(() => process.kill(child!.process.pid!, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }))
    expect(await child!.exit).toBe(0)
    expect(child!.stdout).toMatch(/stopping…\nstopped\n$/)
    expect(invocation?.stdout.lines.slice(-2)).toEqual(['stopping…', 'stopped'])
    expect(await invocation!.code).toBe(0)
  })
})
