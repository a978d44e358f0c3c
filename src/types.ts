// The few plain types that the parts of converge share: what is desired, what is actual,
// and the Runtime interface that is all the reconciler knows of containerd.

import type { ContainerSpec, PullPolicy } from './spec/types.js';

/** "namespace/name" of a spec. */
export type Key = string;

/** One container as a source declares it. */
export interface DesiredContainer {
  key: Key;
  namespace: string;
  name: string;
  /** The document as the user wrote it (validated; no defaults filled in). */
  spec: ContainerSpec;
  /** sha256 (hex) of the canonical spec; see spec/hash.ts. */
  hash: string;
  /** Where it came from, e.g. "dir:/etc/converge/web.yaml"; becomes the source label. */
  origin: string;
  /** The source revision it was read at (the Git commit), for sources that have revisions. */
  revision?: string;
}

/** Something wrong with the input: never an exception, always data. */
export interface Problem {
  /** The file (or resource, or revision) the problem is in. */
  file: string;
  /** 0-based index of the YAML document in a multi-document file, when known. */
  document?: number;
  /** 1-based line, when known. */
  line?: number;
  /** Field path, e.g. "spec.resources.limits.memory"; "" for the document itself. */
  path: string;
  /** What was expected, e.g. "must be one of Always, OnFailure, Never". */
  message: string;
  /** The key involved, when the document got as far as naming one (e.g. a conflict). */
  key?: Key;
}

/**
 * The full desired state of one source at one moment (level-based, never a delta).
 * `complete` is false when the source could not be read (directory missing, API down):
 * then its specs are the last good ones and nothing it owned may be removed.
 */
export interface Snapshot {
  source: string;
  specs: DesiredContainer[];
  problems: Problem[];
  complete: boolean;
}

export type TaskStatus = 'created' | 'running' | 'stopped' | 'paused' | 'pausing' | 'unknown';

export interface ActualTask {
  pid: number;
  status: TaskStatus;
  /** Set when status is 'stopped'. */
  exitStatus?: number;
  exitedAt?: Date;
}

/** One container in converge's containerd namespace, as containerd reports it. */
export interface ActualContainer {
  /** containerd container ID: "<namespace>.<name>". */
  id: string;
  key: Key;
  /** From the converge.dev/spec-hash label; "" when the label is missing. */
  specHash: string;
  labels: Record<string, string>;
  /** From the converge.dev/restarts label. */
  restarts: number;
  createdAt?: Date;
  /** Absent when the container has no task. */
  task?: ActualTask;
}

/** A task lifecycle event from containerd's event stream. */
export type RuntimeEvent =
  | { type: 'exit'; id: string; pid: number; exitStatus: number; exitedAt?: Date }
  | { type: 'oom'; id: string }
  | { type: 'start'; id: string; pid: number }
  | { type: 'delete'; id: string }
  /** The stream (re)connected: whatever happened while it was down is unknown; resync. */
  | { type: 'connected' };

export interface CreateOptions {
  /** Restart count to record in the label of the new container. */
  restarts: number;
}

/**
 * All the reconciler knows of containerd. Every method has a deadline; removing what is
 * already gone is success. Errors are the typed errors of containerd/errors.ts.
 */
export interface Runtime {
  /** Every container in converge's namespace, with its task state. */
  list(): Promise<ActualContainer[]>;
  /** One container by containerd ID; undefined when it does not exist. */
  get(id: string): Promise<ActualContainer | undefined>;
  /**
   * Does everything create() would that can fail on the spec's account (image config, user,
   * runtime spec) and creates nothing, so a recreate can refuse a spec before it stops the
   * running container.
   */
  check?(desired: DesiredContainer): Promise<void>;
  /** Creates snapshot + container (no task). AlreadyExists when the ID is taken. */
  create(desired: DesiredContainer, options: CreateOptions): Promise<void>;
  /** Creates and starts the task of an existing container; deletes a stopped task first. */
  start(id: string): Promise<{ pid: number }>;
  /** Stops the task: signal, wait up to graceMs, then SIGKILL; deletes the task. */
  stop(id: string, signal: string, graceMs: number): Promise<void>;
  /** Deletes a stopped task (keeps the container); returns its exit status if there was one. */
  deleteTask(id: string): Promise<{ exitStatus: number } | undefined>;
  /** Stops and deletes task, container, snapshot and (unless keepLog) its log. Nothing of it is left. */
  remove(id: string, signal: string, graceMs: number, options?: { keepLog?: boolean }): Promise<void>;
  /** Records the restart count on the container's label. */
  setRestarts(id: string, restarts: number): Promise<void>;
  /** Task events for this namespace; emits 'connected' on every (re)connect. */
  events(signal: AbortSignal): AsyncIterable<RuntimeEvent>;
  /**
   * Makes sure image `ref` is there as `policy` says: Never checks, IfNotPresent pulls when
   * missing, Always pulls (cheap when nothing changed). Absent: images must be there already.
   */
  ensureImage?(ref: string, policy: PullPolicy, onProgress?: (p: PullProgress) => void): Promise<void>;
}

/** How far a pull is: bytes of the image's blobs fetched (or found) and in all (0: not known yet). */
export interface PullProgress {
  done: number;
  total: number;
}

export const LABEL_MANAGED = 'converge.dev/managed';
export const LABEL_SPEC_HASH = 'converge.dev/spec-hash';
export const LABEL_SOURCE = 'converge.dev/source';
export const LABEL_RESTARTS = 'converge.dev/restarts';
/** The spec's own namespace/name, so the key survives without parsing the ID. */
export const LABEL_KEY = 'converge.dev/key';
/** How the spec said to stop the container, kept for when the spec is gone (removal). */
export const LABEL_STOP_SIGNAL = 'converge.dev/stop-signal';
/** terminationGracePeriodSeconds of the spec, for the same reason. */
export const LABEL_STOP_GRACE = 'converge.dev/stop-grace-seconds';

export function keyOf(namespace: string, name: string): Key {
  return `${namespace}/${name}`;
}

/** containerd container ID for a key: "<namespace>.<name>" (both DNS-1123 labels). */
export function idOf(key: Key): string {
  return key.replace('/', '.');
}

/** The key for a containerd container ID; the namespace holds no dot, so split at the first. */
export function keyOfId(id: string): Key {
  const dot = id.indexOf('.');
  return dot < 0 ? id : `${id.slice(0, dot)}/${id.slice(dot + 1)}`;
}
