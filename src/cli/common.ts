// Flags every command shares.

import type { ParseArgsConfig } from 'node:util';

export const COMMON = {
  namespace: { type: 'string', default: 'converge' },
  'containerd-address': { type: 'string' },
  'state-dir': { type: 'string', default: '/var/lib/converge' },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Written by `run` into the state dir: its pid, --listen address, containerd and namespace. */
export const STATE_FILE = 'converge.json';
