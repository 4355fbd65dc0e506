import { describe, expect, it } from 'vitest'
import type { ConformanceEnv, SuiteOptions } from './env.js'
import {
  expectPersistenceCapabilities,
  expectTransportCapabilities,
  probe,
  type SuiteContext,
  useHarness,
} from './harness.js'
import { storeAccessTests } from './store/access.js'
import { badInputTests } from './store/bad-input.js'
import { changesTests } from './store/changes.js'
import { expiryTests } from './store/expiry.js'
import { keyReadTests } from './store/key-reads.js'
import { lifecycleTests } from './store/lifecycle.js'
import { linkTests } from './store/links.js'
import { openReadTests } from './store/open-read.js'
import { writerTests } from './store/writers.js'
import { writeTests } from './store/writes.js'

/**
 * The replicated-store suite (SPEC S2-S6, S8-S10 for stores): hubs and nodes built with
 * `createHub`/`createNode` over the environment's transport and persistence. Tests that need
 * an optional env member or capability are registered only when it is there.
 *
 * ```ts
 * storeSuite({ name: 'zmq x sqlite', setup: async () => makeEnv(), teardown: async (env) => env.dispose() })
 * ```
 */
export function storeSuite<E extends ConformanceEnv>(options: SuiteOptions<E>): void {
  describe(options.name, async () => {
    const probed = await probe(options)
    const context: SuiteContext = { h: useHarness(options), probe: probed }

    describe('store suite', () => {
      it('S2.7 S6.4 the adapters declare well-formed capabilities', () => {
        const { transport, persistence } = context.h().env
        expectTransportCapabilities(transport.capabilities)
        expect(transport.capabilities).toEqual(probed.transport)
        const instance = context.h().persistence()
        expectPersistenceCapabilities(instance.capabilities)
        expect(instance.capabilities).toEqual(probed.persistence)
        expect(typeof persistence).toBe('function')
      })

      openReadTests(context)
      keyReadTests(context)
      writeTests(context)
      writerTests(context)
      expiryTests(context)
      changesTests(context)
      linkTests(context)
      storeAccessTests(context)
      badInputTests(context)
      lifecycleTests(context)
    })
  })
}
