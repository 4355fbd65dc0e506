/**
 * A conn.log schema and a reader for Zeek's TSV log format, for tests.
 */
import { addr, interval, type PortProto, t, time } from '../src/index.js'

/** Zeek's conn.log record (base/protocols/conn/main.zeek), as logged. */
export const Conn = t.record({
  ts: t.time(),
  uid: t.string(),
  id: t.record({ orig_h: t.addr(), orig_p: t.port(), resp_h: t.addr(), resp_p: t.port() }),
  proto: t.enum(['unknown_transport', 'tcp', 'udp', 'icmp']),
  service: t.string().optional(),
  duration: t.interval().optional(),
  orig_bytes: t.count().optional(),
  resp_bytes: t.count().optional(),
  conn_state: t.string().optional(),
  local_orig: t.bool().optional(),
  local_resp: t.bool().optional(),
  missed_bytes: t.count().default(0n),
  history: t.string().optional(),
  orig_pkts: t.count().optional(),
  orig_ip_bytes: t.count().optional(),
  resp_pkts: t.count().optional(),
  resp_ip_bytes: t.count().optional(),
  tunnel_parents: t.set(t.string()).optional(),
})

/** Zeek's `\xNN` escapes in TSV fields. */
function unescapeZeek(text: string): string {
  return text.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  )
}

interface Header {
  separator: string
  setSeparator: string
  empty: string
  unset: string
  fields: string[]
  types: string[]
}

function scalar(type: string, text: string, proto: PortProto): unknown {
  switch (type) {
    case 'time':
      return time.parse(text)
    case 'interval':
      return interval.parse(text)
    case 'count':
    case 'int':
      return BigInt(text)
    case 'double':
      return Number(text)
    case 'bool':
      return text === 'T'
    case 'addr':
      return addr.canonical(text)
    case 'port':
      // TSV writes the number only; conn.log's protocol is its own column.
      return { port: Number(text), proto }
    default:
      return unescapeZeek(text)
  }
}

function value(type: string, text: string, h: Header, proto: PortProto): unknown {
  if (text === h.unset) return undefined
  const element = /^(?:set|vector)\[(.+)\]$/.exec(type)?.[1]
  if (element === undefined) return scalar(type, text, proto)
  const items = text === h.empty ? [] : text.split(h.setSeparator).map((x) => scalar(element, x, proto))
  return type.startsWith('set') ? new Set(items) : items
}

/** Parses a Zeek TSV log into records, nesting `a.b` columns as `{ a: { b } }`. */
export function parseZeekTsv(text: string): Record<string, unknown>[] {
  const h: Header = {
    separator: '\t',
    setSeparator: ',',
    empty: '(empty)',
    unset: '-',
    fields: [],
    types: [],
  }
  const rows: Record<string, unknown>[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const [key, ...rest] = line.slice(1).split(line.startsWith('#separator') ? ' ' : h.separator)
      if (key === 'separator') h.separator = unescapeZeek(rest.join(' '))
      else if (key === 'set_separator') h.setSeparator = rest[0]!
      else if (key === 'empty_field') h.empty = rest[0]!
      else if (key === 'unset_field') h.unset = rest[0]!
      else if (key === 'fields') h.fields = rest
      else if (key === 'types') h.types = rest
      continue
    }
    const cells = line.split(h.separator)
    const proto = (cells[h.fields.indexOf('proto')] ?? 'unknown') as PortProto
    const row: Record<string, unknown> = {}
    h.fields.forEach((field, i) => {
      const v = value(
        h.types[i]!,
        cells[i]!,
        h,
        proto === ('unknown_transport' as string) ? 'unknown' : proto,
      )
      if (v === undefined) return
      const path = field.split('.')
      let target = row
      for (const part of path.slice(0, -1)) target = (target[part] ??= {}) as Record<string, unknown>
      target[path[path.length - 1]!] = v
    })
    rows.push(row)
  }
  return rows
}
