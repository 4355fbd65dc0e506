/**
 * The smallest string greater than every string that starts with `prefix`, in the order
 * SQLite compares TEXT with its default BINARY collation (the byte order of UTF-8, which is
 * code point order); `undefined` when there is none (the empty prefix, or one made only of
 * U+10FFFF), meaning "no upper bound".
 *
 * It is `prefix` with its last code point incremented, dropping trailing U+10FFFF first and
 * skipping the surrogate range, which UTF-8 cannot encode. Lone surrogates, which SQLite
 * receives as U+FFFD, are replaced the same way first.
 */
export function prefixEnd(prefix: string): string | undefined {
  // Iterating a string yields code points; a lone surrogate comes out alone.
  const codePoints = Array.from(prefix, (char) => {
    const code = char.codePointAt(0)!
    return code >= 0xd800 && code <= 0xdfff ? 0xfffd : code
  })
  while (codePoints.length > 0) {
    const last = codePoints.pop()!
    if (last < 0x10ffff) {
      codePoints.push(last === 0xd7ff ? 0xe000 : last + 1)
      return codePoints.map((code) => String.fromCodePoint(code)).join('')
    }
  }
  return undefined
}
