const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/

/** Store and group names: 1-200 characters of `A-Z a-z 0-9 . _ : / -`, starting with a letter or digit. */
export function checkName(kind: 'store' | 'group', name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new TypeError(`invalid ${kind} name ${JSON.stringify(name)}: use 1-200 of A-Z a-z 0-9 . _ : / -`)
  }
  return name
}

/** Broadcast topic names: core's namespaces on the transport (see docs/PROTOCOL.md). */
export const Topics = {
  hub: 'h|',
  store: (store: string) => `s|${store}|`,
  view: (store: string, prefix: string) => `v|${store}|${prefix}`,
  event: (topic: string) => `e|${topic}`,
  groupEvent: (group: string, topic: string) => `g|${group}|${topic}`,
} as const
