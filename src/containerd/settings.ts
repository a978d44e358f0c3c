// Settings of the containerd runtime that other parts name too: where images come from
// (the pull flags) and the steps the fault tests' failpoints stop at.

import type { CredentialStore } from '../pull/credentials.js';
import type { PullLimits } from '../pull/limits.js';

/** The steps a failpoint can stop converge at, in the order a create and a removal reach them. */
export const FAILPOINT_STEPS = ['snapshot-prepared', 'container-created', 'task-created', 'task-deleted', 'snapshot-removed'] as const;
export type FailpointStep = (typeof FAILPOINT_STEPS)[number];

export interface RegistrySettings {
  /** "host:port" of registries without TLS (loopback always counts as one). */
  insecure?: string[];
  /** A docker-style config.json; default ~/.docker/config.json. */
  configPath?: string;
  /** Instead of configPath (tests). */
  credentials?: CredentialStore;
  /** Layers fetched at once. */
  concurrency?: number;
  /** Bounds on manifests, configs, layers, bytes, time and free disk (pull/limits.ts). */
  limits?: Partial<PullLimits>;
  /** The path whose filesystem the free-disk check reads; default the state dir. */
  diskPath?: string;
}


/** One image pull that a create or an auto-update made: how long it took, the bytes it fetched. */
export interface PullObservation {
  ms: number;
  bytes: number;
  ok: boolean;
}
