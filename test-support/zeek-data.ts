import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The path of a file of the real Zeek logs that live beside the project
 * (`../shared/data/zeek/`), read from there and never copied in. A clone elsewhere finds them
 * through `CONCORD_ZEEK_DATA` (a folder), a `shared/data/zeek` folder beside any parent
 * folder of the checkout, or the workplace's `/work/shared/data/zeek`. Throws (never skips)
 * when none holds the file.
 */
export function zeekData(file: string): string {
  const candidates: string[] = []
  if (process.env.CONCORD_ZEEK_DATA !== undefined) candidates.push(join(process.env.CONCORD_ZEEK_DATA, file))
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    candidates.push(join(dir, 'shared', 'data', 'zeek', file))
    if (dirname(dir) === dir) break
  }
  candidates.push(resolve('/work/shared/data/zeek', file))
  const found = candidates.find((path) => existsSync(path))
  if (found === undefined) {
    throw new Error(
      `the Zeek sample '${file}' is not beside the project; set CONCORD_ZEEK_DATA. Looked in:\n${candidates.join('\n')}`,
    )
  }
  return found
}
