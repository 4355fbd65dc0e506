import {
  type Hub,
  type HubMetrics,
  memoryPersistence,
  PersistenceError,
  type StatusChange,
  type Store,
  UnavailableError,
} from '@concord/core'
import { describe, expect, it } from 'vitest'
import { STALL_PROOF_HEARTBEAT, type SuiteContext } from '../harness.js'
import type { LinkGate } from '../helpers.js'
import {
  cloneEntries,
  eventually,
  expectIncreasing,
  isSubsequence,
  masterEntries,
  masterSeq,
  record,
  SOON,
  settle,
  within,
} from '../helpers.js'
import { Count, Text } from '../schemas.js'

/** S6: links, restarts and resync. */
export function linkTests({ h, probe }: SuiteContext): void {
  const faults = () => h().env.faults!
  const canCrash = probe.has.faults && probe.has.crash && probe.persistence?.crashable === true

  describe('S6 links, restarts and resync', () => {
    it('S6.1 a clone is live once open, stale while its hub is down while still serving reads, and live again after', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      expect(store.status).toBe('live')
      await store.put('a', 'one')
      const statuses = record(store.statusChanges())
      const address = hub.address
      await h().stopHub(hub)
      await eventually(() => expect(store.status).toBe('stale'))
      expect(store.get('a')).toBe('one')
      expect(store.has('a')).toBe(true)
      expect(store.size).toBe(1)
      expect([...store.entries()]).toEqual([['a', 'one']])
      const stale = statuses.items.find((s) => s.status === 'stale')
      expect(stale?.error).toBeInstanceOf(Error)
      await h().hub({ stores, listen: address })
      await eventually(() => expect(store.status).toBe('live'))
      expect(store.get('a')).toBe('one')
      expect(
        isSubsequence(
          ['stale', 'syncing', 'live'],
          statuses.items.map((s) => s.status),
        ),
      ).toBe(true)
    })

    it('S6.1 every status is one of connecting, syncing, live, stale, closed; closing ends the stream with closed', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const statuses = record(store.statusChanges())
      await store.close()
      expect(store.status).toBe('closed')
      expect(await within(statuses.ended, SOON, 'the status stream after close')).toBeUndefined()
      expect(statuses.items.map((s: StatusChange) => s.status)).toEqual(['closed'])
      for (const s of statuses.items) {
        expect(['connecting', 'syncing', 'live', 'stale', 'closed']).toContain(s.status)
      }
    })

    it('S6.2 heartbeats keep an idle clone live across many heartbeat periods', async () => {
      // Periods long enough that a busy machine's stalls (a few hundred ms) are not silence.
      const hub = await h().hub({ heartbeat: 250, stores: { kv: { schema: Text } } })
      const store = await (await h().node(hub)).open('kv', { schema: Text })
      const statuses = record(store.statusChanges())
      const before = hub.metrics.framesIn
      // An idle node pings once per heartbeat period: wait for ten periods of application silence
      // (2.5 s), with room for a machine starved of CPU (a full run under another process's
      // benchmark once saw 9 pings in 5 s, the default wait).
      await eventually(() => expect(hub.metrics.framesIn - before).toBeGreaterThanOrEqual(10), 15_000)
      expect(store.status).toBe('live')
      expect(statuses.items).toEqual([])
      expect(hub.metrics.peerTimeouts).toBe(0)
    })

    it('S6.2 a clone that lost its hub reconnects with the injected backoff policy', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const attempts: number[] = []
      const backoff = (attempt: number) => {
        attempts.push(attempt)
        return 10
      }
      const store = await (await h().node(hub, { backoff })).open('kv', { schema: Text })
      const address = hub.address
      await h().stopHub(hub)
      await eventually(() => expect(attempts.length).toBeGreaterThanOrEqual(3))
      expect(attempts.slice(0, 3)).toEqual([1, 2, 3])
      await h().hub({ stores, listen: address })
      await eventually(() => expect(store.status).toBe('live'))
    })

    if (probe.has.faults) {
      it('S6.2 silence from the hub for staleAfter makes the clone stale, and it reconnects by itself', async () => {
        const hub = await h().hub({ heartbeat: 50, stores: { kv: { schema: Text } } })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        const quiet = await (await h().node(hub, { identity: 'quiet', staleAfter: 150 })).open('kv', {
          schema: Text,
        })
        const statuses = record(quiet.statusChanges())
        const silence = faults().drop(1, { direction: 'toNode', node: 'quiet' })
        await eventually(() => expect(quiet.status).toBe('stale'))
        expect(statuses.items.find((s) => s.status === 'stale')?.error).toBeInstanceOf(UnavailableError)
        await writer.put('a', 'while silent')
        silence()
        await eventually(() => {
          expect(quiet.status).toBe('live')
          expect(quiet.get('a')).toBe('while silent')
        })
      })

      it('S6.3 a clone that reconnects resumes from the log, without a snapshot', async () => {
        const hub = await h().hub({ stores: { kv: { schema: Text } } })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        const readerNode = await h().node(hub, { identity: 'reader' })
        const reader = await readerNode.open('kv', { schema: Text })
        await writer.put('a', '1')
        await eventually(() => expect(reader.has('a')).toBe(true))
        const { snapshots, resumes } = hub.metrics
        const node = { ...readerNode.metrics }
        faults().partition('reader')
        await eventually(() => expect(reader.status).toBe('stale'))
        for (let i = 0; i < 5; i++) await writer.put(`k${i}`, `v${i}`)
        await writer.remove('a')
        faults().heal('reader')
        await eventually(() => {
          expect(reader.status).toBe('live')
          expect(reader.seq).toBe(masterSeq(hub, 'kv'))
        })
        expect(hub.metrics.resumes).toBe(resumes + 1)
        expect(hub.metrics.snapshots).toBe(snapshots)
        // The node counts the same, and the link it lost and got back.
        expect(readerNode.metrics.resumes).toBe(node.resumes + 1)
        expect(readerNode.metrics.snapshots).toBe(node.snapshots)
        expect(readerNode.metrics.linksLost).toBeGreaterThan(node.linksLost)
        expect(readerNode.metrics.linksUp).toBeGreaterThan(node.linksUp)
        expect(cloneEntries(reader)).toEqual(masterEntries(hub, 'kv', Text))
      })

      it('S6.3 a lost broadcast is never silent divergence: the clone resyncs, counted in node.metrics.resyncs', async () => {
        const hub = await h().hub({ stores: { kv: { schema: Text } } })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        const readerNode = await h().node(hub, { identity: 'reader' })
        const reader = await readerNode.open('kv', { schema: Text })
        const lose = faults().drop(1, { direction: 'toNode', kind: 'broadcast', node: 'reader' })
        await writer.put('a', 'missed')
        // The hub had broadcast the write when the writer applied it, so it answers this
        // publish after it, on the reader's ordered link: once answered, the reader's copy
        // of the broadcast met the fault, wherever the transport applies it.
        await readerNode.publish('probe', new Uint8Array([1]))
        lose()
        const seq = await writer.put('b', 'after')
        await eventually(() => {
          expect(reader.status).toBe('live')
          expect(reader.seq).toBe(seq)
        })
        expect(reader.get('a')).toBe('missed')
        const { gap, behind, epoch, decode, syncBuffer, protocol } = readerNode.metrics.resyncs
        // Seen from the next write's broadcast, or from a heartbeat that came first.
        expect(gap + behind).toBeGreaterThanOrEqual(1)
        expect({ epoch, decode, syncBuffer, protocol }).toEqual({
          epoch: 0,
          decode: 0,
          syncBuffer: 0,
          protocol: 0,
        })
        expect(cloneEntries(reader)).toEqual(masterEntries(hub, 'kv', Text))
      })

      it('S6.3 a clone that fell behind the bounded log gets a fresh snapshot', async () => {
        const hub = await h().hub({ stores: { kv: { schema: Text, log: { maxMutations: 2 } } } })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        const readerNode = await h().node(hub, { identity: 'reader' })
        const reader = await readerNode.open('kv', { schema: Text })
        await writer.put('a', '1')
        await eventually(() => expect(reader.has('a')).toBe(true))
        const { snapshots, resumes } = hub.metrics
        const node = { ...readerNode.metrics }
        faults().partition('reader')
        await eventually(() => expect(reader.status).toBe('stale'))
        for (let i = 0; i < 10; i++) await writer.put(`k${i}`, `v${i}`)
        await writer.remove('a')
        faults().heal('reader')
        await eventually(() => {
          expect(reader.status).toBe('live')
          expect(reader.seq).toBe(masterSeq(hub, 'kv'))
        })
        expect(hub.metrics.snapshots).toBe(snapshots + 1)
        expect(hub.metrics.resumes).toBe(resumes)
        expect(readerNode.metrics.snapshots).toBe(node.snapshots + 1)
        expect(readerNode.metrics.resumes).toBe(node.resumes)
        expect(cloneEntries(reader)).toEqual(masterEntries(hub, 'kv', Text))
      })

      /**
       * A hub, a writer, and a reader that missed {@link REPLAYED} mutations while partitioned.
       * The reader announces 4 KiB frames, so each of those mutations (1.6 KB) travels in a
       * frame of its own: its replay is about five times the 1024 frames the matrix's
       * transports queue per link. Its frames can be held back (`gate`); with `holds`, it
       * does not give up on a sync that stalls while the test holds it (`staleAfter`).
       */
      const REPLAYED = 5000
      const behindByManyWindows = async ({
        log,
        holds = false,
      }: {
        log?: { maxMutations: number }
        holds?: boolean
      } = {}) => {
        const store = log === undefined ? { schema: Text } : { schema: Text, log }
        const hub = await h().hub({ stores: { kv: store } })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        const { node, gate } = await h().gatedNode(
          hub,
          holds ? { identity: 'reader', staleAfter: 60_000 } : { identity: 'reader' },
          { maxFrameSize: 4096 },
        )
        const reader = await node.open('kv', { schema: Text })
        await writer.put('a', '1')
        await eventually(() => expect(reader.has('a')).toBe(true))
        faults().partition('reader')
        await eventually(() => expect(reader.status).toBe('stale'))
        for (let i = 0; i < REPLAYED; i += 250) {
          await Promise.all(
            Array.from({ length: 250 }, (_, j) => writer.put(`r${i + j}`, `${i + j}:`.padEnd(1600, 'v'))),
          )
        }
        return { hub, writer, reader, gate, before: { ...hub.metrics } }
      }
      /**
       * Heals the reader and stops its replay a little way in: what the hub sends it alone
       * waits in `gate.held`, while broadcasts still reach it. Returns the seq it resumed from.
       */
      const healAndHoldMidReplay = async (reader: Store<string>, gate: LinkGate): Promise<number> => {
        const from = reader.seq
        gate.holdingFrames = () => reader.seq > from + 50
        faults().heal('reader')
        await eventually(() => expect(gate.held.length).toBeGreaterThan(0), 30_000)
        return from
      }
      /** Lets the reader's held frames through, in order, and holds no more. */
      const release = (gate: LinkGate) => {
        gate.holdingFrames = false
        for (const held of gate.held.splice(0)) held()
      }
      /**
       * Waits for the reader to be live at the master's seq, then checks it holds what the
       * master does and got there by resuming: no snapshot, no overflow. (Resumes are counted
       * with `toBeGreaterThan`: under load the hub may drop another peer for silence, the
       * writer, whose clone then resumes too.)
       */
      const caughtUpByResuming = async (hub: Hub, reader: Store<string>, before: HubMetrics) => {
        await eventually(() => {
          expect(reader.status).toBe('live')
          expect(reader.seq).toBe(masterSeq(hub, 'kv'))
        }, 30_000)
        expect(cloneEntries(reader)).toEqual(masterEntries(hub, 'kv', Text))
        expect(hub.metrics.resumes).toBeGreaterThan(before.resumes)
        expect(hub.metrics.snapshots).toBe(before.snapshots)
        expect(hub.metrics.peerQueueOverflows).toBe(before.peerQueueOverflows)
      }

      it('S6.3 a clone whose log replay is many times its link window resumes without a snapshot: the replay is paced', async () => {
        // The replay outlasts the reader's staleAfter (3 heartbeats): it counts as progress.
        const { hub, reader, before } = await behindByManyWindows()
        faults().heal('reader')
        await caughtUpByResuming(hub, reader, before)
      }, 60_000)

      it('S6.3 writes made while a paced replay is under way are applied once each, in seq order, none lost', async () => {
        const { hub, writer, reader, gate, before } = await behindByManyWindows({ holds: true })
        const changes = record(reader.changes())
        const from = await healAndHoldMidReplay(reader, gate)
        const during: Promise<number>[] = []
        for (let i = 0; i < 100; i++) during.push(writer.put(`r${i}`, `rewritten ${i}`))
        for (let i = 100; i < 150; i++) during.push(writer.remove(`r${i}`))
        for (let i = 0; i < 100; i++) during.push(writer.put(`n${i}`, `new ${i}`))
        await Promise.all(during)
        expect(reader.status).toBe('syncing')
        expect(reader.seq).toBeLessThan(from + REPLAYED)
        expect(hub.metrics.peerQueueOverflows).toBe(before.peerQueueOverflows)
        release(gate)
        await caughtUpByResuming(hub, reader, before)
        expect(reader.get('r0')).toBe('rewritten 0')
        expect(reader.has('r100')).toBe(false)
        // Every mutation after the reader's seq, each once, in order: the replay's, then the
        // buffered broadcasts past its end.
        const last = masterSeq(hub, 'kv')
        await eventually(() => expect(changes.items.length).toBeGreaterThanOrEqual(last - from))
        expect(changes.items.map((c) => c.seq)).toEqual(
          Array.from({ length: last - from }, (_, i) => from + 1 + i),
        )
      }, 60_000)

      it('S6.3 a paced replay whose batches the bounded log drops on the way still completes and converges', async () => {
        const { hub, writer, reader, gate, before } = await behindByManyWindows({
          log: { maxMutations: REPLAYED + 100 },
          holds: true,
        })
        const from = await healAndHoldMidReplay(reader, gate)
        // More writes than the log holds: every batch the replay has still to send leaves it.
        for (let i = 0; i < REPLAYED + 200; i += 500) {
          await Promise.all(Array.from({ length: 500 }, (_, j) => writer.put(`t${(i + j) % 50}`, `${i + j}`)))
        }
        expect(hub.master('kv')!.log.start).toBeGreaterThan(from + REPLAYED)
        expect(reader.status).toBe('syncing')
        release(gate)
        await caughtUpByResuming(hub, reader, before)
      }, 60_000)

      it('S6.3 a paced replay cut short by a lost link resumes from where it got to, without a snapshot', async () => {
        const { hub, reader, gate, before } = await behindByManyWindows({ holds: true })
        const from = await healAndHoldMidReplay(reader, gate)
        // The link goes down mid-replay; what it still carried is lost with it.
        faults().partition('reader')
        await eventually(() => expect(reader.status).toBe('stale'))
        const reached = reader.seq
        expect(reached).toBeGreaterThan(from + 50)
        gate.holdingFrames = false
        gate.held.length = 0
        faults().heal('reader')
        await caughtUpByResuming(hub, reader, before)
        expect(hub.metrics.resumes).toBeGreaterThanOrEqual(before.resumes + 2)
      }, 60_000)

      it('S6.3 under lost, duplicated and reordered frames no mutation is applied twice or skipped', async () => {
        const hub = await h().hub({
          heartbeat: 50,
          stores: { hits: { schema: Count }, kv: { schema: Text } },
        })
        const writerNode = await h().node(hub)
        const hits = await writerNode.open('hits', { schema: Count })
        const kv = await writerNode.open('kv', { schema: Text })
        const observerNode = await h().node(hub, { identity: 'observer' })
        const observedHits = await observerNode.open('hits', { schema: Count })
        const observedKv = await observerNode.open('kv', { schema: Text })
        const changes = record(observedKv.changes())
        const toObserver = { direction: 'toNode', kind: 'broadcast', node: 'observer' } as const
        faults().duplicate(0.3, toObserver)
        faults().reorder(0.3, toObserver)
        faults().drop(0.1, toObserver)
        for (let i = 0; i < 120; i++) {
          const writes: Promise<unknown>[] = [hits.update('n', 1n, { op: 'increment' })]
          if (i % 3 === 0) writes.push(kv.put(`k${i % 17}`, `v${i}`))
          if (i % 11 === 0) writes.push(kv.remove(`k${(i * 5) % 17}`))
          await Promise.all(writes)
        }
        faults().clear()
        await eventually(() => {
          expect(observedHits.seq).toBe(masterSeq(hub, 'hits'))
          expect(observedKv.seq).toBe(masterSeq(hub, 'kv'))
        }, 10_000)
        expect(observedHits.get('n')).toBe(120n)
        expect(cloneEntries(observedKv)).toEqual(masterEntries(hub, 'kv', Text))
        const applied = changes.items.map((c) => `${c.seq} ${c.key}`)
        expect(new Set(applied).size).toBe(applied.length)
        const seqs = changes.items.map((c) => c.seq)
        for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThanOrEqual(seqs[i - 1]!)
      })
    }

    it("S3.7 S6.5 a burst of writes bigger than the link's queue waits for room: the link stays up and every write resolves, in order", async () => {
      // A heartbeat long enough that a stall of a busy machine is not taken for silence: what
      // must not make the link go is the burst.
      const hub = await h().hub({ heartbeat: STALL_PROOF_HEARTBEAT, stores: { kv: { schema: Text } } })
      const node = await h().node(hub)
      const store = await node.open('kv', { schema: Text })
      const statuses = record(node.statusChanges())
      // One frame per write (each flushed before the next is made), more frames than the
      // link queues hold, all before the event loop turns.
      const writes: Promise<number>[] = []
      for (let i = 0; i < 1500; i++) {
        writes.push(store.put(`k${i}`, 'v'))
        await Promise.resolve()
      }
      const seqs = await within(Promise.all(writes), 30_000, 'the burst')
      expectIncreasing(seqs)
      expect(store.size).toBe(1500)
      expect(statuses.items).toEqual([])
    })

    it('S6.3 S6.4 after a master restart on its data (a new epoch), clones follow without user action; those that had everything resume from the log, with no snapshot', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      const readerNode = await h().node(hub)
      const reader = await readerNode.open('kv', { schema: Text })
      await writer.put('a', '1')
      await eventually(() => expect(reader.has('a')).toBe(true))
      const epoch = reader.epoch
      const restarted = await h().restart(hub, { stores })
      await eventually(() => expect(reader.epoch).not.toBe(epoch))
      await writer.put('b', '2')
      await eventually(() => {
        expect(reader.status).toBe('live')
        expect(reader.get('b')).toBe('2')
      })
      // The writer's clone and the reader's were at the store's last seq: the new epoch
      // begins there (whether a clone saw it on its link coming back or in a broadcast).
      expect(restarted.metrics.snapshots).toBe(0)
      expect(restarted.metrics.resumes).toBeGreaterThanOrEqual(2)
      expect(readerNode.metrics.snapshots).toBe(1)
      expect(readerNode.metrics.resumes).toBeGreaterThanOrEqual(1)
      expect(cloneEntries(reader)).toEqual(masterEntries(restarted, 'kv', Text))
    })

    it('S6.3 S6.4 after a master restart on its data, a clone behind it resyncs from a snapshot', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      // The reader's broadcasts are held back: it stays at seq 1 while the store goes on.
      const { node: readerNode, gate } = await h().gatedNode(hub)
      const reader = await readerNode.open('kv', { schema: Text })
      await reader.reached(await writer.put('a', '1'))
      const epoch = reader.epoch
      gate.holding = true
      await writer.put('b', '2')
      const restarted = await h().restart(hub, { stores })
      gate.holding = false
      gate.held.length = 0
      await eventually(() => {
        expect(reader.epoch).not.toBe(epoch)
        expect(reader.status).toBe('live')
        expect(reader.get('b')).toBe('2')
      })
      expect(restarted.metrics.snapshots).toBeGreaterThanOrEqual(1)
      expect(readerNode.metrics.snapshots).toBeGreaterThanOrEqual(2)
      expect(cloneEntries(reader)).toEqual(masterEntries(restarted, 'kv', Text))
    })

    it('S6.4 a restarted master recovers every acknowledged write, and seq numbering continues', async () => {
      const stores = { kv: { schema: Text } }
      const hub = await h().hub({ stores })
      const writer = await (await h().node(hub)).open('kv', { schema: Text })
      const acked = new Map<string, number>()
      for (let i = 0; i < 20; i++) acked.set(`k${i % 12}`, await writer.put(`k${i % 12}`, `v${i}`))
      const last = await writer.remove('k11')
      acked.delete('k11')
      const restarted = await h().restart(hub, { stores })
      expect(masterSeq(restarted, 'kv')).toBe(last)
      const reader = await (await h().node(restarted)).open('kv', { schema: Text })
      expect(reader.size).toBe(acked.size)
      for (const [key, seq] of acked) expect(reader.seqOf(key)).toBe(seq)
      expect(await reader.put('next', 'n')).toBe(last + 1)
      await eventually(() => {
        expect(writer.status).toBe('live')
        expect(writer.get('next')).toBe('n')
      })
    })

    for (const variant of ['from below it', 'past it']) {
      it(`S6.4 a write acknowledged by a master that then restarted without it (its data lost), ${variant}, rejects with PersistenceError and does not wait forever`, async () => {
        const stores = { kv: { schema: Text } }
        const hub = await h().hub({ stores })
        // The writer's broadcasts are held back, so its put is acknowledged but not yet applied.
        const { node, gate } = await h().gatedNode(hub)
        const writer = await node.open('kv', { schema: Text })
        const first = await writer.put('a', 'kept')
        gate.holding = true
        const lost = settle(writer.put('b', 'lost'))
        await eventually(() => expect(masterSeq(hub, 'kv')).toBe(first + 1))
        // Acknowledged on the same ordered channel before this publish's answer.
        await node.publish('probe/after-ack', new Uint8Array([1]))
        // Storage that has none of it: empty (a new epoch from seq 0), or (past it) with an
        // older write of the same key and its seqs beyond the lost one's.
        const storage = memoryPersistence()
        if (variant === 'past it') {
          const other = await h().hub({ stores, persistence: storage })
          const filler = await (await h().node(other)).open('kv', { schema: Text })
          for (const key of ['b', 'c', 'd']) await filler.put(key, 'other')
          await other.close()
        }
        const address = hub.address
        await h().stopHub(hub)
        const restarted = await h().hub({ stores, listen: address, persistence: storage })
        gate.holding = false
        gate.held.length = 0
        const outcome = await within(lost, 10_000, 'the lost write')
        expect(!outcome.ok && outcome.error instanceof PersistenceError).toBe(true)
        expect(writer.status).toBe('live')
        expect(writer.has('a')).toBe(false)
        expect(writer.get('b')).toBe(variant === 'past it' ? 'other' : undefined)
        const next = masterSeq(restarted, 'kv') + 1
        expect(await writer.put('e', 'new')).toBe(next)
        await eventually(() => expect(cloneEntries(writer)).toEqual(masterEntries(restarted, 'kv', Text)))
      })
    }

    it('S3.2 S3.7 a write acknowledged, its broadcast not applied when the hub went away for good, rejects after writeTimeout with UnavailableError naming its seq', async () => {
      const hub = await h().hub({ stores: { kv: { schema: Text } } })
      const { node, gate } = await h().gatedNode(hub, { writeTimeout: 300 })
      const writer = await node.open('kv', { schema: Text })
      const first = await writer.put('a', 'applied')
      gate.holding = true
      const write = settle(writer.put('b', 'acknowledged'))
      await eventually(() => expect(masterSeq(hub, 'kv')).toBe(first + 1))
      // Acknowledged on the same ordered channel before this publish's answer.
      await node.publish('probe/after-ack', new Uint8Array([1]))
      await h().stopHub(hub)
      const outcome = await within(write, 15_000, 'the acknowledged write')
      expect(!outcome.ok && outcome.error instanceof UnavailableError).toBe(true)
      const error = (outcome as { error: UnavailableError }).error
      expect(error.ackedSeq).toBe(first + 1)
      expect(error.message).toMatch(/took effect/)
      expect(node.metrics).toMatchObject({ ackedWriteTimeouts: 1, writesLost: 0 })
      expect(writer.get('b')).toBeUndefined()
    })

    if (canCrash) {
      it('S6.4 after a crash, the restarted master still holds every acknowledged write', async () => {
        const stores = { kv: { schema: Text } }
        const hub = await h().hub({ stores })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        const acked = new Map<string, string>()
        for (let i = 0; i < 20; i++) {
          await writer.put(`k${i}`, `v${i}`)
          acked.set(`k${i}`, `v${i}`)
        }
        const inFlight = [writer.put('x1', 'maybe'), writer.put('x2', 'maybe')]
        const restarted = await h().restart(hub, { stores }, { crash: true })
        const recovered = masterEntries(restarted, 'kv', Text)
        for (const [key, value] of acked) expect(recovered.get(key)).toBe(value)
        const outcomes = await within(
          Promise.all(inFlight.map(settle)),
          10_000,
          'writes in flight at the crash',
        )
        for (const outcome of outcomes) {
          if (!outcome.ok) expect(outcome.error).toBeInstanceOf(UnavailableError)
        }
        const seq = masterSeq(restarted, 'kv')
        expect(seq).toBeGreaterThanOrEqual(20)
        const reader = await (await h().node(restarted)).open('kv', { schema: Text })
        const next = await reader.put('after', 'crash')
        expect(next).toBeGreaterThan(seq)
        await eventually(() => expect(cloneEntries(writer)).toEqual(masterEntries(restarted, 'kv', Text)))
      })
    }

    if (probe.has.faults) {
      it('S6.5 a clone that stops reading never slows the master or the other clones, and resyncs', async () => {
        // With bounded peer queues the overflow must be what drops the slow clone: a heartbeat
        // long enough that no peer of a busy machine is dropped for silence first, short
        // enough that the paused clone's next ping comes while its queue is full (a broadcast
        // it has no room for is skipped; the PONG that does not fit is what drops it). Without
        // bounded queues, silence is how the hub notices, so a short one.
        const bounded = probe.transport?.boundedPeerQueues === true
        const hub = await h().hub({ heartbeat: bounded ? 250 : 50, stores: { kv: { schema: Text } } })
        const writer = await (await h().node(hub)).open('kv', { schema: Text })
        const fast = await (await h().node(hub)).open('kv', { schema: Text })
        // A long staleAfter: the slow clone does not give up by itself; the hub must act.
        const slow = await (await h().node(hub, { identity: 'slow', staleAfter: 60_000 })).open('kv', {
          schema: Text,
        })
        await writer.put('start', '0')
        await eventually(() => expect(slow.has('start')).toBe(true))
        faults().pause('slow')
        const overflows = hub.metrics.peerQueueOverflows
        const timeouts = hub.metrics.peerTimeouts
        // With bounded peer queues the hub must drop the slow clone for overflowing; without,
        // for its silence. (Under CPU load another peer may time out too: that is not it.)
        const dropped = () =>
          bounded
            ? hub.metrics.peerQueueOverflows > overflows
            : hub.metrics.peerQueueOverflows > overflows || hub.metrics.peerTimeouts > timeouts
        let writes = 0
        // Each write completes while the clone stays paused (one it held back would hang here).
        while (!dropped() && writes < 50_000) {
          await writer.put(`k${writes % 100}`, `v${writes}`)
          writes++
        }
        await eventually(() => expect(fast.seq).toBe(masterSeq(hub, 'kv')))
        if (bounded) expect(hub.metrics.peerQueueOverflows).toBeGreaterThan(overflows)
        faults().resume('slow')
        await eventually(() => {
          expect(slow.status).toBe('live')
          expect(slow.seq).toBe(masterSeq(hub, 'kv'))
        }, 10_000)
        expect(cloneEntries(slow)).toEqual(masterEntries(hub, 'kv', Text))
        // About a high-water mark's worth of writes one after another (1024 frames in the
        // ZeroMQ env): a second here, but a minute or more on a machine with its cores busy.
      }, 180_000)
    }
  })
}
