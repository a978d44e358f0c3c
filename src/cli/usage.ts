// Usage errors: a flag or argument the command cannot take (unknown, missing, a bad value, a
// bad --config). main.ts prints them on stderr and exits 2, as parseArgs's own errors;
// anything else that fails is exit 1.

import { ConvergeError, codeOf, messageOf } from '../errors.js';

export class UsageError extends ConvergeError {
  declare readonly code: 'USAGE';
  constructor(message: string, options?: { cause?: unknown }) {
    super('USAGE', message, options);
  }
}

/** Whether `err` is a usage error: ours, or one of node:util parseArgs's ERR_PARSE_ARGS_*. */
export function isUsageError(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'USAGE' || (code?.startsWith('ERR_PARSE_ARGS') ?? false);
}

/** What reading a flag threw, as a UsageError. */
export function toUsage(err: unknown): UsageError {
  return err instanceof UsageError ? err : new UsageError(messageOf(err), { cause: err });
}

/** Runs `fn` (which reads flags), turning whatever it throws into a UsageError. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toUsage(err);
  }
}

/** The value of a flag that takes one of a few words (-o table|json); else a UsageError. */
export function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag}: expected one of ${allowed.join(', ')}, got '${value}'`);
}
