/**
 * This transport as a conformance environment, for the matrix (conformance/test/matrix.test.ts).
 * Links authenticate with CURVE: every identity the suites ask for gets a key pair of its
 * own, registered with the hubs of the test (S8.1). Faults are injected around real links
 * (see faults.ts), so the suites' fault tests run too.
 */

import type { Disposable, TransportEnv } from '@concord/conformance'
import type { Transport } from '@concord/core'
import { type ZmqCurveKeyPair, zmqCurveKeyPair, zmqTransport } from '../src/index.js'
import { ZmqFaults } from './faults.js'

/** Key pairs are costly enough to make once per identity for the whole file. */
const server = zmqCurveKeyPair()
const pairs = new Map<string, ZmqCurveKeyPair>()
const pairFor = (identity: string): ZmqCurveKeyPair => {
  let pair = pairs.get(identity)
  if (pair === undefined) {
    pair = zmqCurveKeyPair()
    pairs.set(identity, pair)
  }
  return pair
}

/** One test's transport: small frames and queues so chunking (S2.7) and slow consumers (S6.5) show quickly. */
export async function zmqEnv(): Promise<Disposable<TransportEnv>> {
  const clients = new Map<string, string>()
  const anonymous = pairFor('anonymous')
  clients.set(anonymous.publicKey, 'anonymous')
  const base = { maxFrameSize: 1 << 20, highWaterMark: 1024 }
  const faults = new ZmqFaults()
  const transport = faults.wrap(
    zmqTransport({ ...base, curve: { server, clients, ...anonymous, serverKey: server.publicKey } }),
  )
  const byIdentity = new Map<string, Transport>()
  return {
    transport,
    faults,
    address: () => 'tcp://127.0.0.1:0',
    transportFor(identity) {
      let t = byIdentity.get(identity)
      if (t === undefined) {
        const pair = pairFor(identity)
        clients.set(pair.publicKey, identity)
        t = faults.wrap(zmqTransport({ ...base, curve: { ...pair, serverKey: server.publicKey } }), identity)
        byIdentity.set(identity, t)
      }
      return t
    },
    dispose: async () => faults.clear(),
  }
}
