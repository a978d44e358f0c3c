// Why a pull failed, as typed errors with stable codes: what the controller shows on the
// container's row and what decides whether a retry can help.

import { ConvergeError } from '../errors.js';

export type PullErrorCode =
  | 'InvalidReference'
  | 'ImageNotFound'
  | 'ImageNotPresent'
  | 'Unauthorized'
  | 'RegistryUnreachable'
  | 'RegistryError'
  | 'DigestMismatch'
  | 'NoMatchingPlatform'
  | 'UnsupportedImage'
  | 'ImageTooLarge'
  | 'InsufficientDisk'
  | 'PullTimeout';

export class PullError extends ConvergeError {
  declare readonly code: PullErrorCode;

  constructor(code: PullErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Not a reference docker or containerd would accept (raised while parsing, in spec/). */
export { InvalidReferenceError } from '../spec/errors.js';

/** The registry has no such repository, tag or digest. */
export class ImageNotFoundError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ImageNotFound', message, options);
  }
}

/** imagePullPolicy Never and the image is not in containerd. */
export class ImageNotPresentError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ImageNotPresent', message, options);
  }
}

/** No credentials, wrong ones, or ones without pull access. */
export class UnauthorizedError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Unauthorized', message, options);
  }
}

/** Connection refused, reset, timed out, or lost in the middle of a blob. */
export class RegistryUnreachableError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RegistryUnreachable', message, options);
  }
}

/** The registry answered, but not as the distribution protocol says (5xx, bad JSON, ...). */
export class RegistryError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RegistryError', message, options);
  }
}

/** Content that does not hash to the digest that names it: refused, never stored. */
export class DigestMismatchError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DigestMismatch', message, options);
  }
}

export class NoMatchingPlatformError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NoMatchingPlatform', message, options);
  }
}

/** A manifest or layer kind converge cannot pull (schema 1, unknown media types). */
export class UnsupportedImageError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UnsupportedImage', message, options);
  }
}

/** The image is over a bound converge keeps to (manifest, config, layer count, bytes): refused before it is fetched. */
export class ImageTooLargeError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ImageTooLarge', message, options);
  }
}

/** The filesystem the pull writes to has too little room for the image. */
export class InsufficientDiskError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InsufficientDisk', message, options);
  }
}

/** The whole pull took longer than its deadline; what it fetched is kept for the next try. */
export class PullTimeoutError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PullTimeout', message, options);
  }
}
