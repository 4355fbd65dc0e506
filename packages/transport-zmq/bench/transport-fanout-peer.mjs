// The nodes of bench/transport-fanout.mjs, one per child process. Not a benchmark on its own.
import { once } from 'node:events'
import { constantBackoff } from '@concord/core'
import { zmqTransport } from '../dist/index.js'

const [role, address, totalText, sizeText] = process.argv.slice(2)
const total = Number(totalText)
let linkUp
const linked = new Promise((resolve) => {
  linkUp = resolve
})
let received = 0
let onBroadcast = () => {}
const node = await zmqTransport().connect(
  address,
  {
    linkUp: () => linkUp(),
    linkDown() {},
    frame() {},
    broadcast() {
      received++
      onBroadcast()
    },
  },
  { backoff: constantBackoff(20) },
)
await linked
await node.subscribe('t')
const payload = new Uint8Array(Number(sizeText)).fill(7)
const roundTrip = () => {
  const heard = new Promise((resolve) => {
    onBroadcast = resolve
  })
  node.send(payload)
  return heard
}
// Warm up: the writer's first 2 000 round trips reach the listeners too, before the clock starts.
if (role === 'writer') for (let i = 0; i < 2000; i++) await roundTrip()
process.send('ready')
await once(process, 'message')
const base = received
if (role === 'writer') {
  const start = performance.now()
  for (let i = 0; i < total; i++) await roundTrip()
  process.send({ ms: performance.now() - start, received: received - base })
} else {
  await new Promise((resolve) => {
    onBroadcast = () => {
      if (received - base >= total) resolve()
    }
  })
  process.send({ received: received - base })
}
await once(process, 'message')
