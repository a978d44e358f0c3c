// The one mapping from gRPC failures to typed errors. Everything above the containerd layer
// branches on `code`; nothing above it ever sees a gRPC status.

import { RuntimeError, type RuntimeErrorCode } from '../reconcile/runtime.js';

/** containerd's failures map one to one onto the reconciler's runtime-neutral codes. */
export type ContainerdErrorCode = RuntimeErrorCode;

export class ContainerdError extends RuntimeError {}

export class NotFoundError extends ContainerdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NotFound', message, options);
  }
}

export class AlreadyExistsError extends ContainerdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AlreadyExists', message, options);
  }
}

export class FailedPreconditionError extends ContainerdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FailedPrecondition', message, options);
  }
}

export class UnavailableError extends ContainerdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Unavailable', message, options);
  }
}

export class DeadlineExceededError extends ContainerdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DeadlineExceeded', message, options);
  }
}

export class InvalidArgumentError extends ContainerdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidArgument', message, options);
  }
}

export class CanceledError extends ContainerdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Canceled', message, options);
  }
}

// gRPC status numbers (grpc/status.h); kept here so the mapping needs no grpc import.
const GRPC_CODES: Record<number, ContainerdErrorCode> = {
  1: 'Canceled',
  2: 'Unknown',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  6: 'AlreadyExists',
  7: 'PermissionDenied',
  8: 'ResourceExhausted',
  9: 'FailedPrecondition',
  10: 'Aborted',
  11: 'InvalidArgument', // OUT_OF_RANGE
  12: 'Unimplemented',
  13: 'Internal',
  14: 'Unavailable',
  15: 'Internal', // DATA_LOSS
  16: 'PermissionDenied', // UNAUTHENTICATED
};

interface GrpcLikeError {
  code?: unknown;
  details?: unknown;
  message?: unknown;
}

/** Builds the typed error for a code; the one place that picks a subclass. */
export function errorOf(code: ContainerdErrorCode, message: string, cause?: unknown): ContainerdError {
  const options = cause === undefined ? undefined : { cause };
  switch (code) {
    case 'NotFound':
      return new NotFoundError(message, options);
    case 'AlreadyExists':
      return new AlreadyExistsError(message, options);
    case 'FailedPrecondition':
      return new FailedPreconditionError(message, options);
    case 'Unavailable':
      return new UnavailableError(message, options);
    case 'DeadlineExceeded':
      return new DeadlineExceededError(message, options);
    case 'InvalidArgument':
      return new InvalidArgumentError(message, options);
    case 'Canceled':
      return new CanceledError(message, options);
    default:
      return new ContainerdError(code, message, options);
  }
}

/**
 * Maps any failure of a gRPC call to a ContainerdError. `what` names the call
 * (e.g. "containers.Get web.api") so the message says what failed without the caller
 * having to wrap it again.
 */
export function fromGrpc(err: unknown, what: string): ContainerdError {
  if (err instanceof ContainerdError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as GrpcLikeError;
  let code = typeof e.code === 'number' ? (GRPC_CODES[e.code] ?? 'Unknown') : 'Unknown';
  const detail =
    typeof e.details === 'string' && e.details !== ''
      ? e.details
      : typeof e.message === 'string'
        ? e.message
        : String(err);
  // containerd passes our deadline on to its shims, and a shim call that runs out of it
  // comes back as Unknown "context deadline exceeded" (Go's context errors, not mapped
  // on that hop); it is a deadline all the same.
  if (code === 'Unknown' && /\bcontext deadline exceeded\b/.test(detail)) code = 'DeadlineExceeded';
  if (code === 'Unknown' && /\bcontext canceled\b/.test(detail)) code = 'Canceled';
  // A shim's bundle directory for the ID is there: another Create of the same task is under
  // way (a killed converge's) or left it behind. containerd 1.6 says so only in words.
  if (code === 'Unknown' && /\bfailed to start shim: mkdir \S+: file exists\b/.test(detail)) code = 'AlreadyExists';
  return errorOf(code, `${what}: ${detail}`, err);
}

function hasCode(e: unknown, code: ContainerdErrorCode): boolean {
  return e instanceof ContainerdError && e.code === code;
}

export const isNotFound = (e: unknown): boolean => hasCode(e, 'NotFound');
export const isAlreadyExists = (e: unknown): boolean => hasCode(e, 'AlreadyExists');
export const isFailedPrecondition = (e: unknown): boolean => hasCode(e, 'FailedPrecondition');
export const isUnavailable = (e: unknown): boolean => hasCode(e, 'Unavailable');
export const isDeadlineExceeded = (e: unknown): boolean => hasCode(e, 'DeadlineExceeded');
export const isInvalidArgument = (e: unknown): boolean => hasCode(e, 'InvalidArgument');
export const isCanceled = (e: unknown): boolean => hasCode(e, 'Canceled');

/** A definite failure (the call did not happen) as opposed to one whose outcome is unknown. */
export function isDefinite(err: unknown): boolean {
  return !isDeadlineExceeded(err) && !isUnavailable(err) && !isCanceled(err);
}

/** Resolves to undefined when the thing is not there; rethrows anything else. */
export async function unlessNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
