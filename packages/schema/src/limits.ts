/**
 * Integer ranges of Zeek's 64-bit types.
 *
 * @module
 */

/** -2^63, the least int, time and interval. */
export const MIN_I64 = -0x8000000000000000n
/** 2^63-1, the greatest int, time and interval. */
export const MAX_I64 = 0x7fffffffffffffffn
/** 2^64-1, the greatest count. */
export const MAX_U64 = 0xffffffffffffffffn
