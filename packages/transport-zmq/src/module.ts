import { bindingModule, Tokens } from '@concord/core'
import { type ZmqTransportInit, zmqTransport } from './zmq-transport.js'

/** An inversify `ContainerModule`, as `bindingModule` makes them (typed without importing inversify). */
export type ZmqContainerModule = ReturnType<typeof bindingModule>

/**
 * A container module binding `Tokens.Transport` to a ZeroMQ transport, for the composition
 * root: `createHub({ modules: [zmqModule({ curve })], listen, stores })`.
 */
export function zmqModule(init?: ZmqTransportInit): ZmqContainerModule {
  return bindingModule(Tokens.Transport, zmqTransport(init))
}
