/**
 * The command line: parses argv with `node:util` `parseArgs`, dispatches to a command, and
 * turns what it throws into one line on stderr and an exit code. No stack traces unless
 * `--debug`.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { isConcordError } from '@concord/core'
import { type Command, durationOption, type OptionDef } from './commands/command.js'
import { conformance } from './commands/conformance.js'
import { pub, sub } from './commands/event-commands.js'
import { keygen } from './commands/keygen.js'
import { serve } from './commands/serve.js'
import { get, keys, put, rm, update, watch } from './commands/store-commands.js'
import { exportCommand, importCommand } from './commands/transfer-commands.js'
import { type CommandContext, line } from './context.js'
import { demo } from './demo.js'
import { ExitCodes, exitCodeOf, UsageError } from './errors.js'
import type { GlobalOptions } from './session.js'

/** Every command, in the order help lists them. */
export const commands: readonly Command[] = [
  serve,
  get,
  put,
  rm,
  update,
  keys,
  watch,
  pub,
  sub,
  importCommand,
  exportCommand,
  keygen,
  demo,
  conformance,
]

const GLOBAL_OPTIONS: Readonly<Record<string, OptionDef>> = {
  config: {
    type: 'string',
    short: 'c',
    value: 'FILE',
    description: 'the config file (default ./concord.yaml or $CONCORD_CONFIG)',
  },
  hub: { type: 'string', value: 'ADDRESS', description: "the hub to connect to, over the config's" },
  identity: { type: 'string', value: 'NAME', description: "the identity to present, over the config's" },
  timeout: { type: 'string', value: 'DURATION', description: 'how long to wait for the hub (default 10s)' },
  json: { type: 'boolean', description: 'Zeek JSON in and out, one object per line' },
  debug: { type: 'boolean', description: 'show stack traces on errors' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
  version: { type: 'boolean', short: 'v', description: 'show the version' },
}

/** Marks an argument that looks like an option but is a negative number. */
const NEGATIVE = '\u0000'

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    return pkg.version
  } catch {
    return 'unknown'
  }
}

function optionLines(options: Readonly<Record<string, OptionDef>>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.value === undefined ? '' : ` ${o.value}`}`
    return [flag, o.description] as const
  })
  const width = Math.max(...rows.map(([flag]) => flag.length))
  return rows.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`)
}

/** The help text: the command list, or one command's. */
export function helpText(command?: Command): string {
  if (command !== undefined) {
    const parts = [`usage: ${command.usage}`, '', command.summary]
    if (command.details !== undefined) parts.push('', command.details)
    if (command.options !== undefined) parts.push('', 'options:', ...optionLines(command.options))
    parts.push('', 'global options:', ...optionLines(GLOBAL_OPTIONS))
    return parts.join('\n')
  }
  const width = Math.max(...commands.map((c) => c.name.length))
  return [
    'concord: distributed key/value stores and events for clusters of Node.js processes',
    '',
    'usage: concord COMMAND [ARGS] [OPTIONS]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    "'concord help COMMAND' for a command's arguments and options.",
    'exit codes: 0 ok, 1 failed, 2 bad usage or config, 3 not found, 130 interrupted',
  ].join('\n')
}

/** The index of the command name in argv: the first argument that is not a global option or its value. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') return i + 1 < argv.length ? i + 1 : -1
    if (!arg.startsWith('-') || arg === '-') return i
    if (arg.includes('=')) continue
    const name = arg.startsWith('--')
      ? arg.slice(2)
      : Object.entries(GLOBAL_OPTIONS).find(([, o]) => `-${o.short}` === arg)?.[0]
    if (name !== undefined && GLOBAL_OPTIONS[name]?.type === 'string') i++
  }
  return -1
}

function findCommand(name: string): Command {
  const command = commands.find((c) => c.name === name)
  if (command !== undefined) return command
  const names = commands.map((c) => c.name)
  const guess = names.find((n) => n.startsWith(name) || name.startsWith(n))
  throw new UsageError(
    `unknown command '${name}'${guess === undefined ? '' : ` (did you mean '${guess}'?)`}; commands: ${names.join(', ')}`,
  )
}

/**
 * Runs `concord` with `argv` (without node and the script) and resolves to the exit code.
 * Never rejects: errors become a message on stderr.
 */
export async function run(argv: readonly string[], ctx: CommandContext): Promise<number> {
  const debug = argv.includes('--debug')
  try {
    return await dispatch(argv, ctx)
  } catch (error) {
    await report(ctx, error, debug)
    return exitCodeOf(error)
  }
}

async function dispatch(argv: readonly string[], ctx: CommandContext): Promise<number> {
  const at = commandIndex(argv)
  if (at < 0) {
    const { values } = parseArgs({ args: [...argv], options: toParseArgs(GLOBAL_OPTIONS), strict: false })
    if (values.version === true) {
      await line(ctx.stdout, version())
      return ExitCodes.OK
    }
    await line(values.help === true ? ctx.stdout : ctx.stderr, helpText())
    return values.help === true ? ExitCodes.OK : ExitCodes.USAGE
  }
  const name = argv[at]!
  if (name === 'help') {
    const topic = argv[at + 1]
    await line(ctx.stdout, helpText(topic === undefined ? undefined : findCommand(topic)))
    return ExitCodes.OK
  }
  const command = findCommand(name)
  // Negative numbers (`-3`, `-1.5s`) are values, not options: hide them from parseArgs.
  const rest = [...argv.slice(0, at), ...argv.slice(at + 1)].map((arg) =>
    /^-[\d.]/.test(arg) ? `${NEGATIVE}${arg}` : arg,
  )
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: rest,
      options: toParseArgs({ ...GLOBAL_OPTIONS, ...(command.options ?? {}) }),
      strict: true,
      allowPositionals: true,
    })
  } catch (error) {
    throw new UsageError(
      `${(error as Error).message.replace(/\. To specify a positional[\s\S]*$/, '')} (see 'concord help ${command.name}')`,
      {
        cause: error,
      },
    )
  }
  const values = Object.fromEntries(
    Object.entries(parsed.values).map(([k, v]) => [k, typeof v === 'string' ? v.replace(NEGATIVE, '') : v]),
  ) as Record<string, string | boolean | undefined>
  if (values.help === true) {
    await line(ctx.stdout, helpText(command))
    return ExitCodes.OK
  }
  const args = parsed.positionals.map((arg) => arg.replace(NEGATIVE, ''))
  if (args.length < command.args.min || args.length > command.args.max) {
    throw new UsageError(
      `${args.length < command.args.min ? 'missing arguments' : 'too many arguments'}: usage: ${command.usage}`,
    )
  }
  const timeout =
    typeof values.timeout === 'string' ? durationOption(values.timeout, 'timeout', 1) : undefined
  const globals: GlobalOptions = {
    json: values.json === true,
    debug: values.debug === true,
    ...(typeof values.config === 'string' ? { config: values.config } : {}),
    ...(typeof values.hub === 'string' ? { hub: values.hub } : {}),
    ...(typeof values.identity === 'string' ? { identity: values.identity } : {}),
    ...(timeout === undefined ? {} : { timeout }),
  }
  const options: Record<string, string | boolean | undefined> = {}
  for (const key of Object.keys(command.options ?? {})) options[key] = values[key]
  const code = await command.run({ globals, args, options }, ctx)
  return code ?? ExitCodes.OK
}

function toParseArgs(
  options: Readonly<Record<string, OptionDef>>,
): Record<string, { type: 'string' | 'boolean'; short?: string }> {
  return Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      o.short === undefined ? { type: o.type } : { type: o.type, short: o.short },
    ]),
  )
}

/** One line (more for config errors) on stderr: `concord: CODE: message`; the stack with --debug. */
async function report(ctx: CommandContext, error: unknown, debug: boolean): Promise<void> {
  const code = isConcordError(error) ? `${error.code}: ` : ''
  const message = error instanceof Error ? error.message : String(error)
  await line(ctx.stderr, `concord: ${code}${message}`)
  if (debug && error instanceof Error) {
    let current: unknown = error
    while (current instanceof Error) {
      await line(ctx.stderr, current.stack ?? String(current))
      current = current.cause
      if (current instanceof Error) await line(ctx.stderr, 'caused by:')
    }
  }
}
