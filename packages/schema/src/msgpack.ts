/**
 * The msgpack primitives the compiled encoders write with, for other Concord packages that
 * write msgpack by hand (core's frame writer). Not the schema API: see the package index.
 *
 * @module
 */
export { INVALID } from './issues.js'
export {
  loneSurrogateAt,
  Writer,
  writeArrayHeader,
  writeBin,
  writeByte,
  writeFloat,
  writeNumber,
  writeRaw,
  writeStr,
} from './writer.js'
