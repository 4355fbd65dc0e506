import { describe, expect, it } from 'vitest'
import { storeFileName } from '../src/index.js'

describe('storeFileName', () => {
  it('keeps lower-case names readable and escapes everything else', () => {
    expect(storeFileName('kv')).toBe('kv.sqlite')
    expect(storeFileName('zeek.conn-log_2')).toBe('zeek.conn-log_2.sqlite')
    expect(storeFileName('Users')).toBe('%55sers.sqlite')
    expect(storeFileName('a/b')).toBe('a%2Fb.sqlite')
    expect(storeFileName('..')).toBe('%2E..sqlite')
    expect(storeFileName('.hidden')).toBe('%2Ehidden.sqlite')
    expect(storeFileName('a%b')).toBe('a%25b.sqlite')
    expect(storeFileName('é')).toBe('%C3%A9.sqlite')
  })

  it('never maps two names to one file, ignoring case too', () => {
    const names = [
      'kv',
      'KV',
      'Kv',
      'a/b',
      'a%2Fb',
      'a_b',
      'a.b',
      '.a',
      '%2Ea',
      'x'.repeat(200),
      `${'x'.repeat(199)}y`,
    ]
    const files = names.map((name) => storeFileName(name).toLowerCase())
    expect(new Set(files).size).toBe(names.length)
  })

  it('shortens long names with a hash, staying within file-name limits', () => {
    const long = storeFileName('A'.repeat(200))
    expect(long.length).toBeLessThanOrEqual(200)
    expect(long).toMatch(/^(%41)+~[0-9a-f]{16}\.sqlite$/)
  })
})
