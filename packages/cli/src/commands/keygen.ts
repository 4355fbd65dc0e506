/**
 * `concord keygen`: a fresh CURVE key pair for the ZeroMQ transport's `curve` options.
 *
 * @module
 */
import { line } from '../context.js'
import type { Command } from './command.js'

/** `concord keygen`: a CURVE key pair. */
export const keygen: Command = {
  name: 'keygen',
  summary: 'make a CURVE key pair for the ZeroMQ transport (a hub or a node)',
  usage: 'concord keygen [--json]',
  details:
    "Prints publicKey and secretKey (Z85) as YAML lines to paste under transport.curve (the hub's under\ncurve.server). Keep secret keys out of shared files: reference an environment variable instead\n(see the README).",
  args: { min: 0, max: 0 },
  async run({ globals }, ctx) {
    const { zmqCurveKeyPair } = await import('@concord/transport-zmq')
    const pair = zmqCurveKeyPair()
    if (globals.json) await line(ctx.stdout, JSON.stringify(pair))
    else {
      await line(ctx.stdout, `publicKey: "${pair.publicKey}"`)
      await line(ctx.stdout, `secretKey: "${pair.secretKey}"`)
    }
    return 0
  },
}
