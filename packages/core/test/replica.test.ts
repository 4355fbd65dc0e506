import { describe, expect, it } from 'vitest'
import { Replica } from '../src/node/replica.js'

describe('Replica (a clone’s entries)', () => {
  it('S2.3 get answers the value, or the fallback for an absent key', () => {
    const replica = new Replica<string>()
    replica.set('a', 'one', 1)
    expect(replica.get('a', 'none')).toBe('one')
    expect(replica.get('b', 'none')).toBe('none')
    expect(replica.seqOf('a')).toBe(1)
    expect(replica.seqOf('b')).toBe(0)
  })

  it('S2.3 a stored undefined is a value, not an absent key', () => {
    const replica = new Replica<string | undefined>()
    replica.set('u', undefined, 4)
    expect(replica.get('u', 'fallback')).toBeUndefined()
    expect(replica.has('u')).toBe(true)
    expect(replica.size).toBe(1)
  })

  it('S2.4 a rewrite keeps the key in place and takes the new seq; delete forgets both', () => {
    const replica = new Replica<number>()
    replica.set('a', 1, 1)
    replica.set('b', 2, 2)
    replica.set('a', 3, 3)
    expect([...replica.keys()]).toEqual(['a', 'b'])
    expect([...replica.seqs()]).toEqual([
      ['a', 3],
      ['b', 2],
    ])
    expect(replica.delete('a')).toBe(true)
    expect(replica.delete('a')).toBe(false)
    expect(replica.get('a', -1)).toBe(-1)
    expect(replica.seqOf('a')).toBe(0)
    expect(replica.size).toBe(1)
  })
})
