/**
 * `concord demo`: a hub and two node processes sharing a store, in ten seconds and with
 * nothing to install: ZeroMQ on loopback, SQLite in a temporary folder. The demo process
 * starts `concord serve` and two `concord demo --role` processes (alice and bob), prints
 * each one's lines with its name in front, and exits 0 once they are done. The two nodes
 * write their lines straight to the demo's own stdout, so they appear in the order they were
 * written: bob's "update counter" before alice's "sees counter = 2". Relayed through a pipe
 * each, they could swap on a loaded machine (the demo reads whichever pipe it gets to first).
 *
 * The roles coordinate through the store itself (each waits to *see* the other's write),
 * never through sleeps.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Change, Store } from '@concord/core'
import type { Command } from './commands/command.js'
import { type CommandContext, line, untilAborted } from './context.js'
import { UsageError } from './errors.js'
import { type NodeSession, withNode } from './session.js'

/** The config the demo's processes share. */
export const DEMO_CONFIG = `# The demo's deployment: ZeroMQ on loopback, SQLite files in this folder.
hub:
  listen: tcp://127.0.0.1:*      # any free port; the hub prints the one it got
transport: zmq
persistence:
  kind: sqlite
  path: data
  durability: relaxed
stores:
  counters: count
  presence:
    schema: string
    expiry: 1s                   # every entry expires a second after its last write
topics:
  chat: string
`

const ROLES = ['alice', 'bob'] as const
type Role = (typeof ROLES)[number]

/** How long the whole demo may take before it gives up. */
const DEADLINE_MS = 60_000

/** Resolves once `test` holds for the store's state or for a change applied after now. */
async function until(
  store: Store<unknown>,
  test: (change: Change<unknown> | undefined) => boolean,
  signal: AbortSignal,
): Promise<void> {
  const changes = store.changes()
  if (test(undefined)) {
    await changes.return?.()
    return
  }
  for await (const change of untilAborted(changes, signal)) if (test(change)) return
  throw new UsageError('stopped while waiting')
}

async function alice(session: NodeSession, say: (text: string) => Promise<void>, signal: AbortSignal) {
  const { store: counters } = await session.open('counters')
  const { store: presence } = await session.open('presence')
  const chat = session.node.subscribe('chat')
  await chat.ready
  await say(`connected to ${session.address}`)
  await say('put counter = 1')
  await counters.put('counter', 1n)
  await until(counters, () => counters.get('counter') === 2n, signal)
  await say('sees counter = 2 (bob incremented it on the hub)')
  await say('put alice = online in presence, which expires after 1s')
  await presence.put('alice', 'online')
  await until(presence, (c) => c?.kind === 'expire' && c.key === 'alice', signal)
  await say('sees alice expire')
  for await (const event of untilAborted(chat, signal)) {
    await say(`got event ${event.topic}: ${String(event.payload)}`)
    break
  }
  chat.unsubscribe()
  await say('done')
}

async function bob(session: NodeSession, say: (text: string) => Promise<void>, signal: AbortSignal) {
  const { store: counters } = await session.open('counters')
  const { store: presence } = await session.open('presence')
  await say(`connected to ${session.address}`)
  await until(counters, () => counters.get('counter') === 1n, signal)
  await say('sees counter = 1')
  await say('update counter: increment by 1')
  await counters.update('counter', 1n, { op: 'increment' })
  await until(presence, () => presence.get('alice') === 'online', signal)
  await say('sees alice = online')
  await until(presence, (c) => c?.kind === 'expire' && c.key === 'alice', signal)
  await say('sees alice expire')
  await say('publish chat/hello: hi alice!')
  await session.node.publish('chat/hello', 'hi alice!')
  await say('done')
}

/** Runs one role in this process. */
async function runRole(
  role: Role,
  input: Parameters<Command['run']>[0],
  ctx: CommandContext,
): Promise<number> {
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(DEADLINE_MS)])
  const tag = input.options.tag
  const say = (text: string) => line(ctx.stdout, typeof tag === 'string' ? `${tag} ${text}` : text)
  return withNode({ ...ctx, signal }, input.globals, async (session) => {
    await (role === 'alice' ? alice : bob)(session, say, signal)
    return 0
  })
}

const COLORS: Record<string, string> = { hub: '36', alice: '32', bob: '35', demo: '33' }

/** Runs the whole demo: the hub and both roles as child processes. */
async function orchestrate(ctx: CommandContext): Promise<number> {
  const color = (ctx.stdout as { isTTY?: boolean }).isTTY === true && ctx.env.NO_COLOR === undefined
  const tag = (name: string) => (color ? `\u001b[${COLORS[name]}m[${name}]\u001b[0m` : `[${name}]`)
  const say = (name: string, text: string) => line(ctx.stdout, `${tag(name)} ${text}`)
  const dir = await mkdtemp(join(tmpdir(), 'concord-demo-'))
  const config = join(dir, 'concord.yaml')
  await writeFile(config, DEMO_CONFIG)
  const bin = fileURLToPath(
    new URL(import.meta.url.endsWith('.ts') ? './bin.ts' : './bin.js', import.meta.url),
  )
  const children = new Set<ChildProcess>()
  // The nodes share this process's stdout when it is the real one (not a test's stream).
  const direct = ctx.stdout === process.stdout
  const start = (name: string, args: string[], shareStdout = false) => {
    const child = spawn(process.execPath, [...process.execArgv, bin, ...args, '--config', config], {
      cwd: ctx.cwd,
      stdio: ['ignore', shareStdout ? 'inherit' : 'pipe', 'pipe'],
      env: { ...ctx.env, NO_COLOR: '1' } as NodeJS.ProcessEnv,
    })
    children.add(child)
    const exited = new Promise<number>((resolve) => {
      child.on('exit', (code, signal) => {
        children.delete(child)
        resolve(code ?? (signal === null ? 1 : 128))
      })
    })
    const lines = shareStdout ? undefined : createInterface({ input: child.stdout! })
    const errors = createInterface({ input: child.stderr! })
    errors.on('line', (text) => void say(name, text))
    return { child, exited, lines }
  }
  const watchdog = setTimeout(() => {
    void say('demo', `still not done after ${DEADLINE_MS / 1000}s: stopping`)
    for (const child of children) child.kill('SIGKILL')
  }, DEADLINE_MS)
  try {
    await say('demo', `a hub and two nodes, alice and bob, in ${dir}`)
    const hub = start('hub', ['serve'])
    const address = await new Promise<string>((resolve, reject) => {
      hub.lines!.on('line', (text) => {
        // The demo stops the hub itself: its "Ctrl-C to stop" would only confuse here.
        if (!text.startsWith('ready;')) void say('hub', text)
        const m = /^listening on (\S+)/.exec(text)
        if (m !== null) resolve(m[1]!)
      })
      void hub.exited.then((code) => reject(new Error(`the hub exited with code ${code} before listening`)))
    })
    const nodes = ROLES.map((role) => {
      const args = ['demo', '--role', role, '--hub', address]
      const node = start(role, direct ? [...args, '--tag', tag(role)] : args, direct)
      node.lines?.on('line', (text) => void say(role, text))
      return node.exited
    })
    const codes = await Promise.all(nodes)
    hub.child.kill('SIGTERM')
    const hubCode = await hub.exited
    const failed = codes.some((code) => code !== 0) || hubCode !== 0
    await say('demo', failed ? 'something went wrong (see above)' : 'done: every process saw every change')
    return failed ? 1 : 0
  } finally {
    clearTimeout(watchdog)
    for (const child of children) child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
}

/** `concord demo`: the ten-second demo (or, with `--role`, one of its nodes). */
export const demo: Command = {
  name: 'demo',
  summary: 'a hub and two node processes sharing a store, in ten seconds (ZeroMQ + SQLite)',
  usage: 'concord demo',
  details:
    'Starts a hub (concord serve) and two nodes, alice and bob, in a temporary folder, prints what each\nsees, and exits when they are done. Nothing to install: ZeroMQ and SQLite are embedded.',
  options: {
    role: { type: 'string', value: 'ROLE', description: 'internal: run one of the demo nodes (alice, bob)' },
    tag: {
      type: 'string',
      value: 'TAG',
      description: 'internal: what a demo node puts in front of each of its lines',
    },
  },
  args: { min: 0, max: 0 },
  async run(input, ctx) {
    const role = input.options.role
    if (role === undefined) return orchestrate(ctx)
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      throw new UsageError(`--role takes ${ROLES.join(' or ')}`)
    }
    return runRole(role as Role, input, ctx)
  },
}
