/**
 * Network schemas: addr, subnet and port.
 *
 * @module
 */
import { canonicalAddrOrUndefined, formatAddr, isV4Mapped, parseCanonicalAddr, parseV4 } from '../addr.js'
import type { Impl } from '../impl.js'
import { INVALID, Problem, show } from '../issues.js'
import { formatPort, PORT_PROTOS, type Port, parsePort, protoIndex } from '../port.js'
import { readBinHeader, readUint } from '../reader.js'
import {
  canonicalSubnetOrUndefined,
  formatSubnet,
  hostBitsZero,
  parseCanonicalSubnet,
  parseSubnetLoose,
} from '../subnet.js'
import { writeBinHeader, writeUint } from '../writer.js'
import { leaf } from './leaf.js'

const scratch = new Uint8Array(17)

function addrProblem(v: unknown): Problem | undefined {
  if (typeof v !== 'string') return new Problem('type', `expected an address (string), got ${show(v)}`)
  if (parseCanonicalAddr(v, scratch) !== 0) return undefined
  const canonical = canonicalAddrOrUndefined(v)
  if (canonical === undefined) return new Problem('format', `${show(v)} is not an IP address`)
  return new Problem('format', `${show(v)} is not in canonical form; write ${JSON.stringify(canonical)}`)
}

/** `addr`: canonical text, bin of 4 or 16 bytes on the wire, `address` in JSON. */
export const addr: Impl = leaf({
  desc: 'addr',
  dataType: 'address',
  problem: addrProblem,
  enc(w, v) {
    if (typeof v !== 'string') throw INVALID
    if (v.indexOf(':') < 0) {
      // IPv4, the common case: a strictly parsed dotted quad is canonical by construction.
      const a = parseV4(v, 0, v.length)
      if (a < 0) throw INVALID
      const p = writeBinHeader(w, 4)
      const b = w.bytes
      b[p] = a >>> 24
      b[p + 1] = (a >>> 16) & 0xff
      b[p + 2] = (a >>> 8) & 0xff
      b[p + 3] = a & 0xff
      return
    }
    if (parseCanonicalAddr(v, scratch) !== 16) throw INVALID
    const p = writeBinHeader(w, 16)
    w.bytes.set(scratch.subarray(0, 16), p)
  },
  dec(r) {
    const at = r.pos
    const n = readBinHeader(r)
    if (n !== 4 && n !== 16) r.fail(`an address has 4 or 16 bytes, not ${n}`, at)
    const p = r.pos
    r.pos = p + n
    return formatAddr(r.bytes, p, n)
  },
  toData: (v) => JSON.stringify(v),
  fromData(d) {
    if (typeof d !== 'string') return new Problem('type', `expected an address (string), got ${show(d)}`)
    return canonicalAddrOrUndefined(d) ?? new Problem('format', `${show(d)} is not an IP address`)
  },
  key: (v) => JSON.stringify(v),
  render: (v) => JSON.stringify(v),
})

function subnetProblem(v: unknown): Problem | undefined {
  if (typeof v !== 'string') return new Problem('type', `expected a subnet (string), got ${show(v)}`)
  if (parseCanonicalSubnet(v, scratch) !== 0) return undefined
  const canonical = canonicalSubnetOrUndefined(v)
  if (canonical === undefined) return new Problem('format', `${show(v)} is not a subnet in CIDR notation`)
  return new Problem(
    'format',
    `${show(v)} is not in canonical form (host bits zero, RFC 5952 address); write ${JSON.stringify(canonical)}`,
  )
}

/** `subnet`: canonical CIDR text, bin of address bytes and prefix length on the wire. */
export const subnet: Impl = leaf({
  desc: 'subnet',
  dataType: 'subnet',
  problem: subnetProblem,
  enc(w, v) {
    if (typeof v !== 'string') throw INVALID
    const n = parseCanonicalSubnet(v, scratch)
    if (n === 0) throw INVALID
    const p = writeBinHeader(w, n + 1)
    w.bytes.set(scratch.subarray(0, n + 1), p)
  },
  dec(r) {
    const at = r.pos
    const len = readBinHeader(r)
    const n = len - 1
    if (n !== 4 && n !== 16) r.fail(`a subnet has 5 or 17 bytes, not ${len}`, at)
    const b = r.bytes.slice(r.pos, r.pos + len)
    r.pos += len
    if (b[n]! > n * 8) r.fail(`prefix length ${b[n]} is too long`, at)
    if (!hostBitsZero(b, n, b[n]!)) r.fail('subnet has host bits set', at)
    // A 16-byte IPv4-mapped subnet is canonicalised rather than refused: it is the same value.
    if (n === 16 && b[16]! >= 96 && isV4Mapped(b, 0)) return `${formatAddr(b, 12, 4)}/${b[16]! - 96}`
    return formatSubnet(b, n)
  },
  toData: (v) => JSON.stringify(v),
  fromData(d) {
    if (typeof d !== 'string') return new Problem('type', `expected a subnet (string), got ${show(d)}`)
    const n = parseSubnetLoose(d, scratch, false)
    if (n === 0) return new Problem('format', `${show(d)} is not a subnet in CIDR notation`)
    if (!hostBitsZero(scratch, n, scratch[n]!)) {
      return new Problem(
        'format',
        `${show(d)} has host bits set; write ${JSON.stringify(canonicalSubnetOrUndefined(d))}`,
      )
    }
    return formatSubnet(scratch, n)
  },
  key: (v) => JSON.stringify(v),
  render: (v) => JSON.stringify(v),
})

const MAX_PORT_CODE = 65535 * 4 + 3

function portProblem(v: unknown): Problem | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return new Problem('type', `expected a port { port, proto }, got ${show(v)}`)
  }
  const { port, proto } = v as Port
  if (typeof port !== 'number') return new Problem('type', `expected a port number, got ${show(port)}`)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return new Problem('range', `port number ${port} is not an integer in 0..65535`)
  }
  if (protoIndex(proto) < 0) {
    return new Problem('enum', `port protocol ${show(proto)} is not one of "tcp", "udp", "icmp", "unknown"`)
  }
  for (const key in v) {
    if (key !== 'port' && key !== 'proto')
      return new Problem('extra', `a port has no field ${JSON.stringify(key)}`)
  }
  return undefined
}

/** `port`: `{ port, proto }`, one uint `port * 4 + proto` on the wire, `8080/tcp` in JSON. */
export const port: Impl = leaf({
  desc: 'port',
  dataType: 'port',
  composite: true,
  problem: portProblem,
  enc(w, v) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw INVALID
    const n = (v as Port).port
    const proto = protoIndex((v as Port).proto)
    if (typeof n !== 'number' || !(n >= 0 && n <= 65535) || n % 1 !== 0 || proto < 0) throw INVALID
    for (const key in v) if (key !== 'port' && key !== 'proto') throw INVALID
    // One msgpack uint, so every value is one msgpack item (unknown fields can be skipped).
    writeUint(w, n * 4 + proto)
  },
  dec(r) {
    const code = readUint(r, MAX_PORT_CODE)
    return { port: code >>> 2, proto: PORT_PROTOS[code & 3] }
  },
  toData: (v) => JSON.stringify(formatPort(v as Port)),
  fromData(d) {
    if (typeof d !== 'string')
      return new Problem('type', `expected port text like "8080/tcp", got ${show(d)}`)
    return parsePort(d)
  },
  key: (v) => formatPort(v as Port),
  render: (v) => JSON.stringify(formatPort(v as Port)),
})
