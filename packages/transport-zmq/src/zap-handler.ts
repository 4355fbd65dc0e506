import { type Context, Router } from 'zeromq'
import { z85Encode } from './curve.js'

/** ZeroMQ's ZAP endpoint (RFC 27): the one address per context where handshakes ask for a verdict. */
const ZAP_ENDPOINT = 'inproc://zeromq.zap.01'

/**
 * Answers ZAP requests for the CURVE hub sockets of one ZeroMQ context: a client key `admit`
 * maps to an identity is let through (200), any other is refused (400) before a single frame
 * of the link is exchanged. The handler lives in the hub's own context, so hubs with
 * different key sets in one process do not share it.
 */
export class ZapHandler {
  readonly #socket: Router
  readonly #admit: (publicKey: string) => string | undefined
  readonly #refused: (publicKey: string) => void
  #loop: Promise<void> | undefined

  constructor(
    context: Context,
    admit: (publicKey: string) => string | undefined,
    refused: (publicKey: string) => void,
  ) {
    this.#socket = new Router({ context, linger: 0, sendTimeout: 0 })
    this.#admit = admit
    this.#refused = refused
  }

  /** Binds the ZAP endpoint; must happen before the hub socket binds. */
  async start(): Promise<void> {
    await this.#socket.bind(ZAP_ENDPOINT)
    this.#loop = this.#serve()
  }

  async #serve(): Promise<void> {
    try {
      for await (const request of this.#socket) this.#answer(request)
    } catch {
      // The socket was closed under a pending receive: nothing more to answer.
    }
  }

  #answer(request: Buffer[]): void {
    // [routing id, empty, version, request id, domain, address, identity, mechanism, credentials...]
    const [route, delimiter, version, requestId, , , , mechanism, key] = request
    if (route === undefined || delimiter === undefined || requestId === undefined) return
    let status = '400'
    let text = 'refused'
    let user = ''
    if (version?.toString() !== '1.0') {
      status = '500'
      text = 'unsupported ZAP version'
    } else if (mechanism?.toString() === 'CURVE' && key?.length === 32) {
      const publicKey = z85Encode(key)
      let identity: string | undefined
      try {
        identity = this.#admit(publicKey)
      } catch {
        identity = undefined
      }
      if (identity !== undefined) {
        status = '200'
        text = 'OK'
        user = identity
      } else {
        this.#refused(publicKey)
      }
    }
    this.#socket.send([route, delimiter, '1.0', requestId, status, text, user, '']).catch(() => {})
  }

  /** Stops answering (handshakes in progress then fail). */
  async close(): Promise<void> {
    this.#socket.close()
    await this.#loop
  }
}
