/**
 * `changes()` rules that need a particular clone: here one whose schema fails to decode a
 * value once, as a buggy custom schema would, so the clone forgets its epoch and resyncs.
 */

import { t } from '@concord/schema'
import { describe, expect, it } from 'vitest'
import type { Change } from '../src/index.js'
import { flakyText } from './flaky-text.js'
import { useMemoryClusters } from './memory-cluster.js'
import { soon } from './soon.js'

const cluster = useMemoryClusters()

describe('changes() across a resync after a failure (S5.1, S6.3)', () => {
  it('S5.1 a clone that resyncs after failing to decode a broadcast reports what the snapshot changed', async () => {
    const { node } = await cluster()
    const writer = await node()
    const reader = await node()
    const kv = await writer.open('kv', { schema: t.string() })
    const clone = await reader.open('kv', { schema: flakyText() })
    const seen: Change<string>[] = []
    void (async () => {
      for await (const change of clone.changes()) seen.push(change)
    })()
    const seq = await kv.put('p', 'poison')
    await soon(() => {
      expect(clone.get('p')).toBe('poison')
      expect(clone.status).toBe('live')
    })
    expect(seen).toEqual([{ kind: 'put', key: 'p', value: 'poison', previous: undefined, seq }])
  })
})
