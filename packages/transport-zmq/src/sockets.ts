import type { Socket } from 'zeromq'

/**
 * Closes the monitor behind a socket's `events` once the socket is closed (idempotent).
 * zeromq.js closes it by itself only when it reads the socket's "monitor stopped" event;
 * should that event be lost or late, the monitor's poll handle keeps the process alive.
 */
export function closeEvents(socket: Socket): void {
  try {
    if (!socket.events.closed) socket.events.close()
  } catch {
    // Gone with its socket already.
  }
}
