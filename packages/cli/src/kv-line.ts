/**
 * `KEY<TAB>VALUE` lines, as `concord export` writes them in human form and `concord import`
 * reads them. Both fields are escaped so that any key and any value's human form stay on
 * one line and read back exactly (the rule is in the package README, "Key<TAB>value lines"):
 *
 * - a backslash is written `\\`, and every control character (U+0000 to U+001F, among them
 *   TAB, LF and CR, and U+007F) as `\xNN`, Zeek's escape, which its TSV logs use too;
 * - a key's first character is also written `\xNN` when it is `#`, `{` or a space, so that
 *   no line looks like a Zeek header or a JSON line to import's guess of the format.
 *
 * Reading undoes exactly that: `\\` is a backslash, `\xNN` the character U+00NN, and any
 * other backslash stands for itself (so a hand-written `C:\temp` is read as it is).
 *
 * @module
 */
import { UsageError } from './errors.js'
import { unescapeZeek } from './zeek-log.js'

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
const ESCAPED = /[\\\x00-\x1f\x7f]/g
/** What a key may not start with: a Zeek header (`#`), JSON (`{`, also after spaces). */
const KEY_START = /^[#{ ]/

function hex(c: string): string {
  return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
}

/** One field with backslashes and control characters escaped. */
function escapeField(text: string): string {
  return text.replace(ESCAPED, (c) => (c === '\\' ? '\\\\' : hex(c)))
}

/** The line (without its newline) of `key` and the human form of its value. */
export function formatKvLine(key: string, value: string): string {
  const k = escapeField(key)
  return `${KEY_START.test(k) ? `${hex(k[0]!)}${k.slice(1)}` : k}\t${escapeField(value)}`
}

/** The key and the value's text of a line; a `UsageError` when it has no TAB. */
export function parseKvLine(text: string): { key: string; value: string } {
  const tab = text.indexOf('\t')
  if (tab < 0) throw new UsageError('expected key<TAB>value')
  return { key: unescapeZeek(text.slice(0, tab)), value: unescapeZeek(text.slice(tab + 1)) }
}
