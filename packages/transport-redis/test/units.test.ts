/** Pure logic: addresses, channel names, identity encoding, glob escaping, the envelope, ACL rules. */
import { UnavailableError } from '@concord/core'
import { manualClock } from '@concord/core/testing'
import fc from 'fast-check'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { decodeIdentity, encodeIdentity, HubChannels } from '../src/channels.js'
import {
  escapeGlob,
  formatAddress,
  parseAddress,
  type RedisTransport,
  redisAclRules,
  redisModule,
  redisTransport,
} from '../src/index.js'
import { NameClaim } from '../src/name-claim.js'
import {
  decodeAck,
  decodeBroadcast,
  decodeHello,
  decodeSub,
  decodeSubAck,
  decodeWelcome,
  encodeAck,
  encodeBroadcast,
  encodeHello,
  encodeSub,
  encodeSubAck,
  encodeWelcome,
  Kind,
  MalformedMessage,
  withKind,
} from '../src/wire.js'

describe('addresses', () => {
  it('parses and formats the three forms', () => {
    expect(parseAddress('redis://127.0.0.1:6380/hub-1')).toEqual({
      scheme: 'redis',
      hosts: [{ host: '127.0.0.1', port: 6380 }],
      hub: 'hub-1',
    })
    expect(parseAddress('rediss://cache.example.com/h')).toEqual({
      scheme: 'rediss',
      hosts: [{ host: 'cache.example.com', port: 6379 }],
      hub: 'h',
    })
    expect(parseAddress('redis+sentinel://s1:26380,s2,[::1]:1/mymaster/h.2')).toEqual({
      scheme: 'redis+sentinel',
      hosts: [
        { host: 's1', port: 26380 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 1 },
      ],
      master: 'mymaster',
      hub: 'h.2',
    })
    expect(parseAddress('redis://h/*').hub).toBe('*')
    for (const address of ['redis://127.0.0.1:6380/hub-1', 'redis+sentinel://s1:26380,[::1]:1/m/h']) {
      expect(formatAddress(parseAddress(address))).toBe(address)
    }
    expect(formatAddress(parseAddress('redis://h/x'))).toBe('redis://h:6379/x')
  })

  it('refuses what is not an address, and credentials', () => {
    for (const bad of [
      'memory://x',
      'redis://h',
      'redis://h/',
      'redis://h/a/b',
      'redis://h/a:b',
      'redis://h/a*',
      'redis://h:0/x',
      'redis://h:70000/x',
      'redis://a,b/x',
      'redis+sentinel://s/h',
      'redis://user:pw@h/x',
      'redis://h/-x',
    ]) {
      expect(() => parseAddress(bad), bad).toThrow(TypeError)
    }
  })
})

describe('channels and identities', () => {
  it('identity encoding holds no colon and no glob metacharacter, and round-trips', () => {
    expect(encodeIdentity('alice')).toBe('alice')
    expect(encodeIdentity('we:ird*[x]?\\%')).toBe('we%3Aird%2A%5Bx%5D%3F%5C%25')
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'grapheme' }), (identity) => {
        const encoded = encodeIdentity(identity)
        expect(encoded).not.toMatch(/[:*?[\]\\]/)
        expect(decodeIdentity(encoded)).toBe(identity)
      }),
    )
    expect(decodeIdentity('a%3a')).toBeUndefined()
    expect(decodeIdentity('a:b')).toBeUndefined()
    expect(decodeIdentity('%FF')).toBeUndefined()
  })

  it('names the request and reply channels of a link, and parses them back', () => {
    const channels = new HubChannels('concord', 'hub-1')
    expect(channels.requestPattern).toBe('concord:hub-1:req:*')
    const request = channels.request('abc123', 'we:ird')
    expect(request).toBe('concord:hub-1:req:abc123:we%3Aird')
    expect(channels.parseRequest(request)).toEqual({
      link: 'abc123',
      identity: 'we:ird',
      reply: 'concord:hub-1:to:abc123:we%3Aird',
    })
    expect(channels.reply('abc123', 'we:ird')).toBe('concord:hub-1:to:abc123:we%3Aird')
    for (const bad of [
      'concord:hub-1:req:abc',
      'concord:hub-2:req:a:b',
      'concord:hub-1:req:a-b:c',
      'concord:hub-1:req:a:b:c',
    ]) {
      expect(channels.parseRequest(bad), bad).toBeUndefined()
    }
  })

  it('escapeGlob makes a pattern match its text literally', () => {
    expect(escapeGlob('a*b?c[d]e\\f')).toBe('a\\*b\\?c\\[d\\]e\\\\f')
    expect(escapeGlob('plain/topic')).toBe('plain/topic')
  })
})

describe('envelope', () => {
  it('round-trips every control message', () => {
    const hello = encodeHello(1234, ['', 'a/b', 'ü*'])
    expect(hello[0]).toBe(Kind.HELLO)
    expect(decodeHello(hello)).toEqual({ version: 1, maxFrameSize: 1234, topics: ['', 'a/b', 'ü*'] })
    expect(decodeWelcome(encodeWelcome(99, { frames: 5, bytes: 6 }, [true, false]))).toEqual({
      version: 1,
      maxFrameSize: 99,
      ack: { frames: 5, bytes: 6 },
      granted: [true, false],
    })
    expect(decodeAck(encodeAck(3, 2 ** 40))).toEqual({ frames: 3, bytes: 2 ** 40 })
    expect(() => decodeAck(encodeAck(-1, 0))).toThrow(MalformedMessage)
    expect(decodeSub(encodeSub(7, 's|kv|'))).toEqual({ reqId: 7, topic: 's|kv|' })
    expect(decodeSubAck(encodeSubAck(7, true))).toEqual({ reqId: 7, granted: true })
    const frame = Uint8Array.of(1, 2, 3)
    const broadcast = encodeBroadcast('e|x', frame)
    expect(decodeBroadcast(broadcast)).toEqual({ topic: 'e|x', frame })
    const data = withKind(Kind.DATA, frame)
    expect([...data]).toEqual([Kind.DATA, 1, 2, 3])
  })

  it('refuses truncated or trailing bytes', () => {
    const hello = encodeHello(1, ['abc'])
    expect(() => decodeHello(hello.subarray(0, hello.length - 1))).toThrow(MalformedMessage)
    expect(() => decodeHello(Buffer.concat([hello, Buffer.of(0)]))).toThrow(MalformedMessage)
    expect(() => decodeBroadcast(Buffer.of(Kind.BCAST, 0, 0, 0, 9, 1))).toThrow(MalformedMessage)
    expect(() => decodeWelcome(Buffer.of(Kind.WELCOME))).toThrow(MalformedMessage)
    expect(() => decodeSub(Buffer.of(Kind.SUB, 0, 0, 0, 1, 0xff))).toThrow(MalformedMessage)
  })
})

describe('ACL rules', () => {
  it('confine a node to its own channels and a hub to its hub', () => {
    expect(redisAclRules('node', 'alice')).toEqual([
      'resetchannels',
      '&concord:*:req:*:alice',
      '&concord:*:to:*:alice',
      'resetkeys',
      '-@all',
      '+publish',
      '+subscribe',
      '+unsubscribe',
    ])
    expect(redisAclRules('node', 'we:ird*', { hub: 'h1', prefix: 'app' }).slice(1, 3)).toEqual([
      '&app:h1:req:*:we%3Aird%2A',
      '&app:h1:to:*:we%3Aird%2A',
    ])
    expect(redisAclRules('hub', 'hubber', { hub: 'h1' })).toEqual([
      'resetchannels',
      '&concord:h1:*',
      '&concord:h1:req:*',
      'resetkeys',
      '-@all',
      '+publish',
      '+psubscribe',
      '+punsubscribe',
    ])
    expect(redisAclRules('hub', 'hubber')[0]).toBe('allchannels')
    expect(() => redisAclRules('node', '')).toThrow(TypeError)
    expect(() => redisAclRules('other' as 'node', 'x')).toThrow(TypeError)
  })
})

describe('NameClaim', () => {
  const claim = (clock = manualClock(0)) => new NameClaim('me', 'redis://r/h', clock, 100)

  it('wins once its CLAIM came back and every other receiver answered YIELD', async () => {
    const c = claim()
    c.published(3)
    c.yielded()
    c.echo()
    expect(c.state).toBe('pending')
    c.yielded()
    await expect(c.outcome).resolves.toBeUndefined()
    expect(c.holds()).toBe(true)
  })

  it('alone, wins at its echo; answers another claim HELD only once its own came back', () => {
    const c = claim()
    expect(c.holds()).toBe(false)
    c.published(1)
    expect(c.state).toBe('pending')
    c.echo()
    expect(c.state).toBe('won')
  })

  it('loses to HELD, to silence past the timeout, or when nobody (not even itself) got it', async () => {
    const held = claim()
    held.echo()
    held.held()
    await expect(held.outcome).rejects.toThrow(/already in use/)
    expect(held.holds()).toBe(false)
    const clock = manualClock(0)
    const silent = claim(clock)
    silent.echo()
    silent.published(3)
    silent.yielded()
    clock.advance(99)
    expect(silent.state).toBe('pending')
    clock.advance(1)
    const error = await silent.outcome.catch((e) => e)
    expect(error).toBeInstanceOf(UnavailableError)
    expect(error.message).toMatch(/1 of the 2 other subscribers .* did not answer within 100 ms/)
    const unheard = claim()
    unheard.published(0)
    await expect(unheard.outcome).rejects.toBeInstanceOf(UnavailableError)
    const cancelled = claim(clock)
    cancelled.published(2)
    cancelled.cancel()
    expect([cancelled.state, clock.pending()]).toEqual(['lost', 0])
  })

  it('of hubs claiming one name in any interleaving, exactly one wins', () => {
    // Redis as the hubs see it: a PUBLISH reaches the hubs subscribed at that moment, each in
    // the order Redis ran the PUBLISHes; deliveries, PUBLISH answers and the steps of different
    // hubs interleave freely. A hub answers claims as the endpoint does (`holds()`), and one
    // that lost unsubscribes at some point after reading what reached it.
    type Message = { kind: 'claim' | 'held' | 'yield'; nonce: string }
    interface Hub {
      claim: NameClaim
      subscribed: boolean
      claimed: boolean
      gone: boolean
      inbox: Message[]
      receivers: number | undefined
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(), { maxLength: 300 }),
        (count, choices) => {
          const clock = manualClock(0)
          const hubs: Hub[] = Array.from({ length: count }, (_, i) => ({
            claim: new NameClaim(`hub${i}`, 'redis://r/h', clock, 100),
            subscribed: false,
            claimed: false,
            gone: false,
            inbox: [],
            receivers: undefined,
          }))
          const publish = (message: Message) => {
            const receivers = hubs.filter((hub) => hub.subscribed)
            for (const hub of receivers) hub.inbox.push(message)
            return receivers.length
          }
          const read = (hub: Hub) => {
            const message = hub.inbox.shift()!
            const { claim } = hub
            if (message.kind === 'claim') {
              if (message.nonce === claim.nonce) claim.echo()
              else publish({ kind: claim.holds() ? 'held' : 'yield', nonce: message.nonce })
            } else if (message.nonce === claim.nonce) {
              if (message.kind === 'held') claim.held()
              else claim.yielded()
            }
          }
          const steps = (hub: Hub): Array<() => void> => {
            const possible: Array<() => void> = []
            if (hub.gone) return possible
            if (!hub.subscribed) possible.push(() => (hub.subscribed = true))
            else if (!hub.claimed)
              possible.push(() => {
                hub.claimed = true
                hub.receivers = publish({ kind: 'claim', nonce: hub.claim.nonce })
              })
            if (hub.receivers !== undefined)
              possible.push(() => {
                hub.claim.published(hub.receivers!)
                hub.receivers = undefined
              })
            if (hub.inbox.length > 0) possible.push(() => read(hub))
            else if (hub.claim.state === 'lost')
              possible.push(() => {
                hub.subscribed = false
                hub.gone = true
              })
            return possible
          }
          for (let step = 0; ; step++) {
            const possible = hubs.flatMap(steps)
            if (possible.length === 0) break
            possible[(choices[step] ?? 0) % possible.length]!()
          }
          const states = hubs.map((hub) => hub.claim.state)
          expect(states.filter((state) => state === 'won')).toHaveLength(1)
          expect(states.filter((state) => state === 'lost')).toHaveLength(count - 1)
        },
      ),
      { numRuns: 2000 },
    )
  })
})

describe('public API', () => {
  it('has the factory, the class and the container module', () => {
    expectTypeOf(redisTransport).returns.toEqualTypeOf<RedisTransport>()
    expect(redisModule()).toBeDefined()
  })
})
