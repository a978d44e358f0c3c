// Flags every command shares.

import type { ParseArgsConfig } from 'node:util';

export const COMMON = {
  namespace: { type: 'string', default: 'converge' },
  'containerd-address': { type: 'string' },
  'state-dir': { type: 'string', default: '/var/lib/converge' },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];
