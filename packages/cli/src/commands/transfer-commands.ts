/**
 * Bulk transfer: `concord import STORE FILE` and `concord export STORE [FILE]`.
 *
 * @module
 */
import { constants, createReadStream, createWriteStream } from 'node:fs'
import { access, open } from 'node:fs/promises'
import { isAbsolute, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream'
import { finished } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { isConcordError, type Store, type StoreWriter } from '@concord/core'
import { type AnySchemaType, fromJson } from '@concord/schema'
import type { StoreDefinition } from '../config.js'
import { type CommandContext, line, type Output, untilAborted, write } from '../context.js'
import { InterruptedError, UsageError } from '../errors.js'
import { count, formatValue } from '../format.js'
import { formatKvLine, parseKvLine } from '../kv-line.js'
import { hasHumanForm, parseValue, unwrap } from '../parse-value.js'
import { withNode } from '../session.js'
import { pick, RecordBuilder, ZeekTsvReader, zeekJsonRow } from '../zeek-log.js'
import { type Command, positiveInteger, reason } from './command.js'
import { entryJson, expiryOf } from './store-commands.js'

/** Input formats of `import`. */
export type ImportFormat = 'zeek' | 'json' | 'kv'

const FORMATS: readonly ImportFormat[] = ['zeek', 'json', 'kv']
const SHOWN_ERRORS = 10
/** Errors that are about the link or the hub, not the row: they stop an import. */
const STOPPING = ['ERR_UNAVAILABLE', 'ERR_CLOSED', 'ERR_FORBIDDEN', 'ERR_PERSISTENCE']

/** What an import did. */
export interface ImportResult {
  readonly rows: number
  readonly errors: number
  readonly seconds: number
  readonly interrupted: boolean
  /** A later header that no longer fits the store ended the import at this line. */
  readonly stoppedAt?: { readonly line: number; readonly reason: string }
}

/**
 * Decides the format from the first line: `#` a Zeek TSV header, `{` (after spaces) JSON,
 * else `key<TAB>value` (whose keys `export` escapes so that none starts like the others).
 */
export function sniffFormat(first: string): ImportFormat {
  if (first.startsWith('#')) return 'zeek'
  if (/^ *\{/.test(first)) return 'json'
  return 'kv'
}

/**
 * The first line of the input without a UTF-8 byte order mark (an editor's, which would make a
 * Zeek header look like a key<TAB>value line). Gzip-compressed input (from stdin: a file is
 * decompressed when it is read) is refused with what to do instead of a flood of bad rows.
 */
function firstLine(text: string): string {
  // The magic bytes 1f 8b, read as UTF-8 text.
  if (text.startsWith('\u001f\ufffd')) {
    throw new UsageError(
      'the input is gzip-compressed: give the file by name (it is decompressed as it is read), or decompress it first (zcat FILE | concord import STORE -)',
    )
  }
  return text.startsWith('\ufeff') ? text.slice(1) : text
}

/** A key of an imported row: the `--key` field's value (human form), or the line number. */
function keyOf(
  builder: RecordBuilder | undefined,
  keyField: string | undefined,
  row: unknown,
  lineNo: number,
): string {
  if (keyField === undefined) return String(lineNo)
  const value = pick(row, keyField)
  if (value === undefined) throw new UsageError(`the row has no value for the key field '${keyField}'`)
  const schema = builder?.field(keyField)
  return typeof value === 'string' ? value : formatValue(schema, value)
}

/** Splits an exported line `{"key":K,"value":V}` keeping V's text, so big integers stay exact. */
function exportedEntry(text: string): { key: string; value: string } | undefined {
  const m = /^\{\s*"key"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"value"\s*:\s*([\s\S]*)\}\s*$/.exec(text)
  if (m === null) return undefined
  return { key: JSON.parse(m[1]!) as string, value: m[2]! }
}

interface Parsed {
  readonly key: string
  readonly value: unknown
}

/** Turns lines into entries for one store, in one format. */
class LineParser {
  readonly #builder: RecordBuilder | undefined
  readonly #tsv: ZeekTsvReader | undefined

  constructor(
    readonly def: StoreDefinition,
    readonly store: string,
    readonly format: ImportFormat,
    readonly keyField: string | undefined,
  ) {
    const isRecord = unwrap(def.schema).def.kind === 'record'
    if (format === 'zeek') {
      this.#builder = new RecordBuilder(def.schema, store)
      this.#tsv = new ZeekTsvReader(this.#builder)
    } else if (isRecord) this.#builder = new RecordBuilder(def.schema, store)
    if (keyField !== undefined) {
      if (format === 'kv')
        throw new UsageError('--key does not apply to key<TAB>value input: the keys are in the file')
      if (this.#builder === undefined || this.#builder.field(keyField) === undefined) {
        throw new UsageError(`--key ${keyField}: store '${store}' has no such field`)
      }
    }
  }

  /** Whether a line is a header or blank (no entry; a key<TAB>value line never is). */
  skip(text: string): boolean {
    if (text.trim() === '') return this.format !== 'kv' || !text.includes('\t')
    if (this.#tsv !== undefined) return this.#tsv.headerLine(text)
    return false
  }

  /** Throws `UsageError` when the input cannot fit the store at all (checked before each row; cheap once done). */
  ready(): void {
    this.#tsv?.prepare()
  }

  parse(text: string, lineNo: number): Parsed {
    const schema = this.def.schema
    switch (this.format) {
      case 'zeek': {
        const row = this.#tsv!.row(text)
        return { key: keyOf(this.#builder, this.keyField, row, lineNo), value: row }
      }
      case 'kv': {
        const { key, value: raw } = parseKvLine(text)
        // Never sniffed: a string, or a set's first quoted element, may start with `{"`.
        if (hasHumanForm(schema)) return { key, value: parseValue(schema, raw) }
        if (!raw.trimStart().startsWith('{')) {
          throw new UsageError(
            `the values of store '${this.store}' have no human form to read back: export them with --json (or write each value as Zeek JSON)`,
          )
        }
        return { key, value: fromJson(schema, raw) }
      }
      case 'json': {
        const exported = exportedEntry(text)
        if (exported !== undefined) return { key: exported.key, value: fromJson(schema, exported.value) }
        if (/^\s*\{\s*"@data-type"/.test(text)) {
          const value = fromJson(schema, text)
          return { key: keyOf(this.#builder, this.keyField, value, lineNo), value }
        }
        if (this.#builder === undefined) {
          throw new UsageError('expected Zeek JSON ({"@data-type": …}) or {"key": …, "value": …}')
        }
        let object: unknown
        try {
          object = JSON.parse(text)
        } catch (error) {
          throw new UsageError(`not JSON: ${(error as Error).message}`)
        }
        if (typeof object !== 'object' || object === null || Array.isArray(object)) {
          throw new UsageError('expected a JSON object')
        }
        exactIntegers(object as Record<string, unknown>, text)
        const row = zeekJsonRow(this.#builder, object as Record<string, unknown>)
        return { key: keyOf(this.#builder, this.keyField, row, lineNo), value: row }
      }
    }
  }
}

/** Options of {@link importLines}. */
export interface ImportOptions {
  readonly format?: ImportFormat
  readonly keyField?: string
  /** Writes in flight at once. Default 1000. */
  readonly inFlight?: number
  readonly expiry?: string
}

function rate(rows: number, seconds: number): string {
  return seconds > 0 ? `${Math.round(rows / seconds)} rows/s` : '-'
}

/** Whether `x` is an integer that `JSON.parse` may have rounded. */
function unsafeInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && !Number.isSafeInteger(x)
}

/**
 * `JSON.parse` rounds integers past 2^53 (a count is 64 bits): reads those again from the
 * line's text, exactly, both as values (`"orig_bytes":…`) and as elements of an array of
 * numbers (`"counts":[…]`). Zeek's JSON logs are flat (`"id.orig_h"`); a nested one that
 * large, or one in an array that holds more than numbers, is refused rather than rounded.
 */
function exactIntegers(object: Record<string, unknown>, text: string, nested = false): void {
  for (const [name, value] of Object.entries(object)) {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      exactIntegers(value as Record<string, unknown>, text, true)
      continue
    }
    const isArray = Array.isArray(value)
    if (isArray ? !value.some(unsafeInteger) : !unsafeInteger(value)) continue
    const key = JSON.stringify(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    const shape = isArray ? '\\[([-+.\\deE\\s,]*)\\]' : '(-?\\d+)(?![.\\deE])'
    const match = nested ? null : new RegExp(`(?<!\\\\)${key}\\s*:\\s*${shape}`).exec(text)
    const refuse = (n: number) =>
      new UsageError(`field '${name}': ${n} is past 2^53 and cannot be read exactly`)
    if (match === null) throw refuse(isArray ? value.find(unsafeInteger)! : (value as number))
    if (!isArray) {
      object[name] = BigInt(match[1]!)
      continue
    }
    const literals = match[1]!.split(',').map((x) => x.trim())
    object[name] = value.map((x, i) => {
      if (!unsafeInteger(x)) return x
      const literal = literals[i]
      if (literals.length !== value.length || literal === undefined || !/^-?\d+$/.test(literal))
        throw refuse(x)
      return BigInt(literal)
    })
  }
}

/**
 * Writes every entry of `lines` into `store`, keeping at most `inFlight` writes pending,
 * reporting progress on stderr every second and the first errors with their line numbers.
 */
export async function importLines(
  ctx: CommandContext,
  store: Pick<StoreWriter<unknown>, 'put'>,
  def: StoreDefinition,
  name: string,
  lines: AsyncIterable<string>,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const started = ctx.now()
  const limit = options.inFlight ?? 1000
  const pending = new Set<Promise<void>>()
  let parser: LineParser | undefined
  let rows = 0
  let errors = 0
  let lineNo = 0
  let stoppedAt: ImportResult['stoppedAt']
  // Trouble with the hub rather than with a row ends the import: every later row would fail too.
  let stopped: unknown
  const fail = (at: number, error: unknown) => {
    if (STOPPING.some((code) => isConcordError(error, code))) {
      stopped ??= error
      return
    }
    errors++
    if (errors <= SHOWN_ERRORS) void line(ctx.stderr, `line ${at}: ${reason(error)}`)
    else if (errors === SHOWN_ERRORS + 1) void line(ctx.stderr, 'more errors are counted, not shown')
  }
  const progress = setInterval(() => {
    const seconds = (ctx.now() - started) / 1000
    void line(ctx.stderr, `${name}: ${rows} rows, ${rate(rows, seconds)}, ${count(errors, 'error')}`)
  }, ctx.progressEvery ?? 1000)
  // A read error (a truncated .gz, a disk error) ends the import there, the rows before it kept.
  let readError: unknown
  const source = lines[Symbol.asyncIterator]()
  const reading: AsyncIterator<string> = {
    next: () =>
      source.next().catch((error: unknown) => {
        readError = error
        return { done: true, value: undefined }
      }),
    return: async () => (await source.return?.()) ?? { done: true, value: undefined },
  }
  try {
    // Ends on Ctrl-C even while waiting for a line (`tail -f conn.log | concord import …`).
    for await (let text of untilAborted(reading, ctx.signal)) {
      lineNo++
      if (ctx.signal.aborted || stopped !== undefined) break
      if (parser === undefined) text = firstLine(text)
      parser ??= new LineParser(def, name, options.format ?? sniffFormat(text), options.keyField)
      if (parser.skip(text)) continue
      rows++
      // A log that does not fit the store fails here, once, instead of on every row. A later
      // header (logs concatenated) that no longer fits ends the import there, rows kept.
      try {
        parser.ready()
      } catch (error) {
        if (rows === 1) throw error
        rows--
        stoppedAt = { line: lineNo, reason: reason(error) }
        break
      }
      let entry: Parsed
      try {
        entry = parser.parse(text, lineNo)
      } catch (error) {
        fail(lineNo, error)
        continue
      }
      const at = lineNo
      const write = store
        .put(entry.key, entry.value, options.expiry === undefined ? {} : { expiry: options.expiry })
        .then(
          () => {},
          (error: unknown) => fail(at, error),
        )
        .finally(() => pending.delete(write))
      pending.add(write)
      if (pending.size >= limit) await Promise.race(pending)
    }
    await Promise.all(pending)
  } finally {
    clearInterval(progress)
  }
  if (stopped !== undefined) throw stopped
  if (readError !== undefined) {
    const why = `the input could not be read: ${reason(readError)}`
    if (lineNo === 0) throw new UsageError(why, { cause: readError })
    stoppedAt ??= { line: lineNo + 1, reason: why }
  }
  const seconds = (ctx.now() - started) / 1000
  return {
    rows,
    errors,
    seconds,
    interrupted: ctx.signal.aborted,
    ...(stoppedAt === undefined ? {} : { stoppedAt }),
  }
}

/**
 * The lines of FILE (`-`: stdin). The iterator is taken at once: readline drops lines
 * emitted before anyone iterates.
 */
async function inputLines(ctx: CommandContext, file: string): Promise<AsyncIterable<string>> {
  let input: NodeJS.ReadableStream
  if (file === '-') input = ctx.stdin ?? process.stdin
  else {
    const path = resolvePath(ctx, file)
    try {
      await access(path, constants.R_OK)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      throw new UsageError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code}`, {
        cause: error,
      })
    }
    input = (await isGzip(path)) ? gunzip(createReadStream(path)) : createReadStream(path)
  }
  const iterator = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]()
  return { [Symbol.asyncIterator]: () => iterator }
}

/** Whether the file starts with gzip's magic bytes (Zeek's rotated logs are `.log.gz`). */
async function isGzip(path: string): Promise<boolean> {
  const file = await open(path, 'r')
  try {
    const { bytesRead, buffer } = await file.read(Buffer.alloc(2), 0, 2, 0)
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b
  } catch {
    return false // a folder, say: reading it fails with its own error
  } finally {
    await file.close()
  }
}

/** `compressed` decompressed; an error of either (a truncated file) ends the result with it. */
function gunzip(compressed: NodeJS.ReadableStream): NodeJS.ReadableStream {
  const out = createGunzip()
  pipeline(compressed, out, () => {})
  return out
}

function resolvePath(ctx: CommandContext, file: string): string {
  return isAbsolute(file) ? file : resolve(ctx.cwd, file)
}

/** `concord import STORE FILE`: bulk load with bounded in-flight writes and progress. */
export const importCommand: Command = {
  name: 'import',
  summary: 'load a Zeek log, JSON lines or key<TAB>value lines into a store',
  usage:
    'concord import STORE FILE [--key FIELD] [--format zeek|json|kv] [--in-flight N] [--expiry DURATION]',
  details: `FILE (- for stdin) is a Zeek TSV log (#fields/#types header), JSON lines (Zeek JSON values,
{"key":…,"value":…} as export writes them, or Zeek's JSON log lines) or key<TAB>value lines
(values in human form; \\\\ and \\xNN escapes). The format is guessed from the first line.
Keys come from --key FIELD (e.g. uid) or are the line numbers. Progress on stderr every second;
exit 1 if any row failed.`,
  options: {
    key: {
      type: 'string',
      value: 'FIELD',
      description: 'the record field whose value is the key (a.b for nested)',
    },
    format: { type: 'string', value: 'FORMAT', description: 'zeek, json or kv (default: guessed)' },
    'in-flight': { type: 'string', value: 'N', description: 'writes pending at once (default 1000)' },
    expiry: { type: 'string', value: 'DURATION', description: 'expiry of every imported entry' },
  },
  args: { min: 2, max: 2 },
  async run({ globals, args, options }, ctx) {
    const [name, file] = args as [string, string]
    const format = options.format
    if (format !== undefined && !(FORMATS as readonly unknown[]).includes(format)) {
      throw new UsageError(`--format takes ${FORMATS.join(', ')}; got ${JSON.stringify(format)}`)
    }
    const inFlight = positiveInteger(options['in-flight'], 'in-flight', 1000)
    const keyField = typeof options.key === 'string' ? options.key : undefined
    const { expiry } = expiryOf(options.expiry)
    return withNode(ctx, globals, async (session) => {
      const def = session.store(name)
      // A write-only handle: no snapshot of the store is taken to write into it.
      const { writer } = await session.writer(name)
      const lines = await inputLines(ctx, file)
      const result = await importLines(ctx, writer, def, name, lines, {
        inFlight,
        ...(format === undefined ? {} : { format: format as ImportFormat }),
        ...(keyField === undefined ? {} : { keyField }),
        ...(expiry === undefined ? {} : { expiry }),
      })
      const summary = `imported ${result.rows - result.errors} of ${result.rows} rows into ${name} in ${result.seconds.toFixed(1)}s (${rate(result.rows, result.seconds)}), ${count(result.errors, 'error')}`
      if (globals.json) {
        await line(
          ctx.stdout,
          JSON.stringify({
            rows: result.rows,
            errors: result.errors,
            seconds: result.seconds,
          }),
        )
      } else await line(ctx.stderr, summary)
      if (result.interrupted) throw new InterruptedError(`import interrupted after ${result.rows} rows`)
      if (result.stoppedAt !== undefined) {
        const { line: at, reason: why } = result.stoppedAt
        await line(ctx.stderr, `line ${at}: ${why}; stopped there (the rows before it were imported)`)
        return 1
      }
      return result.errors > 0 ? 1 : 0
    })
  },
}

/** Writes every entry of `store` (sorted by key) to `out`; resolves to the count. */
export async function exportEntries(
  store: Store<unknown>,
  schema: AnySchemaType,
  out: Output,
  json: boolean,
  signal: AbortSignal,
): Promise<number> {
  let count = 0
  for (const key of [...store.keys()].sort()) {
    if (signal.aborted) throw new InterruptedError(`export interrupted after ${count} entries`)
    if (!store.has(key)) continue
    const value = store.get(key)
    await write(
      out,
      `${json ? entryJson(schema, key, value) : formatKvLine(key, formatValue(schema, value))}\n`,
    )
    count++
  }
  return count
}

/** `concord export STORE [FILE]`: every entry, sorted, with the count at the end. */
export const exportCommand: Command = {
  name: 'export',
  summary: 'write every entry of a store, as key<TAB>value or JSON lines',
  usage: 'concord export STORE [FILE] [--prefix P] [--json]',
  details:
    'Sorted by key. Default: key<TAB>value in human form, backslashes and control characters escaped\n(\\\\, \\xNN); records and tables need --json: {"key":…,"value":<Zeek JSON>} per line. import reads\neither back exactly. Without FILE, to stdout. The count goes to stderr at the end.',
  options: { prefix: { type: 'string', value: 'P', description: 'only keys starting with P' } },
  args: { min: 1, max: 2 },
  async run({ globals, args, options }, ctx) {
    const [name, file] = args as [string, string | undefined]
    const prefix = typeof options.prefix === 'string' ? options.prefix : undefined
    return withNode(ctx, globals, async (session) => {
      const { store, def } = await session.open(name, prefix)
      let n: number
      if (file === undefined || file === '-') {
        n = await exportEntries(store, def.schema, ctx.stdout, globals.json, ctx.signal)
      } else {
        const path = resolvePath(ctx, file)
        const out = createWriteStream(path)
        try {
          n = await exportEntries(store, def.schema, out, globals.json, ctx.signal)
        } finally {
          out.end()
          await finished(out)
        }
      }
      await line(
        ctx.stderr,
        `exported ${count(n, 'entry', 'entries')} from ${name}${file === undefined || file === '-' ? '' : ` to ${file}`}`,
      )
      return 0
    })
  },
}
