import type { Persistence, Transport } from '@concord/core'

/**
 * Which way a frame travels, for {@link ConformanceFaults}: to the hub, to a node, or either.
 */
export type FaultDirection = 'toHub' | 'toNode' | 'both'

/** Which frames a fault rule applies to. Every field given must match; an empty filter matches all. */
export interface FaultFilter {
  /** Default `both`. */
  readonly direction?: FaultDirection
  /** A frame to one peer (every node→hub frame is one) or one copy of a hub broadcast. */
  readonly kind?: 'unicast' | 'broadcast'
  /** Only frames on links of nodes presenting this identity. */
  readonly node?: string
}

/** Removes the fault rule it was returned for. Idempotent. */
export type RemoveFault = () => void

/**
 * Fault injection, for transports that can simulate a bad network (the in-memory transport's
 * `faults` satisfies it as is). Nodes are selected by the identity they present: the suites
 * create such nodes with {@link TransportEnv.transportFor} when it exists, and always pass the
 * identity in the node's config too.
 *
 * The rules `drop`, `duplicate` and `reorder` deliberately break the transport contract (a
 * non-lossy FIFO) to show that core detects it; the lifecycle faults stay within it.
 */
export interface ConformanceFaults {
  /** Drops each matching frame with probability `p`; the sender is not told. */
  drop(p: number, filter?: FaultFilter): RemoveFault
  /** Delivers each matching frame twice with probability `p`. */
  duplicate(p: number, filter?: FaultFilter): RemoveFault
  /** With probability `p`, swaps a matching frame with the one queued just before it. */
  reorder(p: number, filter?: FaultFilter): RemoveFault
  /** Cuts the nodes presenting `identity` off: their links go down and stay down until {@link heal}. */
  partition(identity: string): number
  /** Lifts the partition of `identity` (every partition without one); nodes link again per their backoff. */
  heal(identity?: string): void
  /** Drops the current links of the nodes presenting `identity`; they link again per their backoff. */
  kill(identity: string): number
  /** Kills the hub endpoint listening at `address` abruptly (no handler runs again); the address is free at once. */
  killHub(address: string): boolean
  /** The nodes presenting `identity` stop reading: frames to them pile up in their bounded queue (S6.5). */
  pause(identity: string): void
  /** Undoes {@link pause} for `identity` (every pause without one). */
  resume(identity?: string): void
  /** Removes every rule, partition and pause. */
  clear(): void
}

/**
 * What the transport axis brings to a test. One is made per test by the suite's `setup` and
 * handed back to its `teardown`.
 */
export interface TransportEnv {
  /** The transport the hubs and nodes of the test use (and that the transport suite tests). */
  readonly transport: Transport
  /**
   * A listen address for this test, in the transport's form (`memory://conformance-7`,
   * `tcp://127.0.0.1:0`). The suites read the address actually bound from the endpoint or
   * hub, and reuse that one to restart a hub "on the same address".
   */
  address(): string
  /**
   * A transport over the same medium whose links authenticate as `identity` (S8.1): a named
   * identity, a CURVE key pair, an ACL user… Absent when the transport cannot authenticate
   * distinct identities: the suites then do not register the access-control tests (S8).
   */
  transportFor?(identity: string): Transport
  /**
   * Fault injection (see {@link ConformanceFaults}). Absent when the transport cannot inject
   * faults: the suites then do not register the tests that need them (S6.2 silence, S6.3
   * resume and convergence under loss, S6.5 slow clones, S7.6 slow subscribers, crashes).
   */
  readonly faults?: ConformanceFaults
}

/**
 * What the persistence axis brings to a test. Everything is over this test's own data:
 * nothing is shared with other tests.
 */
export interface PersistenceEnv {
  /**
   * A persistence instance over this test's data. Each call returns one over the same data,
   * as a restarted process would open the same files: the suites close the previous instance
   * first (for memory persistence, wrap the one object so that `close()` only closes the
   * backends this wrapper opened). The suites close every instance they got; `teardown`
   * removes the data.
   */
  persistence(): Persistence
  /**
   * Simulates the process dying for the persistence (S6.4): whatever was not committed yet is
   * lost and every instance handed out so far becomes unusable (only `close()` still resolves).
   * Later {@link persistence} calls work over what was committed. Registered only when
   * `capabilities.crashable` is true as well.
   */
  crash?(): void
  /** Makes the next `count` commits fail with `PersistenceError`, applying nothing (S3.3). */
  failCommits?(count: number): void
  /**
   * Makes the next `count` reads of stored entries — a key's entry (`get`), a snapshot
   * cursor's `next`, `deadlines()` — throw `PersistenceError`, as a damaged page would
   * (S9.2). The data is untouched: reads work again afterwards.
   */
  failReads?(count: number): void
  /** Damages the stored data of `store` as a corrupt file would be (S9.2). Call it with no instance open. */
  corrupt?(store: string): void | Promise<void>
}

/** What the store and events suites get: a transport and a persistence, for one test. */
export interface ConformanceEnv extends TransportEnv, PersistenceEnv {}

/**
 * The options of every suite: `setup` builds a fresh environment before each test (and once
 * while the suite is collected, to read the adapters' `capabilities` and see which optional
 * members exist); `teardown` releases it after the suite closed every hub, node and
 * persistence instance it made.
 */
export interface SuiteOptions<E> {
  /** The title of the suite's `describe` block, e.g. `memory x sqlite`. */
  readonly name: string
  readonly setup: () => Promise<E>
  readonly teardown: (env: E) => Promise<void>
}
