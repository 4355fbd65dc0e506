/**
 * The UTF-8 size of `text` plus `extra` bytes when it is over `limit`, else undefined. Cheap
 * for text that clearly fits: one UTF-16 unit takes at most 3 bytes of UTF-8.
 */
export function sizeOverLimit(text: string, extra: number, limit: number): number | undefined {
  if (text.length * 3 + extra <= limit) return undefined
  const size = Buffer.byteLength(text) + extra
  return size > limit ? size : undefined
}
