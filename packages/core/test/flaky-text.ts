import { t } from '@concord/schema'
import { DecodeError, type Schema } from '@concord/schema/contract'

/**
 * `t.string()`, except that decoding `poison` fails the first time, as a buggy custom schema
 * might: a clone using it resyncs once (from a snapshot) when it meets that value.
 */
export function flakyText(poison = 'poison'): Schema<string> {
  const text = t.string()
  let failed = false
  return {
    fingerprint: text.fingerprint,
    validate: (value) => text.validate(value),
    encode: (value) => text.encode(value),
    decode(bytes) {
      const value = text.decode(bytes)
      if (value === poison && !failed) {
        failed = true
        throw new DecodeError('cannot read this one yet')
      }
      return value
    },
  }
}
