// The source flags `run` and `plan` share (--dir, --git..., --kube..., --policy,
// --allow-empty) and the sources they make: one construction for both commands, so plan
// reads exactly what run would.

import path from 'node:path';
import type { Logger } from 'pino';
import type { Source } from '../desired.js';
import { createDirectorySource } from '../sources/directory.js';
import { GIT_FLAGS, type GitFlagValues, type GitSetup, gitFromFlags } from './git-flags.js';
import { KUBE_FLAGS, type KubeFlagValues, type KubeSetup, kubeFromFlags } from './kube-flags.js';
import { POLICY_FLAGS } from './policy-flags.js';
import { UsageError, asUsage, toUsage } from './usage.js';

export const SOURCE_FLAGS = {
  dir: { type: 'string', multiple: true, default: [] as string[] },
  ...GIT_FLAGS,
  ...KUBE_FLAGS,
  ...POLICY_FLAGS,
} as const;

export type SourceFlagValues = GitFlagValues & KubeFlagValues & { dir: string[] };

export interface SourceSetup {
  /** The directories in the order given, then Git, then Kubernetes. */
  sources: Source[];
  git?: GitSetup;
  kube?: KubeSetup;
}

/** The directory source of one --dir. */
export function dirSource(dir: string, log: Logger): Source {
  return createDirectorySource({ dir: path.resolve(dir), log });
}

/** The sources of the flags, not started. Throws a UsageError on a bad or missing flag. */
export async function sourcesFromFlags(values: SourceFlagValues, deps: { stateDir: string; log: Logger }): Promise<SourceSetup> {
  if (values.dir.length === 0 && !values.git && !values.kube) throw new UsageError('at least one --dir, a --git or --kube is needed');
  // Flags first, then the (slow) Kubernetes client: a bad flag fails at once.
  const git = asUsage(() => gitFromFlags(values, deps));
  const kube = await kubeFromFlags(values, { log: deps.log }).catch((err: unknown) => {
    throw toUsage(err);
  });
  const dirs = [...new Set(values.dir.map((d) => path.resolve(d)))];
  const sources = dirs.map((dir) => dirSource(dir, deps.log));
  if (git) sources.push(git.source);
  if (kube) sources.push(kube.source);
  return { sources, git, kube };
}
