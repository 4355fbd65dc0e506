interface Node {
  key: string
  deadline: number
  index: number
}

/**
 * An indexed binary min-heap of deadlines, one per key (S4.5): set, delete and pop are
 * O(log n); nothing ever scans the store. Rewriting a key moves its one node, so the heap
 * holds exactly the keys that have a deadline.
 */
export class ExpiryHeap {
  readonly #nodes: Node[] = []
  readonly #byKey = new Map<string, Node>()

  get size(): number {
    return this.#nodes.length
  }

  /** The earliest deadline, or undefined when empty. */
  peekDeadline(): number | undefined {
    return this.#nodes[0]?.deadline
  }

  /** Sets (or moves) `key`'s deadline. */
  set(key: string, deadline: number): void {
    const existing = this.#byKey.get(key)
    if (existing !== undefined) {
      const old = existing.deadline
      existing.deadline = deadline
      if (deadline < old) this.#up(existing.index)
      else this.#down(existing.index)
      return
    }
    const node: Node = { key, deadline, index: this.#nodes.length }
    this.#nodes.push(node)
    this.#byKey.set(key, node)
    this.#up(node.index)
  }

  /** Removes `key`'s deadline, if any. */
  has(key: string): boolean {
    return this.#byKey.has(key)
  }

  delete(key: string): void {
    const node = this.#byKey.get(key)
    if (node === undefined) return
    this.#byKey.delete(key)
    const last = this.#nodes.pop()!
    if (last !== node) {
      this.#nodes[node.index] = last
      last.index = node.index
      this.#up(last.index)
      this.#down(last.index)
    }
  }

  /** Removes and returns the key with the earliest deadline if that deadline is `<= now`. */
  popDue(now: number): string | undefined {
    const top = this.#nodes[0]
    if (top === undefined || top.deadline > now) return undefined
    this.delete(top.key)
    return top.key
  }

  /** Removes every deadline. */
  clear(): void {
    this.#nodes.length = 0
    this.#byKey.clear()
  }

  /** Builds the heap from many entries at once in O(n) (recovery). */
  load(entries: Iterable<readonly [string, number]>): void {
    for (const [key, deadline] of entries) {
      const existing = this.#byKey.get(key)
      if (existing !== undefined) {
        existing.deadline = deadline
        continue
      }
      const node: Node = { key, deadline, index: this.#nodes.length }
      this.#nodes.push(node)
      this.#byKey.set(key, node)
    }
    for (let i = (this.#nodes.length >> 1) - 1; i >= 0; i--) this.#down(i)
  }

  #up(index: number): void {
    const nodes = this.#nodes
    const node = nodes[index]!
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = nodes[parentIndex]!
      if (parent.deadline <= node.deadline) break
      nodes[index] = parent
      parent.index = index
      index = parentIndex
    }
    nodes[index] = node
    node.index = index
  }

  #down(index: number): void {
    const nodes = this.#nodes
    const length = nodes.length
    const node = nodes[index]!
    for (;;) {
      const left = 2 * index + 1
      if (left >= length) break
      const right = left + 1
      const child = right < length && nodes[right]!.deadline < nodes[left]!.deadline ? right : left
      const childNode = nodes[child]!
      if (childNode.deadline >= node.deadline) break
      nodes[index] = childNode
      childNode.index = index
      index = child
    }
    nodes[index] = node
    node.index = index
  }
}
