/**
 * The transport's own envelope around core frames, one Redis Pub/Sub message each. The first
 * byte is the kind; integers are big-endian u32; strings UTF-8. Core frames travel untouched
 * after the header, so the hub forwards them without re-encoding.
 *
 * node → hub, on the link's request channel:
 *   HELLO    [version u8][maxFrameSize u32][count u32]([len u32][topic])*   open a link
 *   DATA     [frame…]
 *   SUB      [reqId u32][topic…]
 *   UNSUB    [topic…]
 *   BYE      [reason…]                                                    the link ends
 *   OVERSIZE [size u32]                           the node refused a frame of that size itself
 *   PROBE                                    new links probe with it; hubs ignore it
 *   ACK      [frames f64][bytes f64]      totals received on the link so far (flow control)
 *   KEEPALIVE                            an idle link's probe: a hub that lost the link says DROP
 * hub → node, on the link's reply channel:
 *   WELCOME  [version u8][maxFrameSize u32][ackFrames u32][ackBytes u32][count u32]
 *            [granted u8 × count]        grants in HELLO's order; ACK every ackFrames/ackBytes
 *   DATA     [frame…]
 *   BCAST    [topicLen u32][topic][frame…]                          the same bytes to every peer
 *   SUBACK   [reqId u32][granted u8]
 *   DROP     [reason…]                                      the hub dropped (or never knew) it
 * hub ↔ hubs of the same name, on the claims channel (`<prefix>:<hub>:req:probe:-`, see
 * `NameClaim`):
 *   CLAIM    [nonce…]                    a starting hub claims the name (it subscribed first)
 *   HELD     [nonce…]        answer: the name is held, or was claimed before: that claim loses
 *   YIELD    [nonce…]                                           answer: no objection from me
 */

/** The version of this envelope; HELLO and WELCOME carry it. */
export const WIRE_VERSION = 1

/** Message kinds (first byte). */
export const Kind = {
  HELLO: 0x01,
  DATA: 0x02,
  SUB: 0x03,
  UNSUB: 0x04,
  BYE: 0x05,
  OVERSIZE: 0x06,
  PROBE: 0x07,
  ACK: 0x08,
  KEEPALIVE: 0x09,
  CLAIM: 0x41,
  HELD: 0x42,
  YIELD: 0x43,
  WELCOME: 0x81,
  TO_NODE_DATA: 0x82,
  BCAST: 0x83,
  SUBACK: 0x84,
  DROP: 0x85,
} as const

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Thrown by the decoders for a message that does not follow the envelope. */
export class MalformedMessage extends Error {
  override readonly name = 'MalformedMessage'
}

/** `kind` followed by a copy of `payload`: the one copy a frame gets on its way out. */
export function withKind(kind: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + payload.byteLength)
  out[0] = kind
  out.set(payload, 1)
  return out
}

/** `kind` followed by a UTF-8 string. */
export function kindAndText(kind: number, text: string): Buffer {
  return withKind(kind, encoder.encode(text))
}

export function encodeHello(maxFrameSize: number, topics: readonly string[]): Buffer {
  const encoded = topics.map((t) => encoder.encode(t))
  let size = 1 + 1 + 4 + 4
  for (const t of encoded) size += 4 + t.byteLength
  const out = Buffer.allocUnsafe(size)
  out[0] = Kind.HELLO
  out[1] = WIRE_VERSION
  out.writeUInt32BE(maxFrameSize, 2)
  out.writeUInt32BE(encoded.length, 6)
  let at = 10
  for (const t of encoded) {
    out.writeUInt32BE(t.byteLength, at)
    out.set(t, at + 4)
    at += 4 + t.byteLength
  }
  return out
}

export interface Hello {
  readonly version: number
  readonly maxFrameSize: number
  readonly topics: string[]
}

export function decodeHello(message: Buffer): Hello {
  need(message, 10)
  const version = message[1]!
  const maxFrameSize = message.readUInt32BE(2)
  const count = message.readUInt32BE(6)
  const topics: string[] = []
  let at = 10
  for (let i = 0; i < count; i++) {
    need(message, at + 4)
    const length = message.readUInt32BE(at)
    need(message, at + 4 + length)
    topics.push(text(message.subarray(at + 4, at + 4 + length)))
    at += 4 + length
  }
  if (at !== message.length) throw new MalformedMessage('trailing bytes after HELLO')
  return { version, maxFrameSize, topics }
}

export function encodeWelcome(
  maxFrameSize: number,
  ack: { readonly frames: number; readonly bytes: number },
  granted: readonly boolean[],
): Buffer {
  const out = Buffer.allocUnsafe(18 + granted.length)
  out[0] = Kind.WELCOME
  out[1] = WIRE_VERSION
  out.writeUInt32BE(maxFrameSize, 2)
  out.writeUInt32BE(ack.frames, 6)
  out.writeUInt32BE(ack.bytes, 10)
  out.writeUInt32BE(granted.length, 14)
  for (let i = 0; i < granted.length; i++) out[18 + i] = granted[i] ? 1 : 0
  return out
}

export interface Welcome {
  readonly version: number
  readonly maxFrameSize: number
  /** Acknowledge after this many frames, or this many bytes, since the last ACK. */
  readonly ack: { readonly frames: number; readonly bytes: number }
  readonly granted: boolean[]
}

export function decodeWelcome(message: Buffer): Welcome {
  need(message, 18)
  const count = message.readUInt32BE(14)
  if (message.length !== 18 + count) throw new MalformedMessage('WELCOME of the wrong length')
  const granted: boolean[] = []
  for (let i = 0; i < count; i++) granted.push(message[18 + i] === 1)
  return {
    version: message[1]!,
    maxFrameSize: message.readUInt32BE(2),
    ack: { frames: message.readUInt32BE(6), bytes: message.readUInt32BE(10) },
    granted,
  }
}

export function encodeAck(frames: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(17)
  out[0] = Kind.ACK
  out.writeDoubleBE(frames, 1)
  out.writeDoubleBE(bytes, 9)
  return out
}

export function decodeAck(message: Buffer): { frames: number; bytes: number } {
  if (message.length !== 17) throw new MalformedMessage('ACK of the wrong length')
  const frames = message.readDoubleBE(1)
  const bytes = message.readDoubleBE(9)
  if (!Number.isSafeInteger(frames) || !Number.isSafeInteger(bytes) || frames < 0 || bytes < 0) {
    throw new MalformedMessage('ACK with invalid totals')
  }
  return { frames, bytes }
}

/** SUB and SUBACK share a shape: a request id, then a topic or a flag. */
export function encodeSub(reqId: number, topic: string): Buffer {
  const t = encoder.encode(topic)
  const out = Buffer.allocUnsafe(5 + t.byteLength)
  out[0] = Kind.SUB
  out.writeUInt32BE(reqId, 1)
  out.set(t, 5)
  return out
}

export function decodeSub(message: Buffer): { reqId: number; topic: string } {
  need(message, 5)
  return { reqId: message.readUInt32BE(1), topic: text(message.subarray(5)) }
}

export function encodeSubAck(reqId: number, granted: boolean): Buffer {
  const out = Buffer.allocUnsafe(6)
  out[0] = Kind.SUBACK
  out.writeUInt32BE(reqId, 1)
  out[5] = granted ? 1 : 0
  return out
}

export function decodeSubAck(message: Buffer): { reqId: number; granted: boolean } {
  if (message.length !== 6) throw new MalformedMessage('SUBACK of the wrong length')
  return { reqId: message.readUInt32BE(1), granted: message[5] === 1 }
}

export function encodeOversize(size: number): Buffer {
  const out = Buffer.allocUnsafe(5)
  out[0] = Kind.OVERSIZE
  out.writeUInt32BE(Math.min(size, 0xffffffff), 1)
  return out
}

export function decodeOversize(message: Buffer): number {
  if (message.length !== 5) throw new MalformedMessage('OVERSIZE of the wrong length')
  return message.readUInt32BE(1)
}

/** Encodes a broadcast once; the hub publishes these same bytes to every receiving peer. */
export function encodeBroadcast(topic: string, frame: Uint8Array): Buffer {
  const t = encoder.encode(topic)
  const out = Buffer.allocUnsafe(5 + t.byteLength + frame.byteLength)
  out[0] = Kind.BCAST
  out.writeUInt32BE(t.byteLength, 1)
  out.set(t, 5)
  out.set(frame, 5 + t.byteLength)
  return out
}

export function decodeBroadcast(message: Buffer): { topic: string; frame: Uint8Array } {
  need(message, 5)
  const length = message.readUInt32BE(1)
  need(message, 5 + length)
  return {
    topic: text(message.subarray(5, 5 + length)),
    frame: copy(message.subarray(5 + length)),
  }
}

/** The text after the kind byte (UNSUB, BYE, DROP). */
export function decodeText(message: Buffer): string {
  return text(message.subarray(1))
}

/**
 * A copy the receiver may keep: ioredis' parser hands out views into a pooled buffer it
 * reuses for large replies, and core keeps views into the frames it gets.
 */
export function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes)
}

function text(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes)
  } catch {
    throw new MalformedMessage('invalid UTF-8')
  }
}

function need(message: Buffer, length: number): void {
  if (message.length < length) throw new MalformedMessage('message too short')
}
