/**
 * The transport's own framing, under core's frames (docs in the README, "Wire"). Every
 * ZeroMQ message between a node's DEALER and the hub's ROUTER is multipart; its first part is
 * one ASCII byte naming the kind. Numbers travel as ASCII decimals, HELLO and WELCOME bodies
 * as JSON. Kinds are per direction.
 */

/** The version in HELLO and WELCOME. */
export const WIRE_VERSION = 3

/** Node → hub. */
export const ToHub = {
  /** `[H, json]`: open a link (see {@link Hello}). */
  HELLO: 0x48,
  /** `[D, frame]`: a core frame. */
  DATA: 0x44,
  /** `[S, reqId, topic]`: subscribe; answered by `s`. */
  SUBSCRIBE: 0x53,
  /** `[U, topic]`: unsubscribe. */
  UNSUBSCRIBE: 0x55,
  /** `[A, count]`: `count` more hub→node data frames consumed (credit returned). */
  ACK: 0x41,
  /** `[L, size]`: the node refused to send a frame of `size` bytes (over the limit), for counting. */
  TOO_LARGE: 0x4c,
  /** `[B]` or `[B, reason]`: the node is closing the link (reason default `closed`). */
  BYE: 0x42,
} as const

/** Hub → node. */
export const ToNode = {
  /** `[W, json]`: the link is up (see {@link Welcome}). */
  WELCOME: 0x57,
  /** `[X, reason]`: HELLO refused. */
  REFUSED: 0x58,
  /** `[D, frame]`: a core frame for this node. */
  DATA: 0x44,
  /** `[T, topic, frame]`: a broadcast. */
  BROADCAST: 0x54,
  /**
   * `[M, layout, …]`: several DATA and BROADCAST messages of one event-loop turn as one
   * ZeroMQ message. `layout` has two bytes per message, its kind (`D` or `T`) and how many
   * parts its frame takes; then come each message's parts without its kind byte.
   */
  BUNDLE: 0x4d,
  /** `[s, reqId, 1|0]`: a subscription granted or refused. */
  SUBSCRIBED: 0x73,
  /** `[A, count]`: `count` more node→hub data frames consumed. */
  ACK: 0x41,
  /** `[Z, reason]`: the hub dropped this link. */
  DROP: 0x5a,
} as const

/** HELLO's body. */
export interface Hello {
  readonly v: number
  /** The identity presented (unauthenticated without CURVE). */
  readonly name?: string
  /** CURVE: the node's public key (Z85) and its proof of holding the secret key. */
  readonly key?: string
  readonly proof?: string
  /** The node's send window: `[frames, bytes]` (the hub acks within a quarter of it). */
  readonly window: readonly [number, number]
  /** The largest frame the node accepts. */
  readonly max: number
  /** Subscriptions to (re-)authorize before the link comes up. */
  readonly subs: readonly string[]
}

/** WELCOME's body. */
export interface Welcome {
  readonly v: number
  /** The hub's send window to this node: `[frames, bytes]`. */
  readonly window: readonly [number, number]
  /** The largest frame either side accepts on this link. */
  readonly max: number
  /** Per HELLO subscription, in order: granted or not. */
  readonly granted: readonly boolean[]
}

/** One-byte kind parts, allocated once. */
export const TAG: Readonly<Record<number, Buffer>> = Object.fromEntries(
  [...new Set([...Object.values(ToHub), ...Object.values(ToNode)])].map((code) => [code, Buffer.of(code)]),
)

/** The kind of a message: its first part when that is one byte, else -1. */
export function kindOf(parts: readonly Buffer[], first = 0): number {
  const head = parts[first]
  return head !== undefined && head.length === 1 ? head[0]! : -1
}

/** The most messages in one bundle (and so at most 255 parts per frame, see {@link SPLIT_MAX}). */
export const BUNDLE_MAX_MESSAGES = 64

/**
 * The parts of one ZeroMQ message carrying `messages` (each `[kind, topic?, ...frameParts]`,
 * kind DATA or BROADCAST) behind `head` (the ROUTER's routing id): the message itself when it is
 * alone, else a BUNDLE.
 */
export function bundleParts(head: Buffer, messages: readonly Buffer[][]): Buffer[] {
  if (messages.length === 1) return [head, ...messages[0]!]
  const layout = Buffer.allocUnsafe(messages.length * 2)
  const parts: Buffer[] = [head, TAG[ToNode.BUNDLE]!, layout]
  messages.forEach((message, i) => {
    const kind = message[0]![0]!
    layout[2 * i] = kind
    layout[2 * i + 1] = message.length - (kind === ToNode.BROADCAST ? 2 : 1)
    for (let p = 1; p < message.length; p++) parts.push(message[p]!)
  })
  return parts
}

/** One message of a bundle: a frame for this node (`topic` undefined) or a broadcast. */
export interface Bundled {
  readonly topic: Buffer | undefined
  readonly frame: Buffer
}

/** The messages of a BUNDLE (`parts[0]` its kind), or undefined when it is malformed. */
export function unbundle(parts: readonly Buffer[]): Bundled[] | undefined {
  const layout = parts[1]
  if (parts.length < 3 || layout === undefined || layout.length < 4 || layout.length % 2 !== 0)
    return undefined
  const messages: Bundled[] = []
  let at = 2
  for (let i = 0; i < layout.length; i += 2) {
    const kind = layout[i]!
    const count = layout[i + 1]!
    let topic: Buffer | undefined
    if (kind === ToNode.BROADCAST) topic = parts[at++]
    else if (kind !== ToNode.DATA) return undefined
    if (count === 0 || at + count > parts.length) return undefined
    messages.push({ topic, frame: count === 1 ? parts[at]! : Buffer.concat(parts.slice(at, at + count)) })
    at += count
  }
  return at === parts.length ? messages : undefined
}

/** A non-negative safe integer written as ASCII decimals, or undefined. */
export function parseCount(part: Buffer | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (part === undefined || part.length === 0 || part.length > 16) return undefined
  const text = part.toString('latin1')
  if (!/^\d+$/.test(text)) return undefined
  const value = Number(text)
  return value <= max ? value : undefined
}

/** Parses a window `[frames, bytes]` from a HELLO or WELCOME; undefined when malformed. */
export function parseWindow(value: unknown): [number, number] | undefined {
  if (!Array.isArray(value) || value.length !== 2) return undefined
  const [frames, bytes] = value as unknown[]
  if (!Number.isSafeInteger(frames) || !Number.isSafeInteger(bytes)) return undefined
  if ((frames as number) < 1 || (bytes as number) < 1) return undefined
  return [frames as number, bytes as number]
}

/** Parses a JSON part into an object, or undefined. */
export function parseJson(part: Buffer | undefined): Record<string, unknown> | undefined {
  if (part === undefined || part.length === 0) return undefined
  try {
    const value: unknown = JSON.parse(part.toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/**
 * A plain `Uint8Array` view of a received part (no copy): handlers get the same type the
 * port declares, not ZeroMQ's `Buffer` subclass. The memory is the receiver's to keep.
 */
export function view(part: Buffer): Uint8Array {
  return new Uint8Array(part.buffer, part.byteOffset, part.byteLength)
}

/**
 * zeromq.js hands libzmq a part over 128 bytes without copying it, and libzmq then frees it
 * from its I/O thread, which wakes the main thread to release the Buffer; a received part over
 * 128 bytes becomes an external Buffer with a finalizer. Parts of at most 128 bytes are copied
 * instead, which is cheaper for small frames: a 200-byte frame as two parts cuts a raw
 * DEALER/ROUTER round trip from about 160 µs to 110 µs here (measured when this was chosen).
 */
export const COPIED_PART = 128
/** Frames up to this size travel as parts of {@link COPIED_PART} bytes; larger ones as one part. */
export const SPLIT_MAX = 1024

/**
 * The parts a frame travels as (see {@link COPIED_PART}), views of one copy of it: the hub
 * sends at the end of the turn, and zeromq.js hands a part over 128 bytes to libzmq as it is,
 * so the caller may reuse its buffer once this returns.
 */
export function frameParts(frame: Uint8Array): Buffer[] {
  const buffer = Buffer.from(frame)
  const size = buffer.byteLength
  if (size <= COPIED_PART || size > SPLIT_MAX) return [buffer]
  const parts: Buffer[] = []
  for (let at = 0; at < size; at += COPIED_PART) parts.push(buffer.subarray(at, at + COPIED_PART))
  return parts
}

/** The size of the frame carried by `parts[first…]` (checked before {@link joinParts} copies). */
export function partsSize(parts: readonly Buffer[], first: number): number {
  let size = 0
  for (let i = first; i < parts.length; i++) size += parts[i]!.length
  return size
}

/** The frame carried by `parts[first…]`, joined; undefined when there is no such part. */
export function joinParts(parts: readonly Buffer[], first: number): Buffer | undefined {
  if (parts.length <= first) return undefined
  if (parts.length === first + 1) return parts[first]
  return Buffer.concat(parts.slice(first))
}
