/**
 * The embedded defaults for real: `concord serve` (a child process) on ZeroMQ with SQLite
 * files, the node commands (in this process) over TCP, the data surviving a restart, and
 * CURVE keys from the config.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { zeekData } from '../../../test-support/zeek-data.js'
import { soon } from '../../core/test/soon.js'
import { Cli, serveProcess, Workspace } from './support/harness.js'

const CONN_LOG = zeekData('conn-sample.log')

const CONFIG = `
hub:
  listen: tcp://127.0.0.1:0
persistence:
  path: data
stores:
  counters: count
  conn:
    schema:
      ts: time
      uid: string
      id: 'record { orig_h: addr; orig_p: port; resp_h: addr; resp_p: port }'
      proto: enum { unknown_transport, tcp, udp, icmp }
      service: string &optional
      duration: interval &optional
      orig_bytes: count &optional
      resp_bytes: count &optional
      conn_state: string &optional
      local_orig: bool &optional
      local_resp: bool &optional
      missed_bytes: count &default=0
      history: string &optional
      orig_pkts: count &optional
      orig_ip_bytes: count &optional
      resp_pkts: count &optional
      resp_ip_bytes: count &optional
      tunnel_parents: set[string] &optional
topics:
  zeek: string
`

let ws: Workspace

beforeAll(async () => {
  ws = await Workspace.create()
  await ws.file('concord.yaml', CONFIG)
})

afterAll(async () => {
  await ws.cleanup()
})

describe('ZeroMQ + SQLite', () => {
  test('serve, write, read, import, restart: the data and the counts survive', async () => {
    const cli = new Cli(ws.dir)
    const first = await serveProcess([], ws.dir)
    expect(first.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
    expect(first.child.stdout).toContain(`data: SQLite in ${ws.dir}/data (durability sync)`)
    expect(first.child.stdout).toContain('store counters: 0 entries')
    const hub = ['--hub', first.address]
    expect(await cli.run(['put', 'counters', 'a', '1', ...hub])).toMatchObject({ code: 0 })
    expect((await cli.run(['update', 'counters', 'a', '41', '--op', 'increment', ...hub])).stdout).toMatch(
      /^increment a \(seq \d+\)\n$/,
    )
    const imported = await cli.run(['import', 'conn', CONN_LOG, '--key', 'uid', ...hub])
    expect(imported.stderr).toContain('imported 10 of 10 rows into conn')

    const sub = await cli.background(['sub', 'zeek', ...hub], /subscribed/, 'stderr')
    await cli.run(['pub', 'zeek/notice', 'scan detected', ...hub])
    await soon(() => expect(sub.stdout.lines).toEqual(['zeek/notice: scan detected']))
    sub.stop()
    expect(await sub.code).toBe(0)
    expect(await first.stop()).toBe(0)

    const second = await serveProcess([], ws.dir)
    expect(second.child.stdout).toContain('store counters: 1 entry\n')
    expect(second.child.stdout).toContain('store conn: 10 entries\n')
    const again = ['--hub', second.address]
    expect((await cli.run(['get', 'counters', 'a', ...again])).stdout).toBe('42\n')
    const exported = await cli.run(['export', 'conn', ...again])
    expect(exported.lines).toHaveLength(10)
    expect(exported.stderr).toBe('exported 10 entries from conn\n')
    expect(await second.stop()).toBe(0)
  })

  test('CURVE: an admitted identity gets in, an unknown key does not', async () => {
    const { hub, node } = await curveHub({ alice: ['read', 'write'] })
    const ok = await node('alice').run(['put', 's', 'k', 'secret stuff'])
    expect(ok).toMatchObject({ code: 0 })
    const refused = await node('mallory').run(['get', 's', 'k', '--timeout', '1s'])
    expect(refused.code).toBe(1)
    // ZeroMQ tells the node nothing of a key the hub refused: it never links, and says why that may be.
    expect(refused.stderr).toMatch(
      /^concord: ERR_UNAVAILABLE: reading 'k' of store 's': no link to the hub at \S+ within 1s \(is 'concord serve' running there; a hub with CURVE keys links only the nodes whose public key it admits\?\)\n$/,
    )
    expect(await hub.stop()).toBe(0)
  })

  test('CURVE: --identity is refused where the key names the node, unless it is the name the config gives the key', async () => {
    const { hub, node } = await curveHub({ alice: ['read', 'write'] })
    // alice.yaml holds alice's pair and no names: the hub knows the node by its key.
    const refused = await node('alice').run(['put', 's', 'k', 'v', '--identity', 'bob'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toBe(
      "concord: ERR_USAGE: --identity bob: this node authenticates with the CURVE key of transport.curve.publicKey, so the hub knows it by the name the hub's curve.clients gives that key (or by the key itself); a name given on the command line cannot change that. Leave out --identity, or use a config with the key pair of 'bob'\n",
    )
    // A file that names the key (node.identity) accepts that name, and the hub sees alice.
    await ws.file(
      'alice-named.yaml',
      `${await readFile(join(ws.dir, 'alice.yaml'), 'utf8')}node:\n  identity: alice\n`,
    )
    const named = (argv: readonly string[]) =>
      new Cli(ws.dir, { env: { NODE_SECRET: node('alice').secretKey } }).run([
        ...argv,
        '--config',
        'alice-named.yaml',
        '--hub',
        hub.address,
      ])
    expect(await named(['put', 's', 'k', 'v', '--identity', 'alice'])).toMatchObject({ code: 0 })
    expect((await named(['put', 's', 'k', 'v', '--identity', 'carol'])).stderr).toContain(
      "--identity carol: this node authenticates with the CURVE key of transport.curve.publicKey, so the hub knows it by the name the hub's curve.clients gives that key",
    )
    // A file shared with the hub maps the key to its name: the refusal says which name the hub sees.
    const alice = await readFile(join(ws.dir, 'alice.yaml'), 'utf8')
    await ws.file('alice-shared.yaml', `${alice}    clients:\n      alice: "${node('alice').publicKey}"\n`)
    const shared = new Cli(ws.dir, { env: { NODE_SECRET: node('alice').secretKey } })
    const asBob = await shared.run([
      'put',
      's',
      'k',
      'v',
      '--identity',
      'bob',
      '--config',
      'alice-shared.yaml',
    ])
    expect(asBob.code).toBe(2)
    expect(asBob.stderr).toContain("so the hub knows it as 'alice', the name curve.clients gives that key;")
    expect(
      await shared.run([
        'put',
        's',
        'k',
        'v',
        '--identity',
        'alice',
        '--config',
        'alice-shared.yaml',
        '--hub',
        hub.address,
      ]),
    ).toMatchObject({ code: 0 })
    expect(await hub.stop()).toBe(0)
  })

  test('CURVE: a write-only identity writes with put, rm, update and import, and cannot read', async () => {
    const { hub, node } = await curveHub({ writer: ['write'], alice: ['read', 'write'] })
    const file = await ws.file('rows.tsv', 'i\tfrom import\n')
    const writer = node('writer')
    expect((await writer.run(['put', 's', 'k', 'v'])).stdout).toMatch(/^put k in s \(seq \d+\)\n$/)
    expect((await writer.run(['update', 's', 'k', '+', '--op', 'append'])).stdout).toMatch(
      /^append k \(seq \d+\)\n$/,
    )
    expect((await writer.run(['put', 's', 'gone', 'x'])).code).toBe(0)
    expect((await writer.run(['rm', 's', 'gone'])).stdout).toMatch(/^removed gone \(seq \d+\)\n$/)
    const imported = await writer.run(['import', 's', file])
    expect(imported).toMatchObject({ code: 0, stdout: '' })
    expect(imported.stderr).toMatch(/^imported 1 of 1 rows into s .*, 0 errors\n$/)
    expect((await node('alice').run(['get', 's', 'k'])).stdout).toBe('v+\n')
    expect((await node('alice').run(['get', 's', 'i'])).stdout).toBe('from import\n')
    expect((await node('alice').run(['get', 's', 'gone'])).code).toBe(3)
    // putIfAbsent answers with what the store holds: refused to an identity that may not read.
    const ifAbsent = await writer.run(['update', 's', 'k', 'v', '--op', 'putIfAbsent'])
    expect(ifAbsent.code).toBe(1)
    expect(ifAbsent.stderr).toMatch(/^concord: ERR_FORBIDDEN: .*may write store 's' but not read it/)
    // Reading commands keep the hub's own refusal.
    const get = await writer.run(['get', 's', 'k'])
    expect(get.code).toBe(1)
    expect(get.stderr).toBe("concord: ERR_FORBIDDEN: 'writer' may not read store 's'\n")
    expect(await hub.stop()).toBe(0)
  })
})

/**
 * A hub on ZeroMQ with CURVE admitting `rules`' identities (each with its own key pair and
 * the actions allowed on store `s`), and a CLI for any identity, admitted or not: each node's
 * file holds its own pair and the hub's public key, the hub's its pair and the admitted keys.
 */
async function curveHub(rules: Record<string, readonly string[]>) {
  const keys = new Cli(ws.dir)
  const pair = async () => JSON.parse((await keys.run(['keygen', '--json'])).stdout) as Record<string, string>
  const server = await pair()
  const pairs = new Map<string, Record<string, string>>()
  const pairOf = async (name: string) => {
    if (!pairs.has(name)) pairs.set(name, await pair())
    return pairs.get(name)!
  }
  const access = Object.entries(rules)
    .map(([name, allow]) => `  - identities: [${name}]\n    allow: [${allow.join(', ')}]\n    stores: [s]\n`)
    .join('')
  const base = `hub:\n  listen: tcp://127.0.0.1:0\npersistence: memory\nstores:\n  s: string\naccess:\n${access}`
  let clients = ''
  for (const name of Object.keys(rules)) clients += `      ${name}: "${(await pairOf(name)).publicKey}"\n`
  await ws.file(
    'hub.yaml',
    `${base}transport:\n  kind: zmq\n  curve:\n    server:\n      publicKey: "${server.publicKey}"\n      secretKey: \${HUB_SECRET}\n    clients:\n${clients}`,
  )
  const hub = await serveProcess(['--config', 'hub.yaml'], ws.dir, { HUB_SECRET: server.secretKey! })
  for (const name of ['mallory', ...Object.keys(rules)]) {
    const own = await pairOf(name)
    await ws.file(
      `${name}.yaml`,
      `${base}transport:\n  kind: zmq\n  curve:\n    publicKey: "${own.publicKey}"\n    secretKey: \${NODE_SECRET}\n    serverKey: "${server.publicKey}"\n`,
    )
  }
  /** The CLI as `name`, against this hub. */
  const node = (name: string) => {
    const cli = new Cli(ws.dir, { env: { NODE_SECRET: pairs.get(name)!.secretKey! } })
    return {
      secretKey: pairs.get(name)!.secretKey!,
      publicKey: pairs.get(name)!.publicKey!,
      run: (argv: readonly string[]) => cli.run([...argv, '--config', `${name}.yaml`, '--hub', hub.address]),
    }
  }
  return { hub, node }
}
