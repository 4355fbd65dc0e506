/**
 * A small JSON parser that keeps integers exact: an integer literal outside the safe range
 * becomes a bigint (where `JSON.parse` would round 2^64-1 to 18446744073709552000). Objects
 * have no prototype, so a `"__proto__"` key is just a key. Iterative, so nesting depth costs
 * heap, not stack.
 *
 * @module
 */

/** Parsed JSON: like `JSON.parse`'s result, with bigints for integers beyond 2^53. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue }

/** Invalid JSON text; `offset` is where the parser stopped. */
export class JsonSyntaxError extends Error {
  readonly offset: number
  constructor(message: string, offset: number) {
    super(`invalid JSON at offset ${offset}: ${message}`)
    this.offset = offset
  }
}

type Container = JsonValue[] | { [key: string]: JsonValue }

/** Parses JSON text. Throws {@link JsonSyntaxError}. */
export function parseJson(text: string): JsonValue {
  const len = text.length
  let i = 0
  const stack: Container[] = []
  const keys: (string | undefined)[] = []

  const fail = (message: string): never => {
    throw new JsonSyntaxError(message, i)
  }
  const ws = (): void => {
    while (i < len) {
      const c = text.charCodeAt(i)
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return
      i++
    }
  }
  const string = (): string => {
    // i is at the opening quote.
    const start = ++i
    while (i < len) {
      const c = text.charCodeAt(i)
      if (c === 34) return text.slice(start, i++)
      if (c === 92) break
      if (c < 0x20) fail('control character in string')
      i++
    }
    let out = text.slice(start, i)
    while (i < len) {
      const c = text.charCodeAt(i)
      if (c === 34) {
        i++
        return out
      }
      if (c < 0x20) fail('control character in string')
      if (c !== 92) {
        out += text[i++]
        continue
      }
      const e = text[i + 1]
      i += 2
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e
          break
        case 'b':
          out += '\b'
          break
        case 'f':
          out += '\f'
          break
        case 'n':
          out += '\n'
          break
        case 'r':
          out += '\r'
          break
        case 't':
          out += '\t'
          break
        case 'u': {
          const hex = text.slice(i, i + 4)
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape')
          out += String.fromCharCode(Number.parseInt(hex, 16))
          i += 4
          break
        }
        default:
          i -= 2
          fail('bad escape')
      }
    }
    return fail('unterminated string')
  }
  const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y
  const number = (): number | bigint => {
    NUMBER.lastIndex = i
    const m = NUMBER.exec(text)
    if (m === null) return fail('bad number')
    const literal = m[0]
    i += literal.length
    if (m[1] !== undefined || m[2] !== undefined) return Number(literal)
    // Up to 15 digits is always exact as a double; longer integers go through bigint.
    if (literal.length <= 15) return Number(literal)
    const big = BigInt(literal)
    return big >= -9007199254740991n && big <= 9007199254740991n ? Number(big) : big
  }
  const literal = (word: string, value: JsonValue): JsonValue => {
    if (text.startsWith(word, i)) {
      i += word.length
      return value
    }
    return fail('unexpected character')
  }

  let value: JsonValue
  for (;;) {
    // Parse one value, or open a container and go round for its first member.
    ws()
    const c = text.charCodeAt(i)
    if (c === 123) {
      i++
      ws()
      const obj: { [key: string]: JsonValue } = Object.create(null)
      if (text.charCodeAt(i) === 125) {
        i++
        value = obj
      } else {
        if (text.charCodeAt(i) !== 34) fail('expected a key')
        const key = string()
        ws()
        if (text.charCodeAt(i) !== 58) fail("expected ':'")
        i++
        stack.push(obj)
        keys.push(key)
        continue
      }
    } else if (c === 91) {
      i++
      ws()
      if (text.charCodeAt(i) === 93) {
        i++
        value = []
      } else {
        stack.push([])
        keys.push(undefined)
        continue
      }
    } else if (c === 34) value = string()
    else if (c === 45 || (c >= 48 && c <= 57)) value = number()
    else if (c === 116) value = literal('true', true)
    else if (c === 102) value = literal('false', false)
    else if (c === 110) value = literal('null', null)
    else return fail(i >= len ? 'unexpected end of input' : 'unexpected character')

    // Store the value in its container; close containers as long as they end here.
    for (;;) {
      const top = stack[stack.length - 1]
      if (top === undefined) {
        ws()
        if (i < len) fail('unexpected text after the value')
        return value
      }
      if (Array.isArray(top)) top.push(value)
      else top[keys[keys.length - 1]!] = value
      ws()
      const d = text.charCodeAt(i)
      if (d === 44) {
        i++
        if (!Array.isArray(top)) {
          ws()
          if (text.charCodeAt(i) !== 34) fail('expected a key')
          keys[keys.length - 1] = string()
          ws()
          if (text.charCodeAt(i) !== 58) fail("expected ':'")
          i++
        }
        break
      }
      if (d === (Array.isArray(top) ? 93 : 125)) {
        i++
        stack.pop()
        keys.pop()
        value = top
        continue
      }
      fail(i >= len ? 'unexpected end of input' : "expected ',' or a closing bracket")
    }
  }
}
