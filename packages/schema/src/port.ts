/**
 * Port values (`{ port, proto }`), their text form and the public `port` helpers.
 *
 * @module
 */
import { ValidationError } from './contract.js'
import { Problem } from './issues.js'

/** Transport protocol of a {@link Port}; `unknown` as in Zeek and Broker. */
export type PortProto = 'tcp' | 'udp' | 'icmp' | 'unknown'

/** A transport-layer port: number 0..65535 and protocol. */
export interface Port {
  port: number
  proto: PortProto
}

/** Protocols in wire order: the encoded port is `port * 4 + index`. */
export const PORT_PROTOS: readonly PortProto[] = ['unknown', 'tcp', 'udp', 'icmp']

/** Wire index of a protocol name, or -1. */
export function protoIndex(proto: unknown): number {
  return proto === 'tcp' ? 1 : proto === 'udp' ? 2 : proto === 'icmp' ? 3 : proto === 'unknown' ? 0 : -1
}

const TEXT = /^(\d{1,5})\/(tcp|udp|icmp|unknown|\?)$/

/** Parses Broker's port text `8080/tcp`; `?` and `unknown` both name the unknown protocol. */
export function parsePort(text: string): Port | Problem {
  const m = TEXT.exec(text)
  if (m === null) return new Problem('format', `${JSON.stringify(text)} is not a port like "8080/tcp"`)
  const n = Number(m[1])
  if (n > 65535) return new Problem('range', `port ${n} is greater than 65535`)
  return { port: n, proto: m[2] === '?' ? 'unknown' : (m[2] as PortProto) }
}

/** Broker's port text: `8080/tcp`, with `?` for the unknown protocol. */
export function formatPort(p: Port): string {
  return `${p.port}/${p.proto === 'unknown' ? '?' : p.proto}`
}

/** Helpers for port values. */
export const port = {
  /** Parses `8080/tcp`, `53/udp`, `3/icmp`, `0/?` (or `0/unknown`). Throws {@link ValidationError}. */
  parse(text: string): Port {
    const v = parsePort(String(text))
    if (v instanceof Problem) throw new ValidationError([v.toIssue()])
    return v
  },
  /** Broker's text of a port: `8080/tcp`, `0/?`. */
  format(p: Port): string {
    return formatPort(p)
  },
} as const
