// The far side of bench/raw.mjs, run in a child process (child_process.fork). Not a benchmark on its own.
// It receives one command over the IPC channel, serves it, and reports back.
import { Dealer, Subscriber } from 'zeromq'

process.on('message', async (command) => {
  if (command.kind === 'dealer-echo') await dealerEcho(command)
  else if (command.kind === 'sub') await sub(command)
  else if (command.kind === 'listen') await listen(command)
})

/** Announces itself to a ROUTER, then reads (and drops) what it sends until `total` arrived. */
async function listen({ address, total }) {
  const dealer = new Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 })
  dealer.connect(address)
  await dealer.send('listener')
  let received = 0
  for await (const _ of dealer) {
    received++
    if (received === 1) process.send({ ready: true })
    if (received === total) break
  }
  dealer.close()
  process.send({ received })
}

/** Sends `total` requests to a ROUTER that echoes them, keeping `inFlight` outstanding. */
async function dealerEcho({ address, total, inFlight, size }) {
  const dealer = new Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 })
  dealer.connect(address)
  const payload = Buffer.alloc(size, 7)
  // Warm up: one round trip proves the link is up before the clock starts.
  await dealer.send(payload)
  await dealer.receive()
  let sent = 0
  let received = 0
  const start = performance.now()
  while (sent < Math.min(inFlight, total)) {
    await dealer.send(payload)
    sent++
  }
  for await (const _ of dealer) {
    received++
    if (received === total) break
    if (sent < total) {
      await dealer.send(payload)
      sent++
    }
  }
  const ms = performance.now() - start
  dealer.close()
  process.send({ ms, received })
}

/** Subscribes to everything, reports once it hears the publisher, then counts `total` messages. */
async function sub({ address, total }) {
  const socket = new Subscriber({ linger: 0, receiveHighWaterMark: 0 })
  socket.connect(address)
  socket.subscribe()
  let ready = false
  let received = 0
  let start = 0
  for await (const [message] of socket) {
    if (message.length === 1) {
      // A warm-up probe: the subscription has reached the publisher.
      if (!ready) {
        ready = true
        process.send({ ready: true })
      }
      continue
    }
    if (received === 0) start = performance.now()
    received++
    if (received === total) break
  }
  const ms = performance.now() - start
  socket.close()
  process.send({ ms, received })
}
