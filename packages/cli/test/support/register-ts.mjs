/** `node --conditions=concord-source --import ./register-ts.mjs src/bin.ts …` runs the CLI from source. */
import { register } from 'node:module'

register('./ts-hooks.mjs', import.meta.url)
