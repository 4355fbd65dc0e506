// The soak's invariants. The driver records what became of every write (a `Ledger` per
// writer incarnation); after each phase a `Model` takes in the writes settled since the last
// check, each once, keeping a summary per key that stays small however long the run, and
// checks the master's committed state against it. Violations are strings; none means the
// invariants held.
import { COUNTERS, MUTATING, opFor, parseValue } from './ops.mjs'

/** What became of a write from its reported error: `unknown`, `failed`, or a `violation`. */
export function classifyError(code, message) {
  // A compare-and-set that lost: nothing applied.
  if (code === 'ERR_CONFLICT') return { state: 'failed' }
  if (code === 'ERR_UNAVAILABLE') {
    // Never sent (pending bound, unreachable master) is not applied; sent and unanswered may be.
    if (/may or may not/.test(message)) return { state: 'unknown' }
    return { state: 'failed' }
  }
  return { state: 'violation', why: `${code}: ${message}` }
}

/**
 * One writer incarnation's record: `granted` (no write past it was ever issued), the seq of
 * each acknowledged write, the fate of each other one, and whether it is `dead` (killed:
 * writes without an outcome may or may not have been applied).
 */
export class Ledger {
  constructor(seed, writer, inc) {
    this.seed = seed
    this.writer = writer
    this.inc = inc
    this.granted = 0
    /** The next write number the node reported. */
    this.next = 1
    /** Set while quiesced: the last write issued. */
    this.issued = undefined
    this.dead = false
    this.outcomes = 0
    /** Writes acknowledged, and the others by the code they rejected with. */
    this.acked = 0
    this.codes = {}
    this.seqs = new Float64Array(1024)
    /** n → { state, why? } for writes that were not acknowledged. */
    this.errors = new Map()
    /** Writes up to this one went into the model. */
    this.absorbed = 0
  }

  get name() {
    return `w${this.writer}.${this.inc}`
  }

  /** Records `[n, seq]` (acknowledged) or `[n, 0, code, message]`. */
  record(result) {
    const [n, seq, code, message] = result
    if (n >= this.seqs.length) {
      const grown = new Float64Array(Math.max(n + 1, this.seqs.length * 2))
      grown.set(this.seqs)
      this.seqs = grown
    }
    if (this.seqs[n] !== 0 || this.errors.has(n)) return
    this.outcomes++
    // Stored plus one: a remove of an absent key in a fresh store resolves to seq 0.
    if (code === undefined) {
      this.seqs[n] = seq + 1
      this.acked++
    } else {
      this.errors.set(n, classifyError(code, message))
      this.codes[code] = (this.codes[code] ?? 0) + 1
    }
  }

  /** The fate of write `n`: `{ state: 'acked', seq }`, `unknown`, `failed`, `violation` or `pending`. */
  fate(n) {
    const seq = n < this.seqs.length ? this.seqs[n] : 0
    if (seq > 0) return { state: 'acked', seq: seq - 1 }
    const error = this.errors.get(n)
    if (error !== undefined) return error
    if (this.dead || this.issued === undefined) return { state: 'unknown' }
    // Quiesced: past `issued` nothing was sent.
    return n > this.issued ? { state: 'failed' } : { state: 'pending' }
  }

  /** The writes settled for good: all that may have been issued by a dead one, those issued so far by a quiesced one. */
  get settledUpTo() {
    return this.dead ? this.granted : (this.issued ?? 0)
  }
}

/**
 * What the writes so far imply, per key. The invariants (S3.2-S3.6, S6.3, S6.4):
 * - a write reported as failed was never applied, and no write failed with an unexpected error;
 * - every acknowledged write is in the master at its seq, or a write with a higher seq replaced it;
 * - no two acknowledged mutations share a seq, and one incarnation's writes are applied in issue order;
 * - each counter (incremented by one incarnation) is its acknowledged increments, plus at most
 *   those whose outcome is unknown;
 * - each append log holds every acknowledged token, in issue order, once, and nothing else;
 * - nothing stays stored long past its deadline (S4.3);
 * - each entry has the deadline the write that holds it carried, or none (S4.2): a put
 *   with an expiry has one (until it expires), a put without one or a compare-and-set has
 *   none, whatever the key held before; counters and logs never have one.
 */
export class Model {
  constructor() {
    /** By name: the ledgers, to look a write up from a value or token naming it. */
    this.ledgers = new Map()
    /** kv key → { last: {seq, kind, expiry, phase}, unknownRemoval: phase } */
    this.kv = new Map()
    this.lastClear = 0
    this.unknownClear = -1
    /** Per store, the acknowledged mutation seqs (a bitmap): each once. */
    this.seen = {
      kv: new Uint8Array(1 << 16),
      counters: new Uint8Array(1 << 16),
      logs: new Uint8Array(1 << 16),
    }
    this.counters = new Map()
    /** log key → acknowledged tokens. */
    this.logs = new Map()
    /** ledger name → store → the last acknowledged { seq, n }. */
    this.order = new Map()
    this.tally = { acked: 0, unknown: 0, failed: 0, violation: 0 }
  }

  /** Takes in the writes settled since the last call; returns the violations they show on their own. */
  absorb(ledgers, phase) {
    const violations = []
    for (const ledger of ledgers) {
      this.ledgers.set(`${ledger.writer}.${ledger.inc}`, ledger)
      for (let j = 0; j < COUNTERS; j++) {
        const key = `${ledger.writer}.${ledger.inc}/c${j}`
        if (!this.counters.has(key)) this.counters.set(key, { acked: 0, unknown: 0 })
      }
      const upTo = ledger.settledUpTo
      for (let n = ledger.absorbed + 1; n <= upTo; n++) this.#absorbWrite(ledger, n, phase, violations)
      ledger.absorbed = Math.max(ledger.absorbed, upTo)
    }
    return violations
  }

  #absorbWrite(ledger, n, phase, violations) {
    const op = opFor(ledger.seed, ledger.writer, ledger.inc, n)
    const fate = ledger.fate(n)
    const { state } = fate
    this.tally[state] = (this.tally[state] ?? 0) + 1
    if (state === 'pending') {
      violations.push(`${ledger.name} write ${n} (${op.kind} ${op.key}) has no outcome after quiescing`)
      return
    }
    if (state === 'violation')
      violations.push(`${ledger.name} write ${n} (${op.kind} ${op.key}): ${fate.why}`)
    if (state === 'acked') {
      if (MUTATING.has(op.kind)) {
        if (this.#seenBefore(op.store, fate.seq))
          violations.push(
            `seq ${fate.seq} of ${op.store} acknowledged twice, the second time to ${ledger.name}#${n}`,
          )
      }
      // One clone's writes are applied in the order issued (S3.4): its seqs never go back.
      const order = this.order.get(ledger.name) ?? {}
      this.order.set(ledger.name, order)
      const before = order[op.store]
      if (before !== undefined && fate.seq < before.seq)
        violations.push(
          `${ledger.name}: write ${n} acknowledged at ${op.store} seq ${fate.seq}, below write ${before.n}'s ${before.seq}`,
        )
      if (before === undefined || fate.seq >= before.seq) order[op.store] = { seq: fate.seq, n }
    }
    switch (op.kind) {
      case 'put':
      case 'cas':
      case 'remove': {
        let touch = this.kv.get(op.key)
        if (touch === undefined) this.kv.set(op.key, (touch = { last: undefined, unknownRemoval: -1 }))
        if (state === 'acked' && (touch.last === undefined || fate.seq >= touch.last.seq))
          touch.last = { seq: fate.seq, kind: op.kind, expiry: op.expiry, phase, name: `${ledger.name}#${n}` }
        if (state === 'unknown' && op.kind === 'remove') touch.unknownRemoval = phase
        break
      }
      case 'clear':
        if (state === 'acked') this.lastClear = Math.max(this.lastClear, fate.seq)
        if (state === 'unknown') this.unknownClear = phase
        break
      case 'incr': {
        const c = this.counters.get(op.key)
        if (state === 'acked') c.acked++
        if (state === 'unknown') c.unknown++
        break
      }
      case 'append':
        if (state === 'acked') this.logs.set(op.key, (this.logs.get(op.key) ?? 0) + 1)
        break
    }
  }

  #seenBefore(store, seq) {
    let bits = this.seen[store]
    if (seq >> 3 >= bits.length) {
      const grown = new Uint8Array(Math.max((seq >> 3) + 1, bits.length * 2))
      grown.set(bits)
      this.seen[store] = bits = grown
    }
    const mask = 1 << (seq & 7)
    const before = (bits[seq >> 3] & mask) !== 0
    bits[seq >> 3] |= mask
    return before
  }

  /** The fate of the write `writer.inc` number `n`, or undefined when no such incarnation wrote. */
  #fate(writer, inc, n) {
    const ledger = this.ledgers.get(`${writer}.${inc}`)
    if (ledger === undefined || n < 1 || n > Math.max(ledger.granted, ledger.issued ?? 0)) return undefined
    return { ...ledger.fate(n), name: `${ledger.name}#${n}` }
  }

  /** Checks the master's committed state (the hub's dump: store → { seq, entries, overdue }). */
  check(master) {
    const violations = []
    const { kv, counters, logs } = master
    if (kv.seq < this.lastClear)
      violations.push(`kv: clear acknowledged at ${this.lastClear}, master at ${kv.seq}`)
    // kv: each entry is a write that may have happened, at its seq.
    const withDeadline = new Set(kv.deadlineKeys ?? [])
    for (const [key, [value, seq]] of Object.entries(kv.entries)) {
      const origin = parseValue(value)
      const fate = origin === undefined ? undefined : this.#fate(origin.writer, origin.inc, origin.n)
      if (fate === undefined) {
        violations.push(`kv '${key}' holds '${value.slice(0, 40)}' at ${seq}: no write of this run made it`)
        continue
      }
      if (fate.state === 'failed')
        violations.push(`kv '${key}' holds ${fate.name}'s value, a write reported as not applied`)
      if (fate.state === 'acked' && fate.seq !== seq)
        violations.push(`kv '${key}' holds ${fate.name}'s value at seq ${seq}, acknowledged at ${fate.seq}`)
      if (seq <= this.lastClear)
        violations.push(`kv '${key}' at seq ${seq} survived a clear acknowledged at ${this.lastClear}`)
      // The value names its write, so the write that set the entry's deadline (S4.2).
      const ledger = this.ledgers.get(`${origin.writer}.${origin.inc}`)
      const op = opFor(ledger.seed, origin.writer, origin.inc, origin.n)
      const expected = op.kind === 'put' && op.expiry !== undefined
      if (withDeadline.has(key) !== expected)
        violations.push(
          `kv '${key}' holds ${fate.name}'s value (${op.kind}${op.expiry === undefined ? ' without expiry' : ` expiring in ${op.expiry} ms`}) ${expected ? 'without' : 'with'} a deadline (S4.2)`,
        )
    }
    for (const name of ['counters', 'logs']) {
      if (master[name].deadlines > 0)
        violations.push(
          `${name}: ${master[name].deadlines} entries have a deadline, no write gave one (S4.2)`,
        )
    }
    // kv: each key's last acknowledged write is there, or a later one replaced it.
    for (const [key, { last, unknownRemoval }] of this.kv) {
      if (last === undefined || last.seq <= this.lastClear) continue
      const entry = kv.entries[key]
      if (entry === undefined) {
        if (last.kind === 'remove' || last.expiry !== undefined) continue
        // A remove or clear whose outcome is unknown, from no earlier phase, may have taken it.
        if (unknownRemoval >= last.phase || this.unknownClear >= last.phase) continue
        violations.push(`kv '${key}': ${last.kind} ${last.name} acknowledged at seq ${last.seq} is lost`)
      } else if (entry[1] < last.seq || (entry[1] === last.seq && last.kind === 'remove')) {
        violations.push(
          `kv '${key}' at seq ${entry[1]}, older than ${last.kind} ${last.name} acknowledged at ${last.seq}`,
        )
      }
    }
    // Counters: one incarnation increments each, by one.
    for (const [key, c] of this.counters) {
      const value = Number(counters.entries[key]?.[0] ?? 0)
      if (value < c.acked || value > c.acked + c.unknown)
        violations.push(
          `counter '${key}' = ${value}: ${c.acked} acknowledged increments + at most ${c.unknown} unknown`,
        )
    }
    // Logs: one incarnation's tokens, each once, in issue order; the acknowledged ones all there.
    const logKeys = new Set([...this.logs.keys(), ...Object.keys(logs.entries)])
    for (const key of logKeys) {
      const entry = logs.entries[key]
      const [writer, inc] = key.split('/')[0].split('.').map(Number)
      let before = 0
      let acked = 0
      let lastFate
      for (const token of entry === undefined ? [] : entry[0].split(',')) {
        if (token === '') continue
        const n = Number(token)
        const fate = this.#fate(writer, inc, n)
        lastFate = fate
        if (fate === undefined) violations.push(`log '${key}' holds token ${token}, never issued`)
        else if (fate.state === 'failed')
          violations.push(`log '${key}' holds token ${token}, reported as not applied`)
        else if (fate.state === 'acked') acked++
        if (n === before) violations.push(`log '${key}' holds token ${token} twice (a write applied twice)`)
        else if (n < before)
          violations.push(`log '${key}': token ${token} after ${before} (out of issue order)`)
        before = n
      }
      const expected = this.logs.get(key) ?? 0
      if (acked !== expected)
        violations.push(`log '${key}' holds ${acked} acknowledged tokens of ${expected}: some are lost`)
      if (entry !== undefined && lastFate?.state === 'acked' && lastFate.seq !== entry[1])
        violations.push(`log '${key}' at seq ${entry[1]}, its last token acknowledged at ${lastFate.seq}`)
    }
    for (const name of Object.keys(master)) {
      if (master[name].overdue > 0)
        violations.push(
          `${name}: ${master[name].overdue} entries still stored 5 s past their deadline (S4.3)`,
        )
    }
    return violations
  }
}

/** Differences between a clone's dump and the master's, at most `max` of them. */
export function diffClone(name, clone, master, max = 10) {
  const out = []
  for (const [store, m] of Object.entries(master)) {
    const c = clone[store]
    // What changes() reported, applied in order, is the clone.
    if (c.mirror !== undefined)
      out.push(...diffEntries(`${name} ${store} changes()`, c.mirror, c.entries, 'clone'))
    if (c.status !== 'live') out.push(`${name} ${store}: status ${c.status}`)
    if (c.seq !== m.seq) out.push(`${name} ${store}: seq ${c.seq}, master ${m.seq}`)
    // A prefix view holds the master's keys under its prefix (S2.6).
    const theirs =
      c.prefix === ''
        ? m.entries
        : Object.fromEntries(Object.entries(m.entries).filter(([k]) => k.startsWith(c.prefix)))
    out.push(...diffEntries(`${name} ${store}`, c.entries, theirs, 'master'))
  }
  return out.slice(0, max)
}

/** Differences between two `{ key: [value, seq] }` maps, `mine` against `theirs` (named `other`); at most 10. */
function diffEntries(name, mine, theirs, other) {
  const out = []
  for (const [key, entry] of Object.entries(theirs)) {
    const own = mine[key]
    if (own === undefined) out.push(`${name} '${key}': missing (${other} ${entry[1]})`)
    else if (own[0] !== entry[0] || own[1] !== entry[1])
      out.push(
        `${name} '${key}': seq ${own[1]}, ${other} ${entry[1]}${own[0] === entry[0] ? '' : ', other value'}`,
      )
    if (out.length >= 10) return out
  }
  for (const key of Object.keys(mine)) {
    if (!(key in theirs)) out.push(`${name} '${key}': present at ${mine[key][1]}, not in ${other}`)
    if (out.length >= 10) return out
  }
  return out
}

/** `metrics` (`node.metrics`, `hub.metrics`) added into `into` by name: `field`, and `field.key` for a record of numbers. */
export function addCounters(into, metrics) {
  for (const [name, value] of Object.entries(metrics ?? {})) {
    if (typeof value === 'number') into[name] = (into[name] ?? 0) + value
    else if (value !== null && typeof value === 'object') {
      for (const [key, n] of Object.entries(value)) {
        if (typeof n === 'number') into[`${name}.${key}`] = (into[`${name}.${key}`] ?? 0) + n
      }
    }
  }
  return into
}

/** The counters of `addCounters` that are not 0, as `name n, …`. */
export function countersText(counters) {
  const parts = Object.entries(counters).filter(([, n]) => n !== 0)
  return parts.length === 0 ? 'every counter 0' : parts.map(([name, n]) => `${name} ${n}`).join(', ')
}

/**
 * What the `node.metrics` of one node process must show in a correct run under the soak's
 * chaos, as violations. `viewer`: the process never writes. `ledger`: given for a writer
 * quiesced, every write it issued settled: its counts must agree with the outcomes it reported.
 * Only what is guaranteed whatever the chaos is asserted; each rule says why.
 */
export function nodeMetricsViolations(name, metrics, { viewer = false, ledger } = {}) {
  const out = []
  const bad = (text) => out.push(`${name}: node.metrics.${text}`)
  // The hub runs with durability 'sync': it acknowledges a write once the write is on disk, so
  // a master restarted after kill -9 holds every write it acknowledged (S6.4); none is lost.
  if (metrics.writesLost !== 0) bad(`writesLost is ${metrics.writesLost} under 'sync' durability`)
  // Every message a correct hub of the same version sends decodes (S9.1): the same frame
  // limit on both ends, ZeroMQ and Redis deliver whole messages even from a process killed
  // mid-send, and the soak publishes no events whose payload a schema could refuse.
  if (Object.keys(metrics.refused).length > 0) bad(`refused is ${JSON.stringify(metrics.refused)}`)
  // The nodes open every store with the hub's own schemas: every value of a snapshot or
  // broadcast decodes.
  if (metrics.resyncs.decode !== 0) bad(`resyncs.decode is ${metrics.resyncs.decode}`)
  // A correct hub answers a resume with a log replay from exactly the (epoch, seq) the clone sent.
  if (metrics.resyncs.protocol !== 0) bad(`resyncs.protocol is ${metrics.resyncs.protocol}`)
  // The workload's values fit their schemas and the hub has no access rules: the master refuses
  // only a compare-and-set that lost (ERR_CONFLICT, S3.6) and a resent write whose outcome it no
  // longer remembers (ERR_UNAVAILABLE, "may or may not have been applied").
  const codes = Object.keys(metrics.writeErrors).filter(
    (c) => c !== 'ERR_CONFLICT' && c !== 'ERR_UNAVAILABLE',
  )
  if (codes.length > 0) bad(`writeErrors has ${codes.join(', ')}: ${JSON.stringify(metrics.writeErrors)}`)
  // A write-only node reads back some of its writes (node.read): the hub refuses none of them
  // (a known store, its schema, no access rules); only chaos can leave one unanswered.
  const readCodes = Object.keys(metrics.readErrors).filter((c) => c !== 'ERR_UNAVAILABLE')
  if (readCodes.length > 0)
    bad(`readErrors has ${readCodes.join(', ')}: ${JSON.stringify(metrics.readErrors)}`)
  if (viewer && metrics.writesSent !== 0)
    bad(`writesSent is ${metrics.writesSent} for a node that never writes`)
  if (ledger !== undefined) {
    // Each write is counted once when it first leaves: every acknowledged one left, and no
    // more left than the workload issued.
    if (metrics.writesSent < ledger.acked || metrics.writesSent > ledger.issued)
      bad(
        `writesSent is ${metrics.writesSent}; ${ledger.acked} writes were acknowledged of ${ledger.issued} issued`,
      )
    // A write that timed out, was in doubt after a hub restart, or whose outcome the hub forgot
    // rejected with ERR_UNAVAILABLE: no more of them than such outcomes reported.
    const unavailable =
      metrics.writeTimeouts + metrics.writesInDoubt + (metrics.writeErrors.ERR_UNAVAILABLE ?? 0)
    if (unavailable > (ledger.codes.ERR_UNAVAILABLE ?? 0))
      bad(
        `writeTimeouts ${metrics.writeTimeouts} + writesInDoubt ${metrics.writesInDoubt} + writeErrors.ERR_UNAVAILABLE ${metrics.writeErrors.ERR_UNAVAILABLE ?? 0} > ${ledger.codes.ERR_UNAVAILABLE ?? 0} writes rejected with ERR_UNAVAILABLE`,
      )
    // Every compare-and-set the master refused rejected with ERR_CONFLICT.
    if ((metrics.writeErrors.ERR_CONFLICT ?? 0) > (ledger.codes.ERR_CONFLICT ?? 0))
      bad(
        `writeErrors.ERR_CONFLICT is ${metrics.writeErrors.ERR_CONFLICT}, ${ledger.codes.ERR_CONFLICT ?? 0} writes rejected with it`,
      )
  }
  return out
}

/**
 * What the `hub.metrics` of one hub process must show in a correct run under the soak's
 * chaos, as violations (as `nodeMetricsViolations` for nodes).
 */
export function hubMetricsViolations(name, metrics) {
  const out = []
  const bad = (text) => out.push(`${name}: hub.metrics.${text}`)
  // The same as the nodes' writeErrors: no access rules, values that fit their schemas.
  const codes = Object.keys(metrics.writeErrors).filter(
    (c) => c !== 'ERR_CONFLICT' && c !== 'ERR_UNAVAILABLE',
  )
  if (codes.length > 0) bad(`writeErrors has ${codes.join(', ')}: ${JSON.stringify(metrics.writeErrors)}`)
  // Every node opens the hub's stores with the hub's schemas, with every permission, and
  // publishes strings on a topic whose schema is a string: nothing of that is refused.
  for (const counter of ['opensRefused', 'writersRefused', 'readsRefused'])
    if (Object.keys(metrics[counter]).length > 0) bad(`${counter} is ${JSON.stringify(metrics[counter])}`)
  if (metrics.eventsRefused !== 0) bad(`eventsRefused is ${metrics.eventsRefused}`)
  // Correct nodes send nothing malformed (S9.1): what a node sent on a link before it ended
  // (the hub dropped it, or its connection went) is late, not refused.
  if (Object.keys(metrics.refused).length > 0) bad(`refused is ${JSON.stringify(metrics.refused)}`)
  return out
}
