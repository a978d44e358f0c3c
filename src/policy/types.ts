// The policy's shapes: levels as Kubernetes' Pod Security Standards name them, and the
// rules of a policy file (schemas/policy.schema.json is their single source of truth).

export type Level = 'privileged' | 'baseline' | 'restricted';

export const LEVELS: readonly Level[] = ['privileged', 'baseline', 'restricted'];

export interface BindAllowance {
  /** A host path; bind sources under it (after resolution) are allowed. */
  pathPrefix: string;
  /** Default false: only readOnly: true mounts of it. */
  readWrite?: boolean;
}

/** Exceptions to a level. */
export interface Allow {
  hostNetwork?: boolean;
  bindMounts?: BindAllowance[];
  /** Added capabilities allowed beyond the level's (any spelling, or ALL). */
  capabilities?: string[];
}

export interface Rule {
  /** Globs over origins (see glob.ts). */
  sources: string[];
  level: Level;
  allow?: Allow;
}

export interface PolicyDocument {
  apiVersion: 'converge.dev/v1alpha1';
  kind: 'Policy';
  rules: Rule[];
}

/** A policy in force: its rules, and the file they came from (for the problems it causes). */
export interface Policy {
  rules: Rule[];
  /** Absent: the built-in defaults alone. */
  file?: string;
}

/** The defaults, per kind of source: a directory takes root to write to already (like kubelet's static pods). */
export const SOURCE_DEFAULTS: Record<string, Level> = { dir: 'privileged', git: 'baseline', kube: 'baseline' };

/** What the policy says of one spec: its level, the exceptions, and which rule said so. */
export interface Decision {
  level: Level;
  allow: Allow;
  /** e.g. "rule 2 of /etc/converge/policy.yaml (sources git:https://x/**; level baseline)". */
  rule: string;
}

/** One thing a spec asks for that its level does not allow. */
export interface Denial {
  /** Field path, e.g. "spec.mounts[0].source". */
  path: string;
  message: string;
}
