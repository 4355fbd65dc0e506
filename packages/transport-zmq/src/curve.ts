import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  timingSafeEqual,
} from 'node:crypto'
import { curveKeyPair } from 'zeromq'

/** A CURVE key pair, both halves Z85-encoded (40 characters), as ZeroMQ writes them. */
export interface ZmqCurveKeyPair {
  readonly publicKey: string
  readonly secretKey: string
}

/**
 * A fresh CURVE key pair (ZeroMQ's `curveKeyPair`). Give the hub its pair and every node the
 * hub's public key; register each node's public key on the hub.
 */
export function zmqCurveKeyPair(): ZmqCurveKeyPair {
  const { publicKey, secretKey } = curveKeyPair()
  return { publicKey, secretKey }
}

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#'
const DECODE = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i

/** Decodes a Z85 string (length a multiple of 5); undefined when it is not valid Z85. */
export function z85Decode(text: string): Buffer | undefined {
  if (text.length % 5 !== 0) return undefined
  const out = Buffer.alloc((text.length / 5) * 4)
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let value = 0
    for (let j = 0; j < 5; j++) {
      const code = text.charCodeAt(i + j)
      const digit = code < 128 ? DECODE[code]! : -1
      if (digit < 0) return undefined
      value = value * 85 + digit
    }
    if (value > 0xffff_ffff) return undefined
    out.writeUInt32BE(value, o)
  }
  return out
}

/** Encodes bytes (length a multiple of 4) as Z85. */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.byteLength % 4 !== 0) throw new RangeError('z85: length must be a multiple of 4')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let out = ''
  for (let i = 0; i < bytes.byteLength; i += 4) {
    let value = view.getUint32(i)
    const chunk = new Array<string>(5)
    for (let j = 4; j >= 0; j--) {
      chunk[j] = ALPHABET[value % 85]!
      value = Math.floor(value / 85)
    }
    out += chunk.join('')
  }
  return out
}

/** The raw 32 bytes of a Z85 CURVE key, or undefined when `key` is not one. */
export function curveKeyBytes(key: unknown): Buffer | undefined {
  if (typeof key !== 'string' || key.length !== 40) return undefined
  const bytes = z85Decode(key)
  return bytes?.length === 32 ? bytes : undefined
}

// PKCS#8 / SPKI prefixes of a raw X25519 key (RFC 8410): node:crypto imports those directly.
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex')

function privateKeyObject(secret: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secret]), format: 'der', type: 'pkcs8' })
}

function publicKeyObject(publicKey: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, publicKey]), format: 'der', type: 'spki' })
}

/**
 * A checked key pair: both halves are 40-character Z85 and the public key is the one the
 * secret key derives. Throws `TypeError` naming `what` otherwise.
 */
export class CurveKeys {
  readonly publicKey: string
  readonly secretKey: string
  readonly #private: KeyObject

  constructor(pair: { readonly publicKey?: unknown; readonly secretKey?: unknown }, what: string) {
    const secret = curveKeyBytes(pair.secretKey)
    const publicBytes = curveKeyBytes(pair.publicKey)
    if (secret === undefined) throw new TypeError(`${what}.secretKey must be a 40-character Z85 CURVE key`)
    if (publicBytes === undefined)
      throw new TypeError(`${what}.publicKey must be a 40-character Z85 CURVE key`)
    this.#private = privateKeyObject(secret)
    const derived = createPublicKey(this.#private)
      .export({ format: 'der', type: 'spki' })
      .subarray(SPKI_X25519.length)
    if (!derived.equals(publicBytes))
      throw new TypeError(`${what}.publicKey does not belong to ${what}.secretKey`)
    this.publicKey = pair.publicKey as string
    this.secretKey = pair.secretKey as string
  }

  /** The X25519 secret this key pair shares with the holder of `peerPublicKey` (CURVE's own agreement). */
  sharedSecret(peerPublicKey: Buffer): Buffer {
    return diffieHellman({ privateKey: this.#private, publicKey: publicKeyObject(peerPublicKey) })
  }
}

/**
 * The proof a node puts in its HELLO that it holds the secret key of the public key it names:
 * an HMAC, keyed with the secret the node's and the hub's key pairs share, over the link's
 * routing id and the node's public key. Only the two key holders can compute it, and the
 * CURVE channel it travels on is encrypted, so it cannot be replayed by a third party.
 */
export function helloProof(shared: Buffer, routingId: string, nodePublicKey: string): string {
  return createHmac('sha256', shared).update(`concord-zmq/1|${routingId}|${nodePublicKey}`).digest('base64')
}

/** Checks a HELLO proof in constant time. */
export function proofMatches(expected: string, actual: unknown): boolean {
  if (typeof actual !== 'string') return false
  const a = Buffer.from(expected)
  const b = Buffer.from(actual)
  return a.length === b.length && timingSafeEqual(a, b)
}
