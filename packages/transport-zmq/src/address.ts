/** A parsed ZeroMQ endpoint this transport accepts. */
export type ZmqAddress =
  | {
      readonly kind: 'tcp'
      /** Host as written, IPv6 without brackets. */
      readonly host: string
      /** 0 (or `*`) asks for a free port when listening. */
      readonly port: number
      readonly ipv6: boolean
    }
  | { readonly kind: 'ipc'; readonly path: string }

const TCP = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+|\*):(\d{1,5}|\*)$/
const IPC = /^ipc:\/\/(\S+)$/

/** Parses `tcp://host:port` (IPv6 as `[::1]`, host `*` for every interface, port `0` or `*` for any) or `ipc://path`; undefined when malformed. */
export function parseAddress(address: unknown): ZmqAddress | undefined {
  if (typeof address !== 'string') return undefined
  const tcp = TCP.exec(address)
  if (tcp !== null) {
    const rawHost = tcp[1]!
    const port = tcp[2] === '*' ? 0 : Number(tcp[2])
    if (port > 65_535) return undefined
    const ipv6 = rawHost.startsWith('[')
    return { kind: 'tcp', host: ipv6 ? rawHost.slice(1, -1) : rawHost, port, ipv6 }
  }
  const ipc = IPC.exec(address)
  if (ipc !== null) return { kind: 'ipc', path: ipc[1]! }
  return undefined
}

/** True when the address cannot be reached from another machine: IPC, or TCP on a loopback host. */
export function isLocal(address: ZmqAddress): boolean {
  if (address.kind === 'ipc') return true
  const host = address.host.toLowerCase()
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** The endpoint string to give libzmq (`*` for a free port, brackets for IPv6). */
export function endpointOf(address: ZmqAddress): string {
  if (address.kind === 'ipc') return `ipc://${address.path}`
  const host = address.ipv6 ? `[${address.host}]` : address.host
  return `tcp://${host}:${address.port === 0 ? '*' : address.port}`
}
