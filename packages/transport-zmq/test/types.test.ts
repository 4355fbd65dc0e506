import type { HubEndpoint, NodeEndpoint, Transport } from '@concord/core'
import { describe, expectTypeOf, it } from 'vitest'
import {
  type ZmqContainerModule,
  type ZmqCurveKeyPair,
  type ZmqHubEndpoint,
  type ZmqNodeEndpoint,
  type ZmqTransportInit,
  zmqCurveKeyPair,
  zmqModule,
  zmqTransport,
} from '../src/index.js'

describe('public types', () => {
  it('the transport, its endpoints and helpers have the port types', () => {
    expectTypeOf(zmqTransport).parameter(0).toEqualTypeOf<ZmqTransportInit | undefined>()
    expectTypeOf(zmqTransport()).toMatchTypeOf<Transport>()
    expectTypeOf<ZmqHubEndpoint>().toMatchTypeOf<HubEndpoint>()
    expectTypeOf<ZmqNodeEndpoint>().toMatchTypeOf<NodeEndpoint>()
    expectTypeOf(zmqTransport().listen).returns.resolves.toEqualTypeOf<ZmqHubEndpoint>()
    expectTypeOf(zmqTransport().connect).returns.resolves.toEqualTypeOf<ZmqNodeEndpoint>()
    expectTypeOf(zmqCurveKeyPair()).toEqualTypeOf<ZmqCurveKeyPair>()
    expectTypeOf(zmqModule()).toEqualTypeOf<ZmqContainerModule>()
    expectTypeOf<ZmqTransportInit['curve']>().exclude<undefined>().toHaveProperty('clients')
  })
})
