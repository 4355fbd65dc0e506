/**
 * The proof that docs/custom-transport.md is enough: the TCP example passes the published
 * transport, store and events suites, paired with in-memory persistence.
 */
import { eventsSuite, memoryPersistenceEnv, storeSuite, transportSuite } from '@concord/conformance'
import { tcpTransport } from '../src/index.js'

const tcpEnv = () => ({
  transport: tcpTransport({ maxFrameSize: 1 << 20 }),
  address: () => 'tcp://127.0.0.1:0',
  dispose: async () => {},
})

transportSuite({ name: 'tcp', setup: async () => tcpEnv(), teardown: (env) => env.dispose() })

const pair = {
  setup: async () => ({ ...tcpEnv(), ...memoryPersistenceEnv() }),
  teardown: async (env: { dispose(): Promise<void> }) => env.dispose(),
}
storeSuite({ name: 'tcp x memory: store', ...pair })
eventsSuite({ name: 'tcp x memory: events', ...pair })
