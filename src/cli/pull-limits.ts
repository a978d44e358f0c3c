// The flags that bound a pull (`run` and `pull` share them): sizes are Kubernetes-style
// quantities ("4Mi", "16Gi"), the deadline a duration. Every bound has a default, so an
// image named by someone else's spec is limited whether or not the operator thought of it.

import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { parseDuration } from '../duration.js';
import type { PullLimits } from '../pull/limits.js';
import { parseBytes } from '../spec/quantity.js';

export const PULL_LIMIT_FLAGS = {
  'max-manifest-size': { type: 'string', default: '4Mi' },
  'max-config-size': { type: 'string', default: '8Mi' },
  'max-layers': { type: 'string', default: '128' },
  'max-image-size': { type: 'string', default: '16Gi' },
  'pull-timeout': { type: 'string', default: '30m' },
  'min-free-disk': { type: 'string', default: '1Gi' },
  'pull-disk-path': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export interface PullLimitValues {
  'max-manifest-size': string;
  'max-config-size': string;
  'max-layers': string;
  'max-image-size': string;
  'pull-timeout': string;
  'min-free-disk': string;
  'pull-disk-path'?: string;
}

function bytes(values: PullLimitValues, flag: keyof PullLimitValues, min: number): number {
  const text = values[flag] ?? '';
  let n: number;
  try {
    n = parseBytes(text);
  } catch (err) {
    throw new Error(`--${flag}: ${(err as Error).message}`, { cause: err });
  }
  if (n < min) throw new Error(`--${flag}: must be at least ${min} bytes, got '${text}'`);
  return n;
}

/** The limits and the free-disk path from the flags. Throws on a bad flag. */
export function pullLimitsFromFlags(values: PullLimitValues): { limits: PullLimits; diskPath?: string } {
  const layers = Number(values['max-layers']);
  if (!Number.isInteger(layers) || layers < 1) throw new Error(`--max-layers: expected a whole number >= 1, got '${values['max-layers']}'`);
  const timeoutMs = parseDuration(values['pull-timeout'], '--pull-timeout');
  if (timeoutMs < 1000) throw new Error(`--pull-timeout: must be at least 1s, got '${values['pull-timeout']}'`);
  return {
    limits: {
      manifestBytes: bytes(values, 'max-manifest-size', 1024),
      configBytes: bytes(values, 'max-config-size', 1024),
      layers,
      imageBytes: bytes(values, 'max-image-size', 1024),
      timeoutMs,
      minFreeDiskBytes: bytes(values, 'min-free-disk', 0),
    },
    diskPath: values['pull-disk-path'] ? path.resolve(values['pull-disk-path']) : undefined,
  };
}
