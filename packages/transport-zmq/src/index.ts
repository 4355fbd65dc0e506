/**
 * The ZeroMQ transport for Concord: one ROUTER socket on the hub, a DEALER per link on each
 * node, credit-bounded per-peer queues, CURVE encryption and authentication with a ZAP
 * handler. See the package README.
 * @module
 */

export type { ZmqCurveKeyPair } from './curve.js'
export { zmqCurveKeyPair } from './curve.js'
export { ZmqHubEndpoint } from './hub-endpoint.js'
export { type ZmqContainerModule, zmqModule } from './module.js'
export { ZmqNodeEndpoint } from './node-endpoint.js'
export type {
  FrameCount,
  ZmqDropCounts,
  ZmqHubStats,
  ZmqNodeStats,
  ZmqPeerStats,
  ZmqRefusedCounts,
} from './stats.js'
export {
  type ZmqCurveInit,
  type ZmqHeartbeat,
  ZmqTransport,
  type ZmqTransportInit,
  zmqTransport,
} from './zmq-transport.js'
