/**
 * The sender's side of a link's credit window: frames (and their bytes) sent but not yet
 * acknowledged as consumed by the receiver. This is what bounds a peer's queue exactly and
 * lets `send` answer false synchronously (ZeroMQ's own send result arrives too late, in a
 * promise); ZeroMQ's high-water marks sit above it as a backstop.
 */
export class CreditWindow {
  frames = 0
  bytes = 0
  /** Sizes of the frames in flight, oldest first (a ring). */
  #sizes: Float64Array
  #head = 0

  constructor(
    readonly maxFrames: number,
    readonly maxBytes: number,
  ) {
    this.#sizes = new Float64Array(Math.min(maxFrames, 1024))
  }

  /** Takes credit for a frame of `size` bytes; false (nothing taken) when the window is full. */
  take(size: number): boolean {
    if (this.frames >= this.maxFrames || (this.bytes + size > this.maxBytes && this.frames > 0)) return false
    if (this.frames === this.#sizes.length) this.#grow()
    this.#sizes[(this.#head + this.frames) % this.#sizes.length] = size
    this.frames++
    this.bytes += size
    return true
  }

  /** The receiver consumed `count` more frames; returns false when it acknowledged more than was sent. */
  release(count: number): boolean {
    if (count > this.frames) return false
    for (let i = 0; i < count; i++) {
      this.bytes -= this.#sizes[this.#head]!
      this.#head = (this.#head + 1) % this.#sizes.length
    }
    this.frames -= count
    if (this.frames === 0) this.bytes = 0
    return true
  }

  #grow(): void {
    const next = new Float64Array(Math.min(this.maxFrames, this.#sizes.length * 2))
    for (let i = 0; i < this.frames; i++) next[i] = this.#sizes[(this.#head + i) % this.#sizes.length]!
    this.#sizes = next
    this.#head = 0
  }
}

/**
 * The receiver's side: counts consumed frames and says when to acknowledge them: at once
 * when a quarter of the sender's window is consumed, else a little later (the caller's timer
 * coalesces those).
 */
export class AckCounter {
  frames = 0
  bytes = 0
  readonly #ackFrames: number
  readonly #ackBytes: number

  constructor(senderWindow: readonly [number, number]) {
    this.#ackFrames = Math.max(1, Math.floor(senderWindow[0] / 4))
    this.#ackBytes = Math.max(1, Math.floor(senderWindow[1] / 4))
  }

  /** Counts one consumed frame; true when an acknowledgement is due now. */
  consumed(size: number): boolean {
    this.frames++
    this.bytes += size
    return this.frames >= this.#ackFrames || this.bytes >= this.#ackBytes
  }

  /** The frames to acknowledge (0 when none), resetting the count. */
  take(): number {
    const frames = this.frames
    this.frames = 0
    this.bytes = 0
    return frames
  }
}
