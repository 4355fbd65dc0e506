/**
 * `@concord/transport-redis`: a Concord transport over Redis Pub/Sub, so nodes and hubs on
 * any machines meet through one Redis (standalone or Sentinel). See the README.
 * @module
 */

export { type AclRulesOptions, redisAclRules } from './acl.js'
export { formatAddress, parseAddress, type RedisAddress, type RedisHost } from './address.js'
export { escapeGlob } from './channels.js'
export { RedisHubEndpoint } from './hub-endpoint.js'
export { redisModule } from './module.js'
export { RedisNodeEndpoint } from './node-endpoint.js'
export type { RedisTransportStats } from './options.js'
export { RedisTransport, type RedisTransportInit, redisTransport } from './redis-transport.js'
