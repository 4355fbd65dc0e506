/**
 * Type-level helpers: the value types a schema reads and accepts.
 *
 * @module
 */
import type { FieldMode } from './impl.js'
import type { SchemaType } from './schema-type.js'

/** The type of values a schema decodes to (`T` of `Schema<T, I>`). */
export type Infer<S> = S extends { decode(bytes: Uint8Array): infer T } ? T : never

/** The type of values a schema accepts for encoding (`I`: defaulted record fields may be left out). */
export type InferInput<S> = S extends { encode(value: infer I): Uint8Array } ? I : never

/** Any schema built by `t` (the element, key, value and field type of the builders). */
export type AnySchemaType = SchemaType<unknown, never, FieldMode>

/** The fields of a record: names to schemas. */
export type Shape = { readonly [name: string]: AnySchemaType }

type Simplify<T> = { [K in keyof T]: T[K] } & {}

type ModeOf<S> = S extends { readonly mode: infer M } ? M : never

/** A record's value type: optional fields are optional properties; defaulted ones are always present. */
export type RecordOutput<S extends Shape> = Simplify<
  { -readonly [K in keyof S as ModeOf<S[K]> extends 'optional' ? never : K]: Infer<S[K]> } & {
    -readonly [K in keyof S as ModeOf<S[K]> extends 'optional' ? K : never]?: Infer<S[K]>
  }
>

/** A record's input type: optional and defaulted fields may be left out. */
export type RecordInput<S extends Shape> = Simplify<
  { -readonly [K in keyof S as ModeOf<S[K]> extends 'required' ? K : never]: InferInput<S[K]> } & {
    -readonly [K in keyof S as ModeOf<S[K]> extends 'required' ? never : K]?: InferInput<S[K]>
  }
>
