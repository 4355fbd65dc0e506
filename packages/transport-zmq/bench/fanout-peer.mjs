// The receivers of bench/fanout.mjs, run in a child process. Not a benchmark on its own.
import { Dealer, Subscriber } from 'zeromq'

process.on('message', async ({ kind, address, peers, total }) => {
  const sockets = []
  for (let i = 0; i < peers; i++) {
    const socket =
      kind === 'router'
        ? new Dealer({ linger: 0, receiveHighWaterMark: 0, routingId: `peer-${i}` })
        : new Subscriber({ linger: 0, receiveHighWaterMark: 0 })
    socket.connect(address)
    if (kind === 'pub') socket.subscribe('s|')
    sockets.push(socket)
  }
  // ROUTER needs to learn the routing ids: every dealer says hello.
  if (kind === 'router') for (const s of sockets) await s.send('hello')
  let ready = 0
  let received = 0
  const done = new Promise((resolve) => {
    for (const socket of sockets) {
      ;(async () => {
        let warm = false
        for await (const msg of socket) {
          const body = msg[msg.length - 1]
          if (body.length === 1) {
            if (!warm) {
              warm = true
              if (++ready === peers) process.send({ ready: true })
            }
            continue
          }
          if (++received === total * peers) resolve()
        }
      })()
    }
  })
  await done
  process.send({ received })
  for (const s of sockets) s.close()
})
