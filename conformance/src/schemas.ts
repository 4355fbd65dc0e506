import { t } from '@concord/schema'

/** Schemas the suites' stores and topics use. */
export const Text = t.string()
/** A string or `undefined`: a key may be present and hold nothing. */
export const MaybeText = t.string().optional()
export const Count = t.count()
export const Visit = t.record({ name: t.string(), hits: t.count() })
export const Tags = t.set(t.string())
export const Ints = t.vector(t.int())
export const Real = t.double()
export const Reals = t.vector(t.double())
export const Point = t.record({ x: t.double() })
export const Scores = t.table(t.string(), t.count())
/** An event payload naming its publisher and its number in that publisher's sequence. */
export const Numbered = t.record({ from: t.string(), n: t.count() })
