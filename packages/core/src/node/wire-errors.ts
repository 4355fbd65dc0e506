import type { Issue } from '@concord/schema/contract'
import {
  AbortedError,
  ClosedError,
  ConcordError,
  ConflictError,
  DecodeError,
  ForbiddenError,
  OutOfViewError,
  OverflowError,
  PersistenceError,
  ProtocolError,
  SchemaMismatchError,
  TooLargeError,
  UnavailableError,
  UnknownOperationError,
  UnknownStoreError,
  UpdateError,
  ValidationError,
} from '../errors.js'

function detail(details: unknown, name: string): unknown {
  return typeof details === 'object' && details !== null
    ? (details as Record<string, unknown>)[name]
    : undefined
}

/** The typed error a hub's WRITE_ERR or ERROR message describes. Unknown codes become a plain `ConcordError`. */
export function errorFromWire(code: string, message: string, details: unknown): ConcordError {
  switch (code) {
    case ValidationError.code: {
      const issues = detail(details, 'issues')
      return new ValidationError(
        Array.isArray(issues) ? (issues as Issue[]) : [{ path: '', code: 'type', message }],
        { context: 'refused by the hub' },
      )
    }
    case DecodeError.code:
      return new DecodeError(message)
    case ConflictError.code: {
      const actual = detail(details, 'actualSeq')
      // A seq or nothing: the node waits for this seq before reporting the conflict.
      const seq = Number.isSafeInteger(actual) && (actual as number) >= 0 ? (actual as number) : undefined
      return new ConflictError(message, seq)
    }
    case SchemaMismatchError.code: {
      // The hub sends its fingerprint and ours; from here, ours is local.
      const hub = detail(details, 'hub')
      const peer = detail(details, 'peer')
      return new SchemaMismatchError(String(peer ?? ''), String(hub ?? ''), message)
    }
    case UnknownOperationError.code:
      return new UnknownOperationError(message)
    case UpdateError.code:
      return new UpdateError(message)
    case ForbiddenError.code:
      return new ForbiddenError(message)
    case UnavailableError.code:
      return new UnavailableError(message)
    case PersistenceError.code:
      return new PersistenceError(message)
    case ProtocolError.code:
      return new ProtocolError(message)
    case UnknownStoreError.code:
      return Object.assign(new UnknownStoreError(''), { message })
    case OutOfViewError.code:
      return new OutOfViewError(message)
    case TooLargeError.code:
      return new TooLargeError(message)
    case ClosedError.code:
      return new ClosedError(message)
    case OverflowError.code:
      return new OverflowError(message)
    case AbortedError.code:
      return new AbortedError(message)
    default:
      return new ConcordError(code, message)
  }
}
