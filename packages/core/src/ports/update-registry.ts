/** Returned by an update callback to remove the key. */
export const REMOVE: unique symbol = Symbol.for('@concord/core:REMOVE') as never
/** Returned by an update callback to leave the key as it is: no mutation, no seq. */
export const UNCHANGED: unique symbol = Symbol.for('@concord/core:UNCHANGED') as never

/** What an update callback learns besides the current value and the delta. */
export interface UpdateContext {
  readonly store: string
  readonly key: string
  /**
   * Whether the key holds a value. `current` is undefined both for an absent key and for one
   * holding `undefined` (in a store whose schema allows it): this tells them apart.
   */
  readonly present: boolean
  /** The identity of the writer. */
  readonly identity: string
  /** The master's clock, ms since the Unix epoch. */
  readonly now: number
  /** Whether `value` would be a valid value of the store (its schema's verdict). */
  valid(value: unknown): boolean
}

/**
 * An update callback, run on the master only (S3.5): from the current value (undefined when
 * absent) and the writer's delta, the next value, {@link REMOVE} or {@link UNCHANGED}.
 * Must be synchronous and must not mutate `current` (it may be shared).
 * The result is validated against the store's schema and broadcast as a plain put.
 *
 * `T` is the store's value type (what its schema decodes to), `D` the delta's, `I` what
 * the schema accepts (its input type, `T` for most). The defaults, `unknown`, are the
 * callback a store's `ops` take: {@link updateOp} types one from the store's schema and
 * hands it over as that.
 */
export type UpdateOp<T = unknown, D = unknown, I = T> = (
  current: T | undefined,
  delta: D,
  ctx: UpdateContext,
) => I | typeof REMOVE | typeof UNCHANGED

/** The named update callbacks a master can run. */
export interface UpdateRegistry {
  /** The callback named `name`, or undefined. */
  get(name: string): UpdateOp | undefined
  /** The names it has. */
  names(): string[]
}
