/**
 * `@concord/schema`: Zeek's logging types as TypeScript schemas, with validation, a compact
 * binary codec, Zeek/Broker's JSON data model and fingerprints for schema evolution.
 *
 * @example
 * ```ts
 * import { t, encode, decode, type Infer } from '@concord/schema'
 *
 * const Conn = t.record({ ts: t.time(), uid: t.string(), orig_h: t.addr(), service: t.string().optional() })
 * type Conn = Infer<typeof Conn>
 * const bytes = encode(Conn, { ts: 1521911721255387000n, uid: 'C8Tful1TvM3Zf5x8fl', orig_h: '10.164.94.120' })
 * const conn: Conn = decode(Conn, bytes)
 * ```
 *
 * @module
 */

export { addr } from './addr.js'
export { compatible, decode, encode, fingerprint, fromJson, toJson, validate } from './api.js'
export {
  ConcordError,
  type ConcordErrorOptions,
  DecodeError,
  type Issue,
  type IssueCode,
  isConcordError,
  type Schema,
  schemasCompatible,
  ValidationError,
} from './contract.js'
export type { FieldMode } from './impl.js'
export type { AnySchemaType, Infer, InferInput, RecordInput, RecordOutput, Shape } from './infer.js'
export { interval } from './interval.js'
export { type Port, type PortProto, port } from './port.js'
export { isSchemaType, type ScalarKind, type SchemaDef, type SchemaKind, SchemaType } from './schema-type.js'
export { subnet } from './subnet.js'
export { type RecordSchema, t } from './t.js'
export { time } from './time.js'
