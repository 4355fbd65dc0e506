import { ForbiddenError } from '@concord/core'
import { describe, expect, it } from 'vitest'
import { type ZmqCurveKeyPair, zmqCurveKeyPair, zmqTransport } from '../src/index.js'
import { connect, enc, HubProbe, listen, NodeProbe, RawNode, until } from './helpers.js'

const server = zmqCurveKeyPair()
const alice = zmqCurveKeyPair()
const carol = zmqCurveKeyPair()
const mallory = zmqCurveKeyPair()

const nodeSide = (pair: ZmqCurveKeyPair, serverKey = server.publicKey) =>
  zmqTransport({ curve: { ...pair, serverKey } })

async function curveHub(clients?: ReadonlyMap<string, string> | ((key: string) => string | undefined)) {
  const probe = new HubProbe()
  const transport = zmqTransport({ curve: { server, ...(clients === undefined ? {} : { clients }) } })
  const hub = await listen(transport, probe)
  return { probe, hub }
}

describe('CURVE', () => {
  it('makes Z85 key pairs and checks that the halves belong together', () => {
    expect(alice.publicKey).toMatch(/^.{40}$/)
    expect(alice.secretKey).not.toBe(alice.publicKey)
    expect(() =>
      zmqTransport({
        curve: { publicKey: alice.publicKey, secretKey: carol.secretKey, serverKey: server.publicKey },
      }),
    ).toThrow(/does not belong/)
    expect(() =>
      zmqTransport({ curve: { publicKey: alice.publicKey, serverKey: server.publicKey } }),
    ).toThrow(TypeError)
  })

  it('a registered key links: frames flow both ways, the identity is the name mapped from the key', async () => {
    const { hub, probe: hubProbe } = await curveHub(new Map([[alice.publicKey, 'alice']]))
    const probe = new NodeProbe('alice')
    // The presented name is ignored under CURVE: the key decides.
    const node = await connect(nodeSide(alice), hub.address, probe, { identity: 'someone-else' })
    await until(() => expect(probe.ups).toBe(1))
    expect(hubProbe.joined.map((p) => p.identity)).toEqual(['alice'])
    await node.subscribe('t')
    hub.broadcast('t', enc('secret news'))
    node.send(enc('hello hub'))
    await until(() => expect(probe.broadcasts).toEqual([['t', 'secret news']]))
    await until(() => expect(hubProbe.frames.map(([, t]) => t)).toEqual(['hello hub']))
  })

  it('a refused subscription names the CURVE key the hub knows the node by, not a presented name', async () => {
    const { hub, probe: hubProbe } = await curveHub(new Map([[alice.publicKey, 'alice']]))
    hubProbe.allow = () => false
    const node = await connect(nodeSide(alice), hub.address, new NodeProbe('alice'))
    const error = await node.subscribe('t').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ForbiddenError)
    expect((error as Error).message).toContain(`the CURVE key ${alice.publicKey}`)
  })

  it('without a clients list any key links, identified by its Z85 public key; a function works too', async () => {
    const open = await curveHub()
    const probe = new NodeProbe('c')
    await connect(nodeSide(carol), open.hub.address, probe)
    await until(() => expect(probe.ups).toBe(1))
    expect(open.probe.joined.map((p) => p.identity)).toEqual([carol.publicKey])

    const fn = await curveHub((key) => (key === alice.publicKey ? 'alice-by-fn' : undefined))
    const a = new NodeProbe('a')
    await connect(nodeSide(alice), fn.hub.address, a)
    await until(() => expect(a.ups).toBe(1))
    expect(fn.probe.joined.map((p) => p.identity)).toEqual(['alice-by-fn'])
  })

  it('an unknown key gets nothing: no linkUp, no peer, no frames; the refusal is counted', async () => {
    const { hub, probe: hubProbe } = await curveHub(new Map([[alice.publicKey, 'alice']]))
    expect(hub.send('x', enc('x'))).toBe(false)
    hub.broadcast('', enc('to everyone'))
    const probe = new NodeProbe('mallory')
    const node = await connect(nodeSide(mallory), hub.address, probe)
    await until(() => expect(node.stats.links.failed).toBeGreaterThanOrEqual(3))
    expect(probe.ups).toBe(0)
    expect(hubProbe.joined).toEqual([])
    expect(probe.frames).toEqual([])
    expect(probe.broadcasts).toEqual([])
    expect(hubProbe.refused[0]![1]).toBeInstanceOf(ForbiddenError)
    expect(hubProbe.refused[0]![1].message).toContain(mallory.publicKey)
    expect(hub.stats.refused.unauthenticated).toBeGreaterThanOrEqual(3)
  })

  it('a node without keys, or trusting the wrong server key, never links to a CURVE hub', async () => {
    const { hub, probe: hubProbe } = await curveHub()
    const plain = new NodeProbe('plain')
    const plainNode = await connect(zmqTransport(), hub.address, plain)
    const fooled = new NodeProbe('fooled')
    const fooledNode = await connect(nodeSide(alice, carol.publicKey), hub.address, fooled)
    await until(() => {
      expect(plainNode.stats.links.failed).toBeGreaterThanOrEqual(2)
      expect(fooledNode.stats.links.failed).toBeGreaterThanOrEqual(2)
    })
    expect(plain.ups + fooled.ups).toBe(0)
    expect(hubProbe.joined).toEqual([])
  })

  it('a HELLO must prove the key it names: a known key cannot pass itself off as another', async () => {
    const { hub, probe: hubProbe } = await curveHub(
      new Map([
        [alice.publicKey, 'alice'],
        [carol.publicKey, 'carol'],
      ]),
    )
    const curve = {
      curveServerKey: server.publicKey,
      curvePublicKey: alice.publicKey,
      curveSecretKey: alice.secretKey,
    }
    // Authenticated by CURVE as alice, claiming to be carol.
    const liar = new RawNode(hub.address, { routingId: 'liar', ...curve })
    liar.read()
    liar.hello({ key: carol.publicKey, proof: 'Zm9yZ2Vk' })
    // Or naming its own key without the proof.
    const lazy = new RawNode(hub.address, { routingId: 'lazy', ...curve })
    lazy.read()
    lazy.hello({ key: alice.publicKey })
    await until(() => {
      expect(liar.kinds()).toEqual(['X'])
      expect(lazy.kinds()).toEqual(['X'])
    })
    expect(hubProbe.joined).toEqual([])
    expect(hubProbe.refusals()).toEqual(['ERR_FORBIDDEN:-', 'ERR_FORBIDDEN:-'])
    expect(hub.stats.refused.unauthenticated).toBe(2)
  })
})
