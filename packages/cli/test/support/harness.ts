/**
 * Running `concord` in this process against hubs the tests start: captured output, a
 * Ctrl-C of our own, and temporary config files.
 *
 * Whatever a test starts here (a child process, a command running in this process) is
 * ended when that test finishes, passed or failed or timed out, so a failing test never
 * leaves a hub running behind it. Commands started outside a test (in `beforeAll`) are the
 * caller's to stop in `afterAll`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, onTestFinished, TestRunner, vi } from 'vitest'
import { type AdapterRegistry, defaultAdapters } from '../../src/adapters.js'
import { run } from '../../src/cli.js'
import { type CommandContext, commandContext, type Output } from '../../src/context.js'

/** How long a command or child may take to stop cleanly at the end of a test before it is killed. */
const GRACE_MS = 5_000

/** Runs `end` when the current test finishes, whatever its outcome; nothing outside a test. */
function endWithTest(end: () => Promise<unknown>): void {
  if (TestRunner.getCurrentTest() !== undefined) onTestFinished(async () => void (await end()))
}

/** `promise`, or undefined once `ms` have passed without it settling. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** An output that keeps what is written. */
export class Captured implements Output {
  text = ''
  write(chunk: string): boolean {
    this.text += chunk
    return true
  }
  once(): this {
    return this
  }
  get lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '')
  }
}

/** One run of `concord` in this process. */
export interface Invocation {
  readonly stdout: Captured
  readonly stderr: Captured
  /** Resolves to the exit code. */
  readonly code: Promise<number>
  /** Ctrl-C. */
  stop(): void
}

/** A folder for config files and data, removed by `cleanup`. */
export class Workspace {
  private constructor(readonly dir: string) {}

  static async create(): Promise<Workspace> {
    return new Workspace(await mkdtemp(join(tmpdir(), 'concord-cli-test-')))
  }

  /** Writes a file in the workspace; returns its path. */
  async file(name: string, text: string): Promise<string> {
    const path = join(this.dir, name)
    await writeFile(path, text)
    return path
  }

  cleanup(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true })
  }
}

/** Runs `concord` commands in this process with one adapter registry (so memory transports meet). */
export class Cli {
  readonly adapters: AdapterRegistry

  constructor(
    readonly cwd: string,
    readonly context: Partial<CommandContext> = {},
  ) {
    this.adapters = context.adapters ?? defaultAdapters()
  }

  start(argv: readonly string[], extra: Partial<CommandContext> = {}): Invocation {
    const stdout = new Captured()
    const stderr = new Captured()
    const stop = new AbortController()
    const ctx = commandContext({
      stdout,
      stderr,
      signal: stop.signal,
      cwd: this.cwd,
      env: {},
      adapters: this.adapters,
      ...this.context,
      ...extra,
    })
    const code = run(argv, ctx)
    let done = false
    void code.then(() => {
      done = true
    })
    // A command still running when its test ends (the test failed before stopping it) gets a Ctrl-C.
    endWithTest(async () => {
      if (done) return
      stop.abort()
      await within(code, GRACE_MS)
    })
    return { stdout, stderr, code, stop: () => stop.abort() }
  }

  /** Runs to the end; resolves to the output and exit code. */
  async run(
    argv: readonly string[],
    extra: Partial<CommandContext> = {},
  ): Promise<{ code: number; stdout: string; stderr: string; lines: string[] }> {
    const invocation = this.start(argv, extra)
    const code = await invocation.code
    return {
      code,
      stdout: invocation.stdout.text,
      stderr: invocation.stderr.text,
      lines: invocation.stdout.lines,
    }
  }

  /** Starts a long-running command and waits until `ready` appears in its output (failing at once if it exits). */
  async background(
    argv: readonly string[],
    ready: RegExp,
    where: 'stdout' | 'stderr' = 'stdout',
  ): Promise<Invocation> {
    const invocation = this.start(argv)
    const exited = invocation.code.then((code) => {
      throw new Error(`exited with ${code}: ${invocation.stdout.text}${invocation.stderr.text}`)
    })
    const seen = vi.waitFor(() => expect(invocation[where].text).toMatch(ready), {
      timeout: 10_000,
      interval: 5,
    })
    await Promise.race([seen, exited])
    exited.catch(() => {})
    return invocation
  }
}

const BIN = fileURLToPath(new URL('../../src/bin.ts', import.meta.url))
const LOADER = fileURLToPath(new URL('./register-ts.mjs', import.meta.url))

/** `concord` running as a child process (from the TypeScript sources). */
export interface Child {
  readonly process: ChildProcess
  readonly exit: Promise<number | NodeJS.Signals>
  stdout: string
  stderr: string
}

/** Ends a child: SIGTERM (a clean stop), then SIGKILL if it has not exited within {@link GRACE_MS}. */
async function end(child: Child): Promise<void> {
  const running = () => child.process.exitCode === null && child.process.signalCode === null
  if (!running()) return
  child.process.kill('SIGTERM')
  if ((await within(child.exit, GRACE_MS)) === undefined && running()) {
    child.process.kill('SIGKILL')
    await child.exit
  }
}

/** Spawns `concord ARGS` in `cwd` (see {@link tsProcess}). */
export function concord(args: readonly string[], cwd: string, env: Record<string, string> = {}): Child {
  return tsProcess(BIN, args, cwd, env)
}

/**
 * Runs the TypeScript file `entry` of this repository (from source) as a child process with
 * `args`, collecting its output. Called in a test, the child is ended when the test finishes
 * if it is still running then.
 */
export function tsProcess(
  entry: string,
  args: readonly string[],
  cwd: string,
  env: Record<string, string> = {},
): Child {
  const child = spawn(process.execPath, ['--conditions=concord-source', '--import', LOADER, entry, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const result: Child = {
    process: child,
    exit: new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal!))),
    stdout: '',
    stderr: '',
  }
  child.stdout!.on('data', (chunk: Buffer) => {
    result.stdout += chunk.toString()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    result.stderr += chunk.toString()
  })
  endWithTest(() => end(result))
  return result
}

/** Starts `concord serve` as a child process; resolves once it is ready, with the address it listens on. */
export async function serveProcess(
  args: readonly string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ child: Child; address: string; stop(): Promise<number | NodeJS.Signals> }> {
  const child = concord(['serve', ...args], cwd, env)
  let exited = false
  void child.exit.then(() => {
    exited = true
  })
  await vi.waitFor(
    () => {
      if (exited) throw new Error(`serve exited: ${child.stdout}${child.stderr}`)
      expect(child.stdout).toContain('ready; Ctrl-C to stop')
    },
    { timeout: 15_000, interval: 20 },
  )
  const address = /^listening on (\S+)/m.exec(child.stdout)![1]!
  return {
    child,
    address,
    stop: () => {
      child.process.kill('SIGTERM')
      return child.exit
    },
  }
}
