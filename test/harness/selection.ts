// Which containerd the integration tests (and the bench) run: CONVERGE_TEST_CONTAINERD names
// a dir holding one set of containerd, ctr, containerd-shim-runc-v2 and runc (as
// scripts/build-tools.sh lays out .tools/containerd-<version>/bin); unset, Debian's in
// /usr/bin. The dir goes first on this process's PATH when the module loads, so every
// process the tests start finds that set's tools: ctr and runc run by the harness, and the
// shim and runc that containerd 2.x looks up on the PATH it inherits (1.6 would find
// Debian's shim first otherwise, and a shim runs whichever runc its PATH gives).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { configVersionOf, type ConfigVersion } from '../../src/embedded/config.js';
import { HarnessError } from './exec.js';

export const CONTAINERD_ENV = 'CONVERGE_TEST_CONTAINERD';
const DEBIAN_DIR = '/usr/bin';
const TOOLS = ['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc'] as const;

/** The dir of the containerd set in use (absolute). */
export const CONTAINERD_DIR = path.resolve(process.env[CONTAINERD_ENV] || DEBIAN_DIR);
export const CONTAINERD_BIN = path.join(CONTAINERD_DIR, 'containerd');

if (CONTAINERD_DIR !== DEBIAN_DIR) {
  const missing = TOOLS.filter((t) => !existsSync(path.join(CONTAINERD_DIR, t)));
  if (missing.length > 0) {
    throw new HarnessError('HARNESS_CONTAINERD_NOT_READY', `${CONTAINERD_ENV}=${CONTAINERD_DIR} lacks ${missing.join(', ')} (build it with scripts/build-tools.sh)`);
  }
  const rest = (process.env.PATH ?? '').split(':').filter((p) => p !== CONTAINERD_DIR);
  process.env.PATH = [CONTAINERD_DIR, ...rest].join(':');
}

let configVersion: ConfigVersion | undefined;

/** The config version the selected containerd expects (asked once per process). */
export function selectedConfigVersion(): ConfigVersion {
  configVersion ??= configVersionOf(CONTAINERD_BIN);
  return configVersion;
}

let version: string | undefined;

/** `containerd --version`'s version field, e.g. "1.6.20~ds1" or "v2.4.2". */
export function selectedVersion(): string {
  if (version === undefined) {
    try {
      version = execFileSync(CONTAINERD_BIN, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim().split(/\s+/)[2] ?? 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

/** The major version of the selected containerd (1 or 2), for the few checks that differ. */
export function selectedMajor(): number {
  return Number(/^v?(\d+)\./.exec(selectedVersion())?.[1] ?? 0);
}
