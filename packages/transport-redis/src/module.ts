import { bindingModule, Tokens } from '@concord/core'
import { type RedisTransportInit, redisTransport } from './redis-transport.js'

/**
 * A container module binding `Tokens.Transport` to `redisTransport(init)`, for
 * `createHub({ modules: [redisModule(init)] })` and `createNode` likewise.
 */
export function redisModule(init?: RedisTransportInit): ReturnType<typeof bindingModule> {
  return bindingModule(Tokens.Transport, redisTransport(init))
}
