import { randomBytes } from 'node:crypto'

/** A random id of `bytes` bytes as base64url (epochs, hub instances, node ids). */
export function randomId(bytes = 9): string {
  return randomBytes(bytes).toString('base64url')
}
