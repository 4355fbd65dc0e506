/**
 * Fixed cases for addr, subnet and port: canonical forms, wire forms, issues.
 */
import { describe, expect, test } from 'vitest'
import { addr, DecodeError, port, subnet, t, ValidationError } from '../src/index.js'
import { bytes, codes, hex } from './helpers.js'

describe('addr', () => {
  const canonical: [string, string][] = [
    ['192.0.2.1', '192.0.2.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal runs
    ['2001:db8:0:0:0:1:0:0', '2001:db8::1:0:0'], // the longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['2001:DB8::0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['fe80::', 'fe80::'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::ffff:192.0.2.1', '192.0.2.1'], // IPv4-mapped is the IPv4 address
    ['::FFFF:C000:0201', '192.0.2.1'],
    ['0:0:0:0:0:ffff:10.0.0.1', '10.0.0.1'],
    ['::1.2.3.4', '::102:304'], // IPv4-compatible (deprecated) stays IPv6
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['::ffff:0:1.2.3.4', '::ffff:0:102:304'], // IPv4-translated is not mapped
  ]
  test.each(canonical)('%s → %s', (text, want) => {
    expect(addr.canonical(text)).toBe(want)
    expect(t.addr().validate(want)).toEqual([])
    expect(t.addr().decode(t.addr().encode(want))).toBe(want)
    expect(addr.fromBytes(addr.toBytes(text))).toBe(want)
  })

  const invalid = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.-4',
    ':::',
    '1:::2',
    'g::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '12345::',
    'fe80::1%eth0',
    '[::1]',
    '::1.2.3',
    '1.2.3.4::',
    ' 1.2.3.4',
    '::ffff:1.2.3.256',
  ]
  test.each(invalid)('%j is not an address', (text) => {
    expect(() => addr.canonical(text)).toThrow(ValidationError)
    expect(codes(t.addr(), text)).toEqual([['', 'format']])
  })

  test('validation accepts only the canonical form and says what it is', () => {
    const [issue] = t.addr().validate('::FFFF:10.0.0.1')
    expect(issue).toMatchObject({ path: '', code: 'format' })
    expect(issue!.message).toContain('"10.0.0.1"')
    expect(codes(t.addr(), '2001:DB8::1')).toEqual([['', 'format']])
    expect(codes(t.addr(), 167772161)).toEqual([['', 'type']])
    expect(() => t.addr().encode('2001:0db8::1')).toThrow(ValidationError)
  })

  test('wire form: bin of 4 or 16 bytes', () => {
    expect(hex(t.addr().encode('10.164.94.120'))).toBe('c4040aa45e78')
    expect(hex(t.addr().encode('2001:db8::1'))).toBe('c41020010db8000000000000000000000001')
    expect(t.addr().decode(bytes('c41000000000000000000000ffff0a000001'))).toBe('10.0.0.1')
    expect(() => t.addr().decode(bytes('c405 0102030405'))).toThrow(DecodeError)
    expect(() => t.addr().decode(bytes('c404 010203'))).toThrow(DecodeError)
    expect(() => t.addr().decode(bytes('a40a000001'))).toThrow(DecodeError)
  })

  test('toBytes and fromBytes', () => {
    expect([...addr.toBytes('::ffff:1.2.3.4')]).toEqual([1, 2, 3, 4])
    expect(addr.toBytes('::1')).toHaveLength(16)
    expect(() => addr.fromBytes(new Uint8Array(5))).toThrow(RangeError)
  })
})

describe('subnet', () => {
  const canonical: [string, string][] = [
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['10.1.2.3/8', '10.0.0.0/8'], // host bits cleared, as Zeek does
    ['192.168.1.255/31', '192.168.1.254/31'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['1.2.3.4/32', '1.2.3.4/32'],
    ['2001:DB8::/32', '2001:db8::/32'],
    ['2001:db8::1/64', '2001:db8::/64'],
    ['::/0', '::/0'],
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'], // IPv4-mapped subnets are IPv4 subnets
    ['::ffff:0:0/96', '0.0.0.0/0'],
    ['::ffff:1.2.3.4/128', '1.2.3.4/32'],
    ['::ffff:0:0/95', '::fffe:0:0/95'], // shorter than /96: an IPv6 subnet
    ['10.0.0.0/08', '10.0.0.0/8'],
  ]
  test.each(canonical)('%s → %s', (text, want) => {
    expect(subnet.canonical(text)).toBe(want)
    expect(t.subnet().validate(want)).toEqual([])
    expect(t.subnet().decode(t.subnet().encode(want))).toBe(want)
  })

  test('validation accepts only the canonical form', () => {
    const [issue] = t.subnet().validate('10.1.2.3/8')
    expect(issue).toMatchObject({ code: 'format' })
    expect(issue!.message).toContain('"10.0.0.0/8"')
    for (const text of [
      '::ffff:10.0.0.0/104',
      '10.0.0.0/08',
      '2001:DB8::/32',
      '10.0.0.0/33',
      '10.0.0.0',
      '10.0.0.0/',
      '/8',
    ]) {
      expect(codes(t.subnet(), text)).toEqual([['', 'format']])
    }
  })

  test('wire form: address bytes then prefix length', () => {
    expect(hex(t.subnet().encode('10.0.0.0/8'))).toBe('c4050a00000008')
    expect(hex(t.subnet().encode('2001:db8::/32'))).toBe('c41120010db800000000000000000000000020')
    expect(() => t.subnet().decode(bytes('c4050a00000108'))).toThrow(/host bits/)
    expect(() => t.subnet().decode(bytes('c4050a00000021'))).toThrow(/prefix/)
    expect(t.subnet().decode(bytes('c41100000000000000000000ffff0a00000068'))).toBe('10.0.0.0/8')
  })

  test('contains', () => {
    expect(subnet.contains('10.0.0.0/8', '10.200.1.1')).toBe(true)
    expect(subnet.contains('10.0.0.0/8', '11.0.0.1')).toBe(false)
    expect(subnet.contains('10.0.0.0/8', '::ffff:10.0.0.1')).toBe(true)
    expect(subnet.contains('2001:db8::/32', '2001:db8:ffff::1')).toBe(true)
    expect(subnet.contains('2001:db8::/32', '10.0.0.1')).toBe(false)
    expect(subnet.contains('0.0.0.0/0', '1.2.3.4')).toBe(true)
    expect(() => subnet.contains('nope', '1.2.3.4')).toThrow(ValidationError)
  })
})

describe('port', () => {
  test('values, wire form (port * 4 + protocol) and text', () => {
    const p = { port: 80, proto: 'tcp' as const }
    expect(hex(t.port().encode(p))).toBe('cd0141')
    expect(t.port().decode(bytes('cd0141'))).toEqual(p)
    expect(t.port().decode(t.port().encode({ port: 65535, proto: 'icmp' }))).toEqual({
      port: 65535,
      proto: 'icmp',
    })
    expect(t.port().decode(t.port().encode({ port: 0, proto: 'unknown' }))).toEqual({
      port: 0,
      proto: 'unknown',
    })
    expect(port.parse('8080/tcp')).toEqual({ port: 8080, proto: 'tcp' })
    expect(port.parse('0/?')).toEqual({ port: 0, proto: 'unknown' })
    expect(port.parse('0/unknown')).toEqual({ port: 0, proto: 'unknown' })
    expect(port.format({ port: 0, proto: 'unknown' })).toBe('0/?')
    expect(() => port.parse('70000/tcp')).toThrow(ValidationError)
    expect(() => port.parse('80/sctp')).toThrow(ValidationError)
  })

  test('issues', () => {
    expect(codes(t.port(), { port: 70000, proto: 'tcp' })).toEqual([['', 'range']])
    expect(codes(t.port(), { port: 1.5, proto: 'tcp' })).toEqual([['', 'range']])
    expect(codes(t.port(), { port: '80', proto: 'tcp' })).toEqual([['', 'type']])
    expect(codes(t.port(), { port: 80, proto: 'sctp' })).toEqual([['', 'enum']])
    expect(codes(t.port(), { port: 80, proto: 'tcp', extra: 1 })).toEqual([['', 'extra']])
    expect(codes(t.port(), 80)).toEqual([['', 'type']])
    expect(() => t.port().decode(bytes('ce00040000'))).toThrow(DecodeError)
  })

  test('an array with port and proto properties is refused by encode as by validate', () => {
    // encode used to write it as the port it carried, though validate says it is no port.
    const array = Object.assign([], { port: 80, proto: 'tcp' as const })
    expect(codes(t.port(), array)).toEqual([['', 'type']])
    expect(() => t.port().encode(array)).toThrow(ValidationError)
    expect(() => t.vector(t.port()).encode([array])).toThrow(/\[0\]: expected a port/)
  })
})
