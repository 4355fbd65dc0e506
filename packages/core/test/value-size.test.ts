/** A value over a store's `maxValueSize`, refused by the master (S3.3). */
import { t } from '@concord/schema'
import { expect, it } from 'vitest'
import { createHub, createNode, memoryPersistence, memoryTransport, TooLargeError } from '../src/index.js'
import { useMemoryClusters } from './memory-cluster.js'

const cluster = useMemoryClusters()

it("S3.3 a value over the store's maxValueSize rejects with TooLargeError naming the store and the option to raise", async () => {
  const { node } = await cluster({ stores: { notes: { schema: t.string(), maxValueSize: 16 } } })
  const notes = await (await node('n')).open('notes', { schema: t.string() })
  const error = await notes.put('big', 'x'.repeat(40)).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(TooLargeError)
  expect((error as TooLargeError).message).toBe(
    "value of 42 bytes exceeds the limit of store 'notes', 16 bytes (its maxValueSize option)",
  )
  expect(notes.has('big')).toBe(false)
  expect(await notes.put('small', 'fits')).toBeGreaterThan(0)
  // An update whose result grows past the limit says the same.
  const grown = await notes.update('small', 'x'.repeat(20), { op: 'append' }).catch((e: unknown) => e)
  expect(grown).toBeInstanceOf(TooLargeError)
  expect((grown as TooLargeError).message).toBe(
    "update 'append' made a value of 25 bytes, over the limit of store 'notes', 16 bytes (its maxValueSize option)",
  )
  expect(notes.get('small')).toBe('fits')
})

it('S3.1 a key or value over what the node sends rejects locally with TooLargeError naming maxFrameSize', async () => {
  const transport = memoryTransport({ maxFrameSize: 4096 })
  const hub = await createHub({
    transport,
    listen: 'memory://*',
    persistence: memoryPersistence(),
    stores: { notes: { schema: t.string() } },
  })
  const node = await createNode({ transport, hub: hub.address })
  try {
    const notes = await node.open('notes', { schema: t.string() })
    await expect(notes.put('big', 'x'.repeat(2000))).rejects.toThrow(
      'value of 2003 bytes exceeds what a node sends, 1024 bytes (a quarter of its maxFrameSize)',
    )
    await expect(notes.put('k'.repeat(2000), 'v')).rejects.toThrow(
      'key of 2000 bytes exceeds what a node sends, 1024 bytes (a quarter of its maxFrameSize)',
    )
  } finally {
    await node.close()
    await hub.close()
  }
})
