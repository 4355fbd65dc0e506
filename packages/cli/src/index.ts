/**
 * `@concord/cli`: the `concord` command, and its parts for programs that want them (the
 * config loader, the Zeek type parser, the value formatter).
 *
 * @module
 */
export {
  type AdapterContext,
  type AdapterOptions,
  type AdapterRegistry,
  DEFAULT_PERSISTENCE,
  DEFAULT_TRANSPORT,
  defaultAdapters,
  type OptionSpec,
  type OptionsSpec,
  type OptionType,
  type PersistenceAdapter,
  type TransportAdapter,
} from './adapters.js'
export { commands, helpText, run } from './cli.js'
export type { Command, CommandInput, OptionDef } from './commands/command.js'
export { type RunningHub, startHub } from './commands/serve.js'
export { type ImportOptions, type ImportResult, importLines } from './commands/transfer-commands.js'
export {
  type AdapterChoice,
  type ConcordConfig,
  type ConfigOptions,
  DEFAULT_CONFIG_FILE,
  loadConfig,
  parseConfig,
  type StoreDefinition,
  type TopicDefinition,
} from './config.js'
export { type CommandContext, commandContext, type Output } from './context.js'
export { DEMO_CONFIG } from './demo.js'
export {
  ConfigError,
  type ConfigProblem,
  type ExitCode,
  ExitCodes,
  exitCodeOf,
  InterruptedError,
  NotFoundError,
  TypeSyntaxError,
  UsageError,
} from './errors.js'
export { formatInterval, formatTime, formatValue } from './format.js'
export { hasHumanForm, type ParseValueOptions, parseInput, parseValue } from './parse-value.js'
export { type GlobalOptions, NodeSession, withNode } from './session.js'
export { readZeekTsv, type ZeekTsvRow } from './zeek-log.js'
export { formatZeekType, type ParseTypeOptions, parseZeekType } from './zeek-types.js'
