// What converge gives a container whose spec has no security or log fields, as `ctr run`
// flags, so that a baseline can make the same containers: runc loads converge's seccomp
// profile, and the shim starts converge's log driver for the task.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { seccompProfile } from '../src/containerd/seccomp.js';
import { DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE, findLogger, installLogger, logUri } from '../src/logs/driver.js';
import { DEFAULT_CAPABILITIES } from '../src/spec/capabilities.js';

export interface SameAsConverge {
  /** For `ctr run` / `ctr container create`. */
  flags: string[];
  /** For `--log-uri`. */
  logUri(id: string): string;
}

/** Writes the profile and installs the logger under `stateDir`. */
export async function sameAsConverge(stateDir: string): Promise<SameAsConverge> {
  const profile = path.join(stateDir, 'seccomp.json');
  writeFileSync(profile, JSON.stringify(seccompProfile(DEFAULT_CAPABILITIES)));
  const logger = await installLogger(await findLogger(), stateDir);
  mkdirSync(path.join(stateDir, 'logs'), { recursive: true });
  return {
    flags: ['--seccomp', '--seccomp-profile', profile],
    logUri: (id) => logUri(logger, path.join(stateDir, 'logs', `${id}.log`), DEFAULT_LOG_MAX_SIZE, DEFAULT_LOG_MAX_FILES),
  };
}
