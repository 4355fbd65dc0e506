import { ConcordError, type ConcordErrorOptions, type Issue } from '@concord/schema/contract'

export {
  ConcordError,
  type ConcordErrorOptions,
  DecodeError,
  isConcordError,
  ValidationError,
} from '@concord/schema/contract'

/** Every error code Concord raises on purpose. Stable API: see the core README. */
export const ErrorCodes = {
  SCHEMA_INVALID: 'ERR_SCHEMA_INVALID',
  DECODE: 'ERR_DECODE',
  SCHEMA_MISMATCH: 'ERR_SCHEMA_MISMATCH',
  UNKNOWN_OPERATION: 'ERR_UNKNOWN_OPERATION',
  UPDATE_FAILED: 'ERR_UPDATE_FAILED',
  CONFLICT: 'ERR_CONFLICT',
  UNAVAILABLE: 'ERR_UNAVAILABLE',
  CLOSED: 'ERR_CLOSED',
  FORBIDDEN: 'ERR_FORBIDDEN',
  OVERFLOW: 'ERR_OVERFLOW',
  PERSISTENCE: 'ERR_PERSISTENCE',
  PROTOCOL: 'ERR_PROTOCOL',
  UNKNOWN_STORE: 'ERR_UNKNOWN_STORE',
  OUT_OF_VIEW: 'ERR_OUT_OF_VIEW',
  TOO_LARGE: 'ERR_TOO_LARGE',
  ABORTED: 'ERR_ABORTED',
} as const

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** The master's schema and the clone's differ (S2.2). */
export class SchemaMismatchError extends ConcordError {
  static readonly code = ErrorCodes.SCHEMA_MISMATCH
  constructor(
    readonly local: string,
    readonly remote: string,
    message = `schema mismatch: local fingerprint ${local}, remote ${remote}`,
    options?: ConcordErrorOptions,
  ) {
    super(SchemaMismatchError.code, message, options)
  }
}

/** `update()` named an operation the master does not have (S3.5). */
export class UnknownOperationError extends ConcordError {
  static readonly code = ErrorCodes.UNKNOWN_OPERATION
  constructor(message: string, options?: ConcordErrorOptions) {
    super(UnknownOperationError.code, message, options)
  }
}

/** An update callback threw or returned something the schema refuses (S3.3). */
export class UpdateError extends ConcordError {
  static readonly code = ErrorCodes.UPDATE_FAILED
  constructor(message: string, options?: ConcordErrorOptions) {
    super(UpdateError.code, message, options)
  }
}

/** `compareAndSet` found the key written at another seq (S3.6). */
export class ConflictError extends ConcordError {
  static readonly code = ErrorCodes.CONFLICT
  constructor(
    message: string,
    /** The seq the key was last written at (0 when absent), when known. */
    readonly actualSeq?: number,
    options?: ConcordErrorOptions,
  ) {
    super(ConflictError.code, message, options)
  }
}

/** The master cannot be reached in time, or the pending-write bound is full (S3.7). */
export class UnavailableError extends ConcordError {
  static readonly code = ErrorCodes.UNAVAILABLE
  /**
   * Set when the master acknowledged the write at this seq, so it took effect, and this
   * clone could not apply it (its link to the hub stayed down for `writeTimeout`): the
   * write is done, and retrying a non-idempotent `update` would apply it twice. Wait for
   * it with `store.reached(ackedSeq)`. Undefined when the outcome is not known to be that.
   */
  readonly ackedSeq?: number
  constructor(message: string, options: ConcordErrorOptions & { readonly ackedSeq?: number } = {}) {
    super(UnavailableError.code, message, options)
    this.ackedSeq = options.ackedSeq
  }
}

/** The handle, node or hub was closed before the operation settled (S10.1). */
export class ClosedError extends ConcordError {
  static readonly code = ErrorCodes.CLOSED
  constructor(message = 'closed', options?: ConcordErrorOptions) {
    super(ClosedError.code, message, options)
  }
}

/** The hub's authorizer refused the identity this action (S8.2). */
export class ForbiddenError extends ConcordError {
  static readonly code = ErrorCodes.FORBIDDEN
  constructor(message: string, options?: ConcordErrorOptions) {
    super(ForbiddenError.code, message, options)
  }
}

/** A bounded buffer overflowed: the consumer fell behind (S5.2, S7.6). */
export class OverflowError extends ConcordError {
  static readonly code = ErrorCodes.OVERFLOW
  constructor(message: string, options?: ConcordErrorOptions) {
    super(OverflowError.code, message, options)
  }
}

/** Persistence failed, or holds data it cannot use (corrupt, other version, other schema; S9.2). */
export class PersistenceError extends ConcordError {
  static readonly code = ErrorCodes.PERSISTENCE
  constructor(message: string, options?: ConcordErrorOptions) {
    super(PersistenceError.code, message, options)
  }
}

/** A frame that is malformed, of an unknown type or version, or otherwise breaks the protocol (S9.1). */
export class ProtocolError extends ConcordError {
  static readonly code = ErrorCodes.PROTOCOL
  constructor(message: string, options?: ConcordErrorOptions) {
    super(ProtocolError.code, message, options)
  }
}

/** The hub hosts no store of that name. */
export class UnknownStoreError extends ConcordError {
  static readonly code = ErrorCodes.UNKNOWN_STORE
  constructor(
    readonly store: string,
    options?: ConcordErrorOptions,
  ) {
    super(UnknownStoreError.code, `unknown store '${store}'`, options)
  }
}

/** A write to a key outside the clone's prefix view (S2.6). */
export class OutOfViewError extends ConcordError {
  static readonly code = ErrorCodes.OUT_OF_VIEW
  constructor(message: string, options?: ConcordErrorOptions) {
    super(OutOfViewError.code, message, options)
  }
}

/** A value, key or frame over a configured size limit. */
export class TooLargeError extends ConcordError {
  static readonly code = ErrorCodes.TOO_LARGE
  constructor(message: string, options?: ConcordErrorOptions) {
    super(TooLargeError.code, message, options)
  }
}

/** The caller's `AbortSignal` fired; `cause` is the signal's reason. */
export class AbortedError extends ConcordError {
  static readonly code = ErrorCodes.ABORTED
  constructor(message = 'aborted', options?: ConcordErrorOptions) {
    super(AbortedError.code, message, options)
  }
}

/** The details an error carries over the wire (WRITE_ERR, ERROR messages). */
export interface WireError {
  readonly code: string
  readonly message: string
  readonly issues?: readonly Issue[]
  readonly actualSeq?: number
}
