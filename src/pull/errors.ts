// Why a pull failed, as typed errors with stable codes: what the controller shows on the
// container's row and what decides whether a retry can help.

export type PullErrorCode =
  | 'InvalidReference'
  | 'ImageNotFound'
  | 'ImageNotPresent'
  | 'Unauthorized'
  | 'RegistryUnreachable'
  | 'RegistryError'
  | 'DigestMismatch'
  | 'NoMatchingPlatform'
  | 'UnsupportedImage';

export class PullError extends Error {
  readonly code: PullErrorCode;

  constructor(code: PullErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PullError';
    this.code = code;
  }
}

/** Not a reference docker or containerd would accept. */
export class InvalidReferenceError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidReference', message, options);
    this.name = 'InvalidReferenceError';
  }
}

/** The registry has no such repository, tag or digest. */
export class ImageNotFoundError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ImageNotFound', message, options);
    this.name = 'ImageNotFoundError';
  }
}

/** imagePullPolicy Never and the image is not in containerd. */
export class ImageNotPresentError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ImageNotPresent', message, options);
    this.name = 'ImageNotPresentError';
  }
}

/** No credentials, wrong ones, or ones without pull access. */
export class UnauthorizedError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Unauthorized', message, options);
    this.name = 'UnauthorizedError';
  }
}

/** Connection refused, reset, timed out, or lost in the middle of a blob. */
export class RegistryUnreachableError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RegistryUnreachable', message, options);
    this.name = 'RegistryUnreachableError';
  }
}

/** The registry answered, but not as the distribution protocol says (5xx, bad JSON, ...). */
export class RegistryError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RegistryError', message, options);
    this.name = 'RegistryError';
  }
}

/** Content that does not hash to the digest that names it: refused, never stored. */
export class DigestMismatchError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DigestMismatch', message, options);
    this.name = 'DigestMismatchError';
  }
}

export class NoMatchingPlatformError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NoMatchingPlatform', message, options);
    this.name = 'NoMatchingPlatformError';
  }
}

/** A manifest or layer kind converge cannot pull (schema 1, unknown media types). */
export class UnsupportedImageError extends PullError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UnsupportedImage', message, options);
    this.name = 'UnsupportedImageError';
  }
}
